// Package pskx is the pre-shared-key side of Intel AMT provisioning: PID/PPS
// pairs, the USB provisioning file (setup.bin), a store of pairs, and the
// TLS-PSK handshake a configuration server runs with a PSK device.
//
// PSK provisioning ("USB one-touch") is legacy: it exists on AMT 2.x to 10.x and
// was removed in AMT 11.0. The setup.bin format, however, is current: it still
// pre-configures PKI devices (DNS suffix, provisioning server, custom root
// hash). Everything in this package is pure Go on the standard library's
// crypto; it imports only [github.com/amtkit/amtkit/amt] of amtkit.
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
// # setup.bin
//
// [DecodeSetupFile] reads files of versions 1.0, 2.0, 2.1, 3.0 and 4.0 strictly
// and reports a [*DecodeError] naming the record and byte offset. A
// [SetupFile] holds [DataRecord] values whose [Entry] list keeps unknown
// variables as raw bytes; typed accessors cover the catalogue (MEBx passwords,
// PID/PPS, PKI DNS suffix, provisioning server, custom root hashes, host and
// domain name, DHCP, redirection, consent, provisioning start/halt, …).
// [SetupFile.Check] applies the BIOS and MEBx rules and returns [Finding]
// values — including [FindingPSKRemoved] when PID/PPS go to a file meant for
// AMT 11 or later — and [SetupFile.MarshalBinary] refuses a file with an error
// finding and otherwise writes exactly what Intel's ACU writes (the ACU's own
// file re-encodes byte for byte). [NewPSKBatchFile] and [NewPKIPreconfigFile]
// build the two common files; [SetupFile.Consume] does what the BIOS does to a
// consumed record.
//
// Scrambling (+17 per byte) is obfuscation, not protection: a stick holding PPS
// values or MEBx passwords must be handled like the secrets themselves.
//
// # Store
//
// A [Store] keeps pairs for the configuration server: a batch goes in when the
// stick is written, the PID in a PSK hello finds the PPS, and the device that
// used a pair is recorded. [MemoryStore] is the in-memory implementation.
//
// # TLS-PSK
//
// No maintained Go library implements the RFC 4279 PSK cipher suites, so this
// package carries its own small TLS 1.0–1.2 handshake for exactly them
// (TLS_PSK_WITH_AES_128_CBC_SHA, _AES_256_CBC_SHA, _AES_128_CBC_SHA256 and
// _AES_256_CBC_SHA384), built on crypto/aes, crypto/cipher, crypto/hmac and the
// SHA hashes, with the TLS PRF of RFC 2246/5246. It is written as straight-line
// steps like crypto/tls; records are checked in constant time (padding and MAC,
// the Lucky Thirteen countermeasure), verify_data is compared in constant time,
// TLS 1.0 writes use 1/n−1 record splitting, TLS 1.1+ use explicit random IVs,
// and renegotiation is refused. Every malformed message, alert and limit ends in
// a typed error ([*AlertError], [*MessageError], [*RecordHeaderError] and the
// Err… sentinels).
//
// AMT is the TLS server; the configuration server is the client:
//
//	cfg := pskx.Derivation{}.ClientConfig(pid, pps)
//	conn, err := pskx.DialPSK(ctx, "tcp", "192.0.2.10:16993", cfg)
//
// [ServerPSK] and [NewListener] give the server side (for simulators) with a
// key lookup by identity, for example [Derivation.KeyLookup] over a [Store].
// [Conn.ConnectionState] reports the negotiated version and suite for logging.
//
// Which identity, key and suites the firmware uses is not public. amtkit
// assumes identity = the PID's 8 characters and key = the PPS's 32 ASCII
// characters (the zero [Derivation]); replace the functions of a [Derivation]
// to try another convention. PSK-era firmware speaks TLS 1.0 (AMT added TLS 1.2
// in release 12), so a client should allow TLS 1.0.
package pskx
