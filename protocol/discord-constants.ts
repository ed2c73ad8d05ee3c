/**
 * The numeric values of the Discord API enums Loop uses, checked against discord-api-types
 * at compile time. Runtime code imports these instead of the enums themselves: the
 * package ships enums only as CommonJS behind an exports map with just "import" and
 * "require", which the workerd test pool cannot load (wrangler's bundler can), and a
 * handful of numbers does not justify the dependency at runtime.
 */
import type {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  ButtonStyle,
  ChannelType,
  ComponentType,
  InteractionContextType,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
} from "discord-api-types/v10";

export const OptionType = {
  Subcommand: 1,
  SubcommandGroup: 2,
  String: 3,
  Integer: 4,
  Boolean: 5,
  User: 6,
  Number: 10,
} as const satisfies Record<string, ApplicationCommandOptionType>;

export const CommandType = { ChatInput: 1 } as const satisfies Record<string, ApplicationCommandType>;
export const IntegrationType = { GuildInstall: 0 } as const satisfies Record<string, ApplicationIntegrationType>;
export const ContextType = { Guild: 0, BotDm: 1 } as const satisfies Record<string, InteractionContextType>;

/** Interaction types (named Kind so they never shadow the payload schema or the global Response). */
export const InteractionKind = {
  Ping: 1,
  ApplicationCommand: 2,
  MessageComponent: 3,
  ApplicationCommandAutocomplete: 4,
} as const satisfies Record<string, InteractionType>;

export const ResponseKind = {
  Pong: 1,
  ChannelMessageWithSource: 4,
  DeferredChannelMessageWithSource: 5,
  ApplicationCommandAutocompleteResult: 8,
} as const satisfies Record<string, InteractionResponseType>;

export const ChannelKind = {
  GuildText: 0,
  AnnouncementThread: 10,
  PublicThread: 11,
  PrivateThread: 12,
} as const satisfies Record<string, ChannelType>;

export const Component = { ActionRow: 1, Button: 2 } as const satisfies Record<string, ComponentType>;
export const Button = { Secondary: 2, Success: 3, Danger: 4 } as const satisfies Record<string, ButtonStyle>;
export const Flags = { Ephemeral: 64 } as const satisfies Record<string, MessageFlags>;

/** Discord's limit for one message's content, in characters. */
export const MESSAGE_CONTENT_LIMIT = 2000;

/** PermissionFlagsBits.Administrator (1 << 3). */
export const ADMINISTRATOR = 8n;
