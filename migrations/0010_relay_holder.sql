-- Who relays Discord's Gateway, mirrored from the Dispatcher's relay lease (which stays the
-- truth): /loop status reads it in its one D1 round trip instead of a Dispatcher call beside it
-- (issue 15). One row while a runner holds the lease, none otherwise; written only when the
-- holder changes (grant, release, lapse), never on a renewal.
CREATE TABLE `relay_holder` (
	`id` integer PRIMARY KEY NOT NULL,
	`runner_id` text NOT NULL,
	`runner_name` text,
	`instance` text NOT NULL,
	`acquired_at` integer NOT NULL
);
