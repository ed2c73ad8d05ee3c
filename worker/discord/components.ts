/** Message components: the Stop buttons on a run's live message ("loop:stop:<run id>") and on a loop's ("loop:stoploop:<loop id>"). */
import type { APIInteractionResponse } from "discord-api-types/v10";
import { LOOP_STOP_BUTTON_PREFIX, STOP_BUTTON_PREFIX } from "../../protocol/discord-commands.ts";
import { stopLoopAs } from "./commands/loops.ts";
import type { Access } from "./access.ts";
import { stopRun } from "./commands/runs.ts";
import { ephemeral } from "./reply.ts";

export async function handleComponent(customId: string, access: Access): Promise<APIInteractionResponse> {
  if (customId.startsWith(LOOP_STOP_BUTTON_PREFIX)) {
    const id = customId.slice(LOOP_STOP_BUTTON_PREFIX.length);
    if (/^\d{1,15}$/.test(id)) return stopLoopAs(access, Number(id));
  }
  if (customId.startsWith(STOP_BUTTON_PREFIX)) {
    const id = customId.slice(STOP_BUTTON_PREFIX.length);
    if (/^\d{1,15}$/.test(id)) return stopRun(access, Number(id));
  }
  return ephemeral("This button is not one Loop knows (is the message from an older version?).");
}
