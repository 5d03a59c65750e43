-- amtkit device store, schema 3 (PostgreSQL): the last version of each
-- deleted record, so that a record created again goes on from it and a
-- writer that still holds an old version loses its compare-and-swap
-- (versions never repeat for a device).
CREATE TABLE amtkit_device_tombstones (
    uuid    TEXT COLLATE "C" PRIMARY KEY,
    version BIGINT NOT NULL
);
