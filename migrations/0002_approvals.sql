ALTER TABLE `channels` ADD `permission_policy` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `permission_policy` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `deferrals` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `pending_approval` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `approval_expires_at` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `approval_decision` text;--> statement-breakpoint
CREATE INDEX `runs_approval_expires` ON `runs` (`approval_expires_at`);
