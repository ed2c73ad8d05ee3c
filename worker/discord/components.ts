/** Message components: the Stop button on a run's live message ("loop:stop:<run id>"). */
import type { APIInteractionResponse } from "discord-api-types/v10";
import { STOP_BUTTON_PREFIX } from "../../protocol/discord-commands.ts";
import type { Access } from "./access.ts";
import { stopRun } from "./commands/runs.ts";
import { ephemeral } from "./reply.ts";

export async function handleComponent(customId: string, access: Access): Promise<APIInteractionResponse> {
  if (customId.startsWith(STOP_BUTTON_PREFIX)) {
    const id = customId.slice(STOP_BUTTON_PREFIX.length);
    if (/^\d{1,15}$/.test(id)) return stopRun(access, Number(id));
  }
  return ephemeral("This button is not one Loop knows (is the message from an older version?).");
}
