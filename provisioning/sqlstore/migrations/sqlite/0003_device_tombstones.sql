-- amtkit device store, schema 3 (SQLite): the last version of each deleted
-- record, so that a record created again goes on from it and a writer that
-- still holds an old version loses its compare-and-swap (versions never
-- repeat for a device).
CREATE TABLE amtkit_device_tombstones (
    uuid    TEXT    PRIMARY KEY,
    version INTEGER NOT NULL
);
