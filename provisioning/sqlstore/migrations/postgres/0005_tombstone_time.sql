-- amtkit device store, schema 5 (PostgreSQL): when each tombstone was written,
-- so that tombstones older than Options.TombstoneRetention are removed (one
-- row per device ever deleted grew without bound). The default is evaluated
-- once for the rows already there (the migration's time: each is kept a full
-- retention from now, and the table is not rewritten) and at each insert for
-- rows a provisioner of an older schema still writes.
ALTER TABLE amtkit_device_tombstones ADD COLUMN deleted BIGINT NOT NULL DEFAULT ((extract(epoch FROM now()) * 1000000000)::bigint); -- Unix nanoseconds
CREATE INDEX amtkit_device_tombstones_deleted ON amtkit_device_tombstones (deleted);
