-- amtkit device store, schema 4 (SQLite): indexes for the Maintainer's two walks,
-- which read the whole fleet without them (found by review: 20,000 rows read
-- for 5 matches). The age-out walk selects discovery records; the renewal
-- walk selects cert_work = 1 OR certs_expire < ? over every record (the
-- schema-1 index on certs_expire covers provisioned records only).
CREATE INDEX amtkit_devices_discovery ON amtkit_devices (uuid) WHERE discovery = 1;
CREATE INDEX amtkit_devices_cert_work ON amtkit_devices (uuid) WHERE cert_work = 1;
CREATE INDEX amtkit_devices_certs_expire_any ON amtkit_devices (certs_expire);
