-- A Discord thread is a conversation inside its channel: its runs spend the channel's budget.
-- The rollup's channel scope becomes the parent channel for a thread's runs (channels.parent_id),
-- so the start check of a thread, and of its channel, sees the channel and all its threads.
DROP TRIGGER `runs_spend_insert`;
--> statement-breakpoint
DROP TRIGGER `runs_spend_update_old`;
--> statement-breakpoint
DROP TRIGGER `runs_spend_update_new`;
--> statement-breakpoint
DROP TRIGGER `runs_spend_delete`;
--> statement-breakpoint
DELETE FROM `spend_days` WHERE `scope` <> '*';
--> statement-breakpoint
INSERT INTO `spend_days` (`scope`, `day`, `cost_usd`)
SELECT coalesce(`c`.`parent_id`, `r`.`channel_id`), `r`.`finished_at` - `r`.`finished_at` % 86400000, total(`r`.`cost_usd`)
FROM `runs` `r` LEFT JOIN `channels` `c` ON `c`.`id` = `r`.`channel_id` WHERE `r`.`finished_at` IS NOT NULL GROUP BY 1, 2;
--> statement-breakpoint
CREATE TRIGGER `runs_spend_insert` AFTER INSERT ON `runs` WHEN NEW.`finished_at` IS NOT NULL BEGIN
	INSERT INTO `spend_days` (`scope`, `day`, `cost_usd`) VALUES (coalesce((SELECT `parent_id` FROM `channels` WHERE `id` = NEW.`channel_id`), NEW.`channel_id`), NEW.`finished_at` - NEW.`finished_at` % 86400000, coalesce(NEW.`cost_usd`, 0)), ('*', NEW.`finished_at` - NEW.`finished_at` % 86400000, coalesce(NEW.`cost_usd`, 0))
		ON CONFLICT (`scope`, `day`) DO UPDATE SET `cost_usd` = `cost_usd` + excluded.`cost_usd`;
END;
--> statement-breakpoint
CREATE TRIGGER `runs_spend_update_old` AFTER UPDATE OF `finished_at`, `cost_usd`, `channel_id` ON `runs` WHEN OLD.`finished_at` IS NOT NULL BEGIN
	UPDATE `spend_days` SET `cost_usd` = `cost_usd` - coalesce(OLD.`cost_usd`, 0)
		WHERE `day` = OLD.`finished_at` - OLD.`finished_at` % 86400000 AND `scope` IN (coalesce((SELECT `parent_id` FROM `channels` WHERE `id` = OLD.`channel_id`), OLD.`channel_id`), '*');
END;
--> statement-breakpoint
CREATE TRIGGER `runs_spend_update_new` AFTER UPDATE OF `finished_at`, `cost_usd`, `channel_id` ON `runs` WHEN NEW.`finished_at` IS NOT NULL BEGIN
	INSERT INTO `spend_days` (`scope`, `day`, `cost_usd`) VALUES (coalesce((SELECT `parent_id` FROM `channels` WHERE `id` = NEW.`channel_id`), NEW.`channel_id`), NEW.`finished_at` - NEW.`finished_at` % 86400000, coalesce(NEW.`cost_usd`, 0)), ('*', NEW.`finished_at` - NEW.`finished_at` % 86400000, coalesce(NEW.`cost_usd`, 0))
		ON CONFLICT (`scope`, `day`) DO UPDATE SET `cost_usd` = `cost_usd` + excluded.`cost_usd`;
END;
--> statement-breakpoint
CREATE TRIGGER `runs_spend_delete` AFTER DELETE ON `runs` WHEN OLD.`finished_at` IS NOT NULL BEGIN
	UPDATE `spend_days` SET `cost_usd` = `cost_usd` - coalesce(OLD.`cost_usd`, 0)
		WHERE `day` = OLD.`finished_at` - OLD.`finished_at` % 86400000 AND `scope` IN (coalesce((SELECT `parent_id` FROM `channels` WHERE `id` = OLD.`channel_id`), OLD.`channel_id`), '*');
END;
