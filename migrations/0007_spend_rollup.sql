CREATE TABLE `spend_days` (
	`scope` text NOT NULL,
	`day` integer NOT NULL,
	`cost_usd` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`scope`, `day`)
);
--> statement-breakpoint
INSERT INTO `spend_days` (`scope`, `day`, `cost_usd`)
SELECT `channel_id`, `finished_at` - `finished_at` % 86400000, total(`cost_usd`) FROM `runs` WHERE `finished_at` IS NOT NULL GROUP BY 1, 2;
--> statement-breakpoint
INSERT INTO `spend_days` (`scope`, `day`, `cost_usd`)
SELECT '*', `finished_at` - `finished_at` % 86400000, total(`cost_usd`) FROM `runs` WHERE `finished_at` IS NOT NULL GROUP BY 2;
--> statement-breakpoint
CREATE TRIGGER `runs_spend_insert` AFTER INSERT ON `runs` WHEN NEW.`finished_at` IS NOT NULL BEGIN
	INSERT INTO `spend_days` (`scope`, `day`, `cost_usd`) VALUES (NEW.`channel_id`, NEW.`finished_at` - NEW.`finished_at` % 86400000, coalesce(NEW.`cost_usd`, 0)), ('*', NEW.`finished_at` - NEW.`finished_at` % 86400000, coalesce(NEW.`cost_usd`, 0))
		ON CONFLICT (`scope`, `day`) DO UPDATE SET `cost_usd` = `cost_usd` + excluded.`cost_usd`;
END;
--> statement-breakpoint
CREATE TRIGGER `runs_spend_update_old` AFTER UPDATE OF `finished_at`, `cost_usd`, `channel_id` ON `runs` WHEN OLD.`finished_at` IS NOT NULL BEGIN
	UPDATE `spend_days` SET `cost_usd` = `cost_usd` - coalesce(OLD.`cost_usd`, 0)
		WHERE `day` = OLD.`finished_at` - OLD.`finished_at` % 86400000 AND `scope` IN (OLD.`channel_id`, '*');
END;
--> statement-breakpoint
CREATE TRIGGER `runs_spend_update_new` AFTER UPDATE OF `finished_at`, `cost_usd`, `channel_id` ON `runs` WHEN NEW.`finished_at` IS NOT NULL BEGIN
	INSERT INTO `spend_days` (`scope`, `day`, `cost_usd`) VALUES (NEW.`channel_id`, NEW.`finished_at` - NEW.`finished_at` % 86400000, coalesce(NEW.`cost_usd`, 0)), ('*', NEW.`finished_at` - NEW.`finished_at` % 86400000, coalesce(NEW.`cost_usd`, 0))
		ON CONFLICT (`scope`, `day`) DO UPDATE SET `cost_usd` = `cost_usd` + excluded.`cost_usd`;
END;
--> statement-breakpoint
CREATE TRIGGER `runs_spend_delete` AFTER DELETE ON `runs` WHEN OLD.`finished_at` IS NOT NULL BEGIN
	UPDATE `spend_days` SET `cost_usd` = `cost_usd` - coalesce(OLD.`cost_usd`, 0)
		WHERE `day` = OLD.`finished_at` - OLD.`finished_at` % 86400000 AND `scope` IN (OLD.`channel_id`, '*');
END;
