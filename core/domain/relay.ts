/**
 * Who relays Discord's Gateway now, as people read it. The truth is the relay lease the
 * Dispatcher holds (durable-objects/relay-lease.ts); D1's `relay_holder` mirrors it whenever
 * the holder changes (durable-objects/relay-mirror.ts), so /loop status reads it in the same
 * round trip as the channel.
 */
import { eq } from "drizzle-orm";
import { dispatcherOf } from "../../durable-objects/contracts.ts";
import type { RelayHolder } from "../../protocol/relay.ts";
import type { Db } from "../db/client.ts";
import { relayHolder as relayHolderTable, type RelayHolderRow } from "../db/schema.ts";
import type { Env } from "../env.ts";
import { iso } from "./views.ts";

export interface RelayStatus {
  runner_id: string;
  runner_name: string | null;
  since: string;
  expires_at: string;
}

/** The holder as the Dispatcher knows it, with its lease's expiry (health). */
export async function relayHolder(env: Env): Promise<RelayStatus | null> {
  const h = await dispatcherOf(env).relayHolder();
  return h && { runner_id: h.runner_id, runner_name: h.runner_name, since: iso(h.acquired_at)!, expires_at: iso(h.expires_at)! };
}

/** The one row `relay_holder` keeps. */
const ROW_ID = 1;

/** The mirrored holder (no expiry: the row is gone once the lease lapses). */
export async function mirroredRelayHolder(db: Db): Promise<RelayHolderRow | null> {
  return (await db.query.relayHolder.findFirst({ where: eq(relayHolderTable.id, ROW_ID) })) ?? null;
}

/** Sets the mirror to `holder` (null: nobody holds the lease). */
export async function mirrorRelayHolder(db: Db, holder: RelayHolder | null): Promise<void> {
  if (!holder) {
    await db.delete(relayHolderTable);
    return;
  }
  const row = { runnerId: holder.runner_id, runnerName: holder.runner_name, instance: holder.instance, acquiredAt: holder.acquired_at };
  await db
    .insert(relayHolderTable)
    .values({ id: ROW_ID, ...row })
    .onConflictDoUpdate({ target: relayHolderTable.id, set: row });
}
