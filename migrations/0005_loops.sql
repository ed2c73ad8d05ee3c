CREATE TABLE `loops` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`channel_id` text NOT NULL,
	`status` text DEFAULT 'running' NOT NULL,
	`prompt` text NOT NULL,
	`system_prompt` text,
	`max_iterations` integer DEFAULT 0 NOT NULL,
	`every_ms` integer DEFAULT 0 NOT NULL,
	`fresh_session` integer DEFAULT true NOT NULL,
	`until_text` text,
	`monitor_command` text,
	`monitor_every_ms` integer DEFAULT 0 NOT NULL,
	`iteration` integer DEFAULT 0 NOT NULL,
	`failures_in_row` integer DEFAULT 0 NOT NULL,
	`session_id` text,
	`next_at` integer,
	`done_run_id` integer,
	`end_reason` text,
	`summary` text,
	`requested_by` text,
	`created_at` integer DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)) NOT NULL,
	`ended_at` integer,
	FOREIGN KEY (`channel_id`) REFERENCES `channels`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `loops_channel` ON `loops` (`channel_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `loops_channel_running` ON `loops` (`channel_id`) WHERE "loops"."status" = 'running';--> statement-breakpoint
CREATE TABLE `channel_memory` (
	`channel_id` text PRIMARY KEY NOT NULL,
	`persistent` text DEFAULT '' NOT NULL,
	`working` text DEFAULT '' NOT NULL,
	`updated_at` integer DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)) NOT NULL,
	FOREIGN KEY (`channel_id`) REFERENCES `channels`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `runs` ADD `loop_id` integer REFERENCES loops(id) ON DELETE set null;--> statement-breakpoint
ALTER TABLE `runs` ADD `iteration` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `monitor_output` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `monitor_exit_code` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `monitor_at` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `runs_loop_iteration` ON `runs` (`loop_id`,`iteration`);
