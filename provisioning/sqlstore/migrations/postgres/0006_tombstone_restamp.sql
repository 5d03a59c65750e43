-- amtkit device store, schema 6 (PostgreSQL): a provisioner of schema 4 still
-- running in a rolling upgrade deletes a device again with an upsert that
-- sets the version and leaves the time of the earlier delete, which the
-- retention would then take as the time of this one. Such an update gets the
-- time it happens.
CREATE FUNCTION amtkit_tombstone_restamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.deleted = OLD.deleted THEN NEW.deleted := (extract(epoch FROM now()) * 1000000000)::bigint; END IF; RETURN NEW; END $$;
CREATE TRIGGER amtkit_tombstone_restamp BEFORE UPDATE OF version ON amtkit_device_tombstones FOR EACH ROW EXECUTE FUNCTION amtkit_tombstone_restamp();
