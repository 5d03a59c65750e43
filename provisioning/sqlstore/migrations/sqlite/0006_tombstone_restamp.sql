-- amtkit device store, schema 6 (SQLite): a provisioner of schema 4 still
-- running in a rolling upgrade deletes a device again with an upsert that
-- sets the version and leaves the time of the earlier delete, which the
-- retention would then take as the time of this one. Such an update marks
-- the time unknown (0: never purged; the next Delete stamps it).
CREATE TRIGGER amtkit_tombstone_restamp AFTER UPDATE OF version ON amtkit_device_tombstones WHEN NEW.deleted = OLD.deleted BEGIN UPDATE amtkit_device_tombstones SET deleted = 0 WHERE uuid = NEW.uuid; END;
