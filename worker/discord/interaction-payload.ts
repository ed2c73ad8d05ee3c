/**
 * The parts of an interaction payload Loop reads, checked with zod after the signature
 * (Discord sends much more; unknown fields pass through untouched), and the flattening of
 * /loop's nested subcommand options into a path and a name → value map.
 * https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object
 */
import { z } from "zod";
import { OptionType } from "../../protocol/discord-constants.ts";
import { SUBCOMMANDS, type Subcommand } from "../../protocol/discord-commands.ts";

const Snowflake = z.string().regex(/^\d{1,20}$/);
const User = z.looseObject({ id: Snowflake, username: z.string().optional() });

interface OptionData {
  name: string;
  type: number;
  value?: string | number | boolean | undefined;
  options?: OptionData[] | undefined;
  focused?: boolean | undefined;
}
const CommandOption: z.ZodType<OptionData> = z.lazy(() =>
  z.looseObject({
    name: z.string(),
    type: z.number().int(),
    value: z.union([z.string(), z.number(), z.boolean()]).optional(),
    options: z.array(CommandOption).optional(),
    focused: z.boolean().optional(),
  }),
);

export const Interaction = z.looseObject({
  id: Snowflake,
  application_id: Snowflake,
  type: z.number().int(),
  token: z.string().min(1),
  guild_id: Snowflake.optional(),
  channel_id: Snowflake.optional(),
  channel: z.looseObject({ id: Snowflake, type: z.number().int(), name: z.string().nullish(), parent_id: Snowflake.nullish() }).optional(),
  member: z.looseObject({ user: User, permissions: z.string().optional() }).optional(),
  user: User.optional(),
  data: z
    .looseObject({
      name: z.string().optional(),
      options: z.array(CommandOption).optional(),
      custom_id: z.string().optional(),
      component_type: z.number().int().optional(),
    })
    .optional(),
  message: z.looseObject({ id: Snowflake }).optional(),
});
export type Interaction = z.infer<typeof Interaction>;

/** Discord's epoch (2015-01-01) and the snowflake layout: milliseconds in the top 42 bits. */
const DISCORD_EPOCH_MS = 1_420_070_400_000n;
export function snowflakeTime(id: string): number {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH_MS);
}

export interface CommandCall {
  path: Subcommand;
  options: Record<string, string | number | boolean>;
  /** For autocomplete: the option being typed. */
  focused: { name: string; value: string } | null;
}

/** "/loop template add name:x" → { path: "template add", options: { name: "x" } }; null for a path Loop does not know. */
export function readCommand(data: Interaction["data"]): CommandCall | null {
  let options = data?.options ?? [];
  const path: string[] = [];
  for (let depth = 0; depth < 2; depth++) {
    const sub = options.find((o) => o.type === OptionType.Subcommand || o.type === OptionType.SubcommandGroup);
    if (!sub) break;
    path.push(sub.name);
    options = sub.options ?? [];
  }
  const name = path.join(" ");
  if (!(SUBCOMMANDS as readonly string[]).includes(name)) return null;
  const values: CommandCall["options"] = {};
  let focused: CommandCall["focused"] = null;
  for (const o of options) {
    if (o.value === undefined) continue;
    values[o.name] = o.value;
    if (o.focused) focused = { name: o.name, value: String(o.value) };
  }
  return { path: name as Subcommand, options: values, focused };
}
