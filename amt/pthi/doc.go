// Package pthi is the local agent's side of Intel AMT: the PTHI (AMTHI) commands an
// agent running on the AMT computer sends to the management engine through the MEI
// (HECI) driver, and the helpers built on them.
//
// An ISV agent uses it to read what a console needs to know about the device — UUID,
// firmware version, provisioning state and control mode, PKI DNS suffix, trusted root
// hashes, LAN settings — and to ready the device for configuration: give it the
// one-time password a configuration server will check, open its network interface
// for remote configuration, or arm host-based configuration over TLS.
//
// # Layers
//
// The codec is pure: [EncodeRequest] builds a request (a 12-byte header of version
// 1.1, command code and length, then the payload), [DecodeResponse] checks a response
// (version, reserved field, command code with [ResponseBit], length, then the status)
// and returns its payload, and one decoder per command (DecodeCodeVersions,
// DecodeCertHashEntry, …) reads the payload with a bounds-checked reader. A failed
// status is a [*CommandError] that unwraps to an [amt.Status], so
//
//	errors.Is(err, amt.StatusCertificateNotReady)
//
// works; a malformed response is a [*FormatError] matching [ErrMalformed].
//
// A [Transport] carries one exchange (one method, as go-tpm's transport). [OpenMEI]
// opens /dev/mei0 on Linux and connects to the PTHI client with the MEI connect
// ioctl; reads and writes are sized by the client's maximum message length and
// honour the context. pthitest.Replay replays recorded exchanges strictly, for
// tests and examples.
//
// A [Client] wraps the commands: [Client.UUID], [Client.CodeVersions],
// [Client.ProvisioningState], [Client.ControlMode], [Client.PKIDNSSuffix],
// [Client.CertHashes], [Client.LocalSystemAccount], [Client.LANSettings],
// [Client.SetProvisioningServerOTP], [Client.StartConfigurationEx],
// [Client.StopConfiguration], [Client.StartConfigurationHBased] and more;
// [Client.Call] sends any other command.
//
// # Agent helpers
//
// [Client.Prepare] readies agent-initiated remote configuration: it checks state,
// version and mode (zero touch enabled, PSK or PKI, the AMT 2.x random-number seed),
// sets the OTP, starts configuration and returns an [AgentRequest] — UUID, version,
// DNS suffix, trusted hashes and the OTP — for the console to hand to the
// configuration server (amtkit's provisioning engine accepts it). [Client.Status]
// is an inventory snapshot.
//
// For host-based activation, [Client.LocalSystemAccount] returns the $$OsAdmin
// credentials for LMS, [QueryChangeEnabled] (over a transport connected to
// [ClientWatchdog]) tells whether TLS is enforced on the local ports, and
// [Client.StartConfigurationHBased] with [LeafHash] arms TLS activation and returns
// the hash of AMT's certificate to pin. A *Client is a provisioning.HostAgent:
// provisioning.ActivateTLS drives it. [Client.Unprovision] deactivates client
// control mode, [Client.StopConfiguration] ends an unfinished configuration, and
// [Client.EnsureAMTEnabled] (with [Client.Watchdog] set) switches on AMT where
// the platform shipped it disabled.
//
// The decoders tolerate what rpc-go tolerates on real devices: bytes after the
// last field, AMT_BOOLEANs other than 0 and 1, unknown hash algorithms in the
// trusted-hash list (docs/pthi.md).
//
// # Sources and verification
//
// No AMT hardware was available. Command codes and layouts come from Intel's
// open-source LMS (intel/lms MEIClient), rpc-go (pkg/pthi, pkg/heci), MeshCentral's
// amt-mei.js and MeshAgent's PTHI sample code; docs/pthi.md lists the source of every
// layout and how conflicts were settled, and internal/testvectors/data/pthi_*.json
// holds golden bytes for every command. The Linux transport is unverified on
// hardware.
package pthi
