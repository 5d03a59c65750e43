-- amtkit PSK pair store, schema 2 (SQLite): pskx.Store on the same database.
-- The PPS and the MEBx password are sealed by the store's seal.Sealer.
CREATE TABLE amtkit_psk_pairs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT, -- the order pairs were added
    pid           TEXT    NOT NULL UNIQUE,           -- compact, upper case
    version       INTEGER NOT NULL,
    added         INTEGER NOT NULL,                  -- Unix nanoseconds
    used          INTEGER NOT NULL,                  -- 0 or 1
    used_at       INTEGER,                           -- Unix nanoseconds; NULL: unused
    used_by       TEXT,                              -- device UUID; NULL: unused
    pps           BLOB    NOT NULL,                  -- sealed
    mebx_password BLOB                               -- sealed; NULL: none
);
CREATE INDEX amtkit_psk_pairs_unused ON amtkit_psk_pairs (seq) WHERE used = 0;
