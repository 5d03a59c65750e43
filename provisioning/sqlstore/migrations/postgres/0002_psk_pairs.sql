-- amtkit PSK pair store, schema 2 (PostgreSQL): pskx.Store on the same
-- database. The PPS and the MEBx password are sealed by the store's
-- seal.Sealer.
CREATE TABLE amtkit_psk_pairs (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- the order pairs were added
    pid           TEXT COLLATE "C" NOT NULL UNIQUE,                -- compact, upper case
    version       BIGINT  NOT NULL,
    added         BIGINT  NOT NULL,                                -- Unix nanoseconds
    used          INTEGER NOT NULL,                                -- 0 or 1
    used_at       BIGINT,                                          -- Unix nanoseconds; NULL: unused
    used_by       TEXT,                                            -- device UUID; NULL: unused
    pps           BYTEA   NOT NULL,                                -- sealed
    mebx_password BYTEA                                            -- sealed; NULL: none
);
CREATE INDEX amtkit_psk_pairs_unused ON amtkit_psk_pairs (seq) WHERE used = 0;
