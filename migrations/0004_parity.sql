ALTER TABLE `tasks` ADD `auto_delete_sec` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `tasks` ADD `worktree` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `tasks` ADD `origin_branch` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `update_before_run` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `templates` ADD `auto_delete_sec` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE TABLE `worktree_removals` (
	`task_id` integer NOT NULL,
	`runner_id` text NOT NULL,
	`dir_path` text NOT NULL,
	`created_at` integer DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)) NOT NULL,
	PRIMARY KEY(`task_id`, `runner_id`)
);
--> statement-breakpoint
CREATE INDEX `worktree_removals_runner` ON `worktree_removals` (`runner_id`);--> statement-breakpoint
CREATE TABLE `thread_deletions` (
	`thread_id` text PRIMARY KEY NOT NULL,
	`run_id` integer,
	`delete_at` integer NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`created_at` integer DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `thread_deletions_due` ON `thread_deletions` (`delete_at`);
