// Package hello is the codec of the AMT "hello": the one binary message an AMT
// device in setup mode sends over TCP (default port 9971) to a provisioning
// server before closing the connection. Version 2 (PSK, one-touch) carries the
// device's 8-character PID; version 3 (PKI, remote configuration) carries the
// hashes of the root certificates the device trusts.
//
// The layout (all integers little-endian): u16 admin-credentials-set flag, u16
// interface version, u32 retry count, the 16-byte SMBIOS UUID in AMT's wire
// order, then the PID (v2) or a u8 hash count and {u8 algorithm, u8 length,
// digest} entries (v3). Sources: Intel AMT SDK Implementation and Reference
// Guide, "Setup Mode Hello Messages"; MeshCentral's amtprovisioningserver.js,
// which serves real devices.
//
// The codec is the device's wire format and sits below the provisioning engine:
// the engine's listener ([github.com/amtkit/amtkit/provisioning.HelloListener])
// decodes with it and the simulator ([github.com/amtkit/amtkit/amt/amtsim])
// encodes with it, without either depending on the other.
//
// [Parse] is strict and never panics: every strict prefix of a valid hello is
// an error naming the offset ([*Error]). [Decoder] decodes into reused memory
// for servers that see many hellos and keep few.
//
// A hello proves nothing about its sender: anyone can send one with a known
// UUID. What to trust is the provisioning engine's business.
package hello
