// Package pskx is the pre-shared-key side of Intel AMT provisioning: PID/PPS
// pairs and a store of them. Its two subpackages carry the pairs to and from
// devices: [github.com/amtkit/amtkit/pskx/setupbin] writes them to the USB
// provisioning file (setup.bin), and [github.com/amtkit/amtkit/pskx/tlspsk]
// runs the TLS-PSK handshake a configuration server runs with a PSK device.
//
// PSK provisioning ("USB one-touch") is legacy: it exists on AMT 2.x to 10.x and
// was removed in AMT 11.0. (The setup.bin format is current: it still
// pre-configures PKI devices.) Everything here is pure Go on the standard
// library; it imports only [github.com/amtkit/amtkit/amt] of amtkit.
//
// # PID and PPS
//
// A PID (provisioning identifier, 8 characters) and a PPS (provisioning
// passphrase, 32 characters) use A–Z and 0–9. Every 4-character group of a PPS
// ends in a check character (the sum of the group's ASCII codes modulo 36); the
// PID's last character checks its first seven. [ParsePID] and [ParsePPS] accept
// both "XXXX-XXXX" and compact forms in either case and name the failing group
// in a [*FormatError]; [GeneratePID], [GeneratePPS], [GeneratePair] and
// [GenerateBatch] draw symbols with rejection sampling (no modulo bias) from
// crypto/rand or an injected reader. A [PPS] is a secret: it prints as
// [amt.Redacted] and compares in constant time.
//
// # Store
//
// A [Store] keeps pairs for the configuration server: a batch goes in when the
// stick is written (setupbin.NewPSKBatchFile), the PID in a PSK hello finds the
// PPS the configuration server connects with, and the device that used a pair
// is recorded. A simulated device finds its key the same way
// (tlspsk.Derivation.KeyLookup). A pair is used by one device only: MarkUsed
// is a compare-and-swap, also between provisioners sharing a store. [Store.Pairs]
// iterates a store in the order pairs were added. [MemoryStore] is the
// in-memory implementation; provisioning/sqlstore keeps pairs in SQLite or
// PostgreSQL with the PPS and MEBx password sealed; provisioning/storetest
// is the conformance suite (RunPairStore).
package pskx
