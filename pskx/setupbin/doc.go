// Package setupbin reads and writes the USB provisioning file of Intel AMT,
// setup.bin: MEBx passwords, PID/PPS pairs ([github.com/amtkit/amtkit/pskx])
// for PSK devices, and the PKI settings (DNS suffix, provisioning server,
// custom root hashes) that pre-configure current devices. The format follows
// MeshCentral's amt/amt-setupbin.js and the files Intel's ACU writes (see
// docs/pskx.md).
//
// [Decode] reads files of versions 1.0, 2.0, 2.1, 3.0 and 4.0 strictly
// and reports a [*DecodeError] naming the record and byte offset;
// [DecodeLenient] reads what the firmware reads of files other tools wrote and
// reports each departure from the layout as a [FindingLayoutTolerated]. A
// [File] holds [DataRecord] values whose [Entry] list keeps unknown
// variables as raw bytes; typed accessors cover the catalogue (MEBx passwords,
// PID/PPS, PKI DNS suffix, provisioning server, custom root hashes, host and
// domain name, DHCP, redirection, consent, provisioning start/halt, …).
// [File.Check] applies the BIOS and MEBx rules and returns [amt.Findings]
// values — including [FindingPSKRemoved] when PID/PPS go to a file meant for
// AMT 11 or later — and [File.MarshalBinary] refuses a file with an error
// finding (of Check without a target) and otherwise writes exactly what Intel's ACU writes (the ACU's own
// file re-encodes byte for byte). [NewPSKBatchFile] and [NewPKIPreconfigFile]
// build the two common files; [File.Consume] does what the BIOS does to a
// consumed record.
//
// Scrambling (+17 per byte) is obfuscation, not protection: a stick holding PPS
// values or MEBx passwords must be handled like the secrets themselves.
package setupbin
