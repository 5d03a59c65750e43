-- amtkit device store, schema 1 (SQLite). One row per device: the record
-- encoded by provisioning.RecordCodec (every secret sealed), and the columns
-- provisioning.Filter selects by (provisioning.RecordIndex), written with it.
CREATE TABLE amtkit_devices (
    uuid                TEXT    PRIMARY KEY,  -- canonical lower-case form
    version             INTEGER NOT NULL,     -- compare-and-swap counter
    state               TEXT    NOT NULL,     -- provisioning.State name
    session_in_progress INTEGER NOT NULL,     -- 0 or 1
    provisioned         INTEGER NOT NULL,
    discovery           INTEGER NOT NULL,
    last_seen           INTEGER,              -- Unix microseconds; NULL: never
    certs_expire        INTEGER,              -- earliest current certificate's NotAfter, Unix microseconds; NULL: none
    cert_work           INTEGER NOT NULL,
    record              BLOB    NOT NULL
);
CREATE INDEX amtkit_devices_state ON amtkit_devices (state, uuid);
CREATE INDEX amtkit_devices_session ON amtkit_devices (uuid) WHERE session_in_progress = 1;
CREATE INDEX amtkit_devices_last_seen ON amtkit_devices (last_seen);
CREATE INDEX amtkit_devices_certs_expire ON amtkit_devices (certs_expire) WHERE provisioned = 1;

-- One lease per device. A released lease keeps its row (owner '') so that
-- tokens only grow.
CREATE TABLE amtkit_leases (
    uuid    TEXT    PRIMARY KEY,
    owner   TEXT    NOT NULL,
    token   INTEGER NOT NULL,
    expires INTEGER NOT NULL              -- Unix nanoseconds; 0 when released
);
