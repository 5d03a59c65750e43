-- amtkit device store, schema 5 (PostgreSQL): when each tombstone was written,
-- so that tombstones older than Options.TombstoneRetention are removed (one
-- row per device ever deleted grew without bound). Tombstones written before
-- get the migration's time: each is kept a full retention from now.
ALTER TABLE amtkit_device_tombstones ADD COLUMN deleted BIGINT NOT NULL DEFAULT 0; -- Unix nanoseconds
UPDATE amtkit_device_tombstones SET deleted = (extract(epoch FROM now()) * 1000000000)::bigint;
CREATE INDEX amtkit_device_tombstones_deleted ON amtkit_device_tombstones (deleted);
