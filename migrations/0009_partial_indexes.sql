-- D1 bills every index entry a statement writes as a row written (issue 15). Most runs never
-- set the columns most of these indexes are for, and the queries that use them only ever ask
-- for rows that have them: each index now holds only those rows. docs/storage.md lists every
-- index with the queries it serves; test/worker/indexes.test.ts checks the plans.
DROP INDEX `runs_task_occurrence`;--> statement-breakpoint
CREATE UNIQUE INDEX `runs_task_occurrence` ON `runs` (`task_id`,`scheduled_for`) WHERE "runs"."task_id" IS NOT NULL;--> statement-breakpoint
-- Most runs end succeeded, and a listing of those finds them at once walking ids backwards; the
-- index keeps the rest (queued, running, waiting, failed, ...), with the channel for the next
-- queued run of a channel. A run leaves it when it succeeds.
DROP INDEX `runs_status`;--> statement-breakpoint
CREATE INDEX `runs_status` ON `runs` (`status`,`channel_id`) WHERE "runs"."status" <> 'succeeded';--> statement-breakpoint
-- Only the sweep's rescues are ever counted (health).
DROP INDEX `runs_fired_by`;--> statement-breakpoint
CREATE INDEX `runs_rescued` ON `runs` (`created_at`) WHERE "runs"."fired_by" = 'sweep';--> statement-breakpoint
DROP INDEX `runs_loop_iteration`;--> statement-breakpoint
CREATE UNIQUE INDEX `runs_loop_iteration` ON `runs` (`loop_id`,`iteration`) WHERE "runs"."loop_id" IS NOT NULL;--> statement-breakpoint
DROP INDEX `runs_finished`;--> statement-breakpoint
CREATE INDEX `runs_finished` ON `runs` (`finished_at`,`cost_usd`) WHERE "runs"."finished_at" IS NOT NULL;--> statement-breakpoint
DROP INDEX `runs_channel_finished`;--> statement-breakpoint
CREATE INDEX `runs_channel_finished` ON `runs` (`channel_id`,`finished_at`,`cost_usd`) WHERE "runs"."finished_at" IS NOT NULL;--> statement-breakpoint
DROP INDEX `runs_discord_message`;--> statement-breakpoint
CREATE UNIQUE INDEX `runs_discord_message` ON `runs` (`discord_message_id`) WHERE "runs"."discord_message_id" IS NOT NULL;--> statement-breakpoint
DROP INDEX `runs_approval_expires`;--> statement-breakpoint
CREATE INDEX `runs_approval_expires` ON `runs` (`approval_expires_at`) WHERE "runs"."approval_expires_at" IS NOT NULL;--> statement-breakpoint
-- A thread's or a DM's channel row has no directory of its own.
DROP INDEX `channels_dir_path`;--> statement-breakpoint
CREATE UNIQUE INDEX `channels_dir_path` ON `channels` (`dir_path`) WHERE "channels"."dir_path" IS NOT NULL;
