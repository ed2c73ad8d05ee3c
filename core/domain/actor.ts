/**
 * Who is asking, and the one rule for what they may see: admins see every channel, a
 * channel-scoped token only its channels, a run-scoped token only its run's channel.
 * Out-of-scope records answer 404, exactly like records that do not exist, so a scoped
 * token cannot probe for other channels.
 */
import { forbidden, notFound } from "../errors.ts";

export type Actor =
  | { kind: "admin"; tokenId: string | null }
  | { kind: "channels"; tokenId: string; channelIds: string[] }
  | { kind: "run"; runId: number; channelId: string };

export function canSeeChannel(actor: Actor, channelId: string): boolean {
  switch (actor.kind) {
    case "admin":
      return true;
    case "channels":
      return actor.channelIds.includes(channelId);
    case "run":
      return actor.channelId === channelId;
  }
}

export function assertChannelVisible(actor: Actor, channelId: string, what = "channel", id: string | number = channelId): void {
  if (!canSeeChannel(actor, channelId)) throw notFound(what, id);
}

/** The channel ids a listing is limited to, or null for all of them. */
export function visibleChannels(actor: Actor): string[] | null {
  switch (actor.kind) {
    case "admin":
      return null;
    case "channels":
      return actor.channelIds;
    case "run":
      return [actor.channelId];
  }
}

export function assertAdmin(actor: Actor, action: string): void {
  if (actor.kind !== "admin") throw forbidden(`Only an admin token can ${action}.`);
}

/** Who an action is attributed to, as runs.requested_by records it. */
export function actorLabel(actor: Actor): string | null {
  switch (actor.kind) {
    case "admin":
      return actor.tokenId ?? "admin";
    case "channels":
      return actor.tokenId;
    case "run":
      return `run:${actor.runId}`;
  }
}
