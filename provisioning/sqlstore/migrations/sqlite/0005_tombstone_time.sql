-- amtkit device store, schema 5 (SQLite): when each tombstone was written, so
-- that tombstones older than Options.TombstoneRetention are removed (one row
-- per device ever deleted grew without bound). Tombstones written before get
-- the migration's time: each is kept a full retention from now. SQLite allows
-- no time as a column's default: a row a provisioner of an older schema still
-- writes has 0, which is never purged and gets the time of the next Delete.
ALTER TABLE amtkit_device_tombstones ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0; -- Unix nanoseconds
UPDATE amtkit_device_tombstones SET deleted = CAST(strftime('%s', 'now') AS INTEGER) * 1000000000;
CREATE INDEX amtkit_device_tombstones_deleted ON amtkit_device_tombstones (deleted);
