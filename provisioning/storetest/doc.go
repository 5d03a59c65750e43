// Package storetest is the conformance suite of provisioning.Store: every
// implementation runs it from its own tests, so that the engine can rely on the
// same behaviour from all of them — the in-memory store, a key-value store
// behind provisioning.NewKVStore, provisioning/sqlstore on SQLite and
// PostgreSQL, or the integrator's own.
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			New:       func(t *testing.T) provisioning.Store { return openMyStore(t) },
//			Reopen:    func(t *testing.T, s provisioning.Store) provisioning.Store { return reopenMyStore(t, s) },
//			Persisted: func(t *testing.T, s provisioning.Store) [][]byte { return dumpMyStore(t, s) },
//		})
//	}
//
// It checks: every field of a record round-trips, zero values included;
// compare-and-swap (versions, typed conflicts, deletes); filters, against
// provisioning.Filter.Match as the reference, in UUID order, with saves inside
// the loop; leases (exclusive, expiry on the caller's clock, renewal,
// release, tokens that only grow, the same owner taking its lease back);
// concurrent writers and acquirers (run it with -race); a crash between a
// save and the request it records (the progress survives a reopen, the dead
// owner's lease holds until it expires, its late writes lose); and that no
// secret appears in plaintext — raw, hex or base64 — in the bytes the store
// persisted.
//
// Fill builds a record with every field set (by reflection, so a field added
// to provisioning.DeviceRecord is covered at once, and a field of a kind it
// cannot fill fails the suite until it learns it).
package storetest
