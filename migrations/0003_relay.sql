ALTER TABLE `runs` ADD `discord_message_id` text;--> statement-breakpoint
CREATE UNIQUE INDEX `runs_discord_message` ON `runs` (`discord_message_id`);--> statement-breakpoint
ALTER TABLE `channels` ADD `origin_run_id` integer;--> statement-breakpoint
CREATE TABLE `discord_notices` (
	`user_id` text NOT NULL,
	`channel_id` text NOT NULL,
	`at` integer NOT NULL,
	PRIMARY KEY(`user_id`, `channel_id`)
);
--> statement-breakpoint
ALTER TABLE `channels` ADD `dm_user_id` text;
