CREATE TABLE `budgets` (
	`scope` text PRIMARY KEY NOT NULL,
	`daily_usd` real,
	`monthly_usd` real,
	`updated_at` integer DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `budget_warnings` (
	`scope` text NOT NULL,
	`period` text NOT NULL,
	`channel_id` text NOT NULL,
	`spent_usd` real NOT NULL,
	`cap_usd` real NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `budget_warnings_once` ON `budget_warnings` (`channel_id`,`scope`,`period`);--> statement-breakpoint
ALTER TABLE `channels` ADD `max_turns` integer;--> statement-breakpoint
ALTER TABLE `channels` ADD `max_budget_usd` real;--> statement-breakpoint
ALTER TABLE `channels` ADD `timeout_sec` integer;--> statement-breakpoint
ALTER TABLE `tasks` ADD `max_turns` integer;--> statement-breakpoint
ALTER TABLE `tasks` ADD `max_budget_usd` real;--> statement-breakpoint
ALTER TABLE `tasks` ADD `timeout_sec` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `cache_read_tokens` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `cache_write_tokens` integer;--> statement-breakpoint
CREATE INDEX `runs_finished` ON `runs` (`finished_at`,`cost_usd`);--> statement-breakpoint
CREATE INDEX `runs_channel_finished` ON `runs` (`channel_id`,`finished_at`,`cost_usd`);
