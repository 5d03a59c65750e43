// Package amtsim is a simulated Intel AMT device for tests, examples and
// benchmarks. It behaves like firmware, rules included: it refuses what real
// firmware refuses, so code tested against it is tested against the rules
// and not against itself.
//
// No library package imports amtsim; tests (as external _test packages) and
// examples do.
//
// # A device
//
// [New] makes a [Device] from a [Config] whose zero value is a usable AMT
// 16.1.25 device in pre-provisioning: random UUID and digest realm, the
// factory root-certificate hashes, MEBx password "admin". [Device.Start]
// binds two listeners on 127.0.0.1 (by default on ephemeral ports):
//
//   - the 16993 role ([Device.TLSEndpoint]), TLS. Before provisioning it is
//     the remote-configuration port: the client must present a provisioning
//     certificate chain, which the device checks before any WS-Man byte is
//     read (see Rules); a PSK device ([Config.PSK], firmware before 11) speaks
//     TLS-PSK here instead, with tlspsk's server side. After provisioning it
//     serves the TLS certificate installed through AMT_TLSCredentialContext
//     once CommitChanges applied it, and requires HTTP digest.
//   - the 16992 role ([Device.HTTPEndpoint]), plain HTTP with digest. It also
//     stands in for the host's LMS port: the local system account
//     ([Device.LocalSystemAccount], "$$OsAdmin") reaches host-based setup
//     here. Remote users reach it once provisioned, unless TLS is enabled
//     without AcceptNonSecureConnections.
//
// Both serve WS-Management at /wsman with the classes provisioning and
// certificate management use (as Intel's class headers in intel/lms
// CIM_Framework/CIMFramework/CPPClasses/Include describe them): general settings,
// software identity, setup and configuration, host-based setup,
// authorization, time synchronization, public-key management, certificates,
// key pairs, TLS setting data and credential context, 802.1X settings,
// profile and credential contexts, and the network classes (Ethernet port
// settings, Wi-Fi port configuration, Wi-Fi profiles and their 802.1X
// settings, the Wi-Fi port; [NetworkConfig], docs/network.md), and the
// remote-access, redirection, KVM and consent classes (docs/remote-access.md),
// with the user-consent flow: StartOptIn puts a code on the simulated host's
// screen, which a test reads as the user would with
// [Device.DisplayedConsentCode].
// Once configured for CIRA a device calls its MPS itself: TLS verified against
// the roots it was given, then APF as firmware speaks it ([Device.CIRA],
// [Device.CIRAEvents], [Device.CIRAUserInitiated]). Responses are shaped as AMT shapes them
// (wsman/wsmantest's writer): alphabetical properties, empty ones omitted,
// method outputs in MOF order with ReturnValue last, …Response actions,
// RelatesTo, PT_STATUS return codes, and faults as AMT sends them (HTTP 500
// InternalError with "AMT-STATUS n", HTTP 400 AlreadyExists and
// DestinationUnreachable). Enumerate honours wsman:EnumerationMode (DMTF
// DSP0226 §8.7) for every enumerable class, in optimized Enumerate answers
// and in every Pull of the context: EnumerateEPR answers each instance's
// wsa:EndpointReference (Address anonymous, the class's key properties as
// selectors, so that a Get with them returns the instance), and
// EnumerateObjectAndEPR a wsman:Item of the instance and then its EPR; any
// other mode is wsman:UnsupportedFeature with the fault detail
// EnumerationMode. A test compares these shapes with responses
// recorded from real firmware when those optional vectors, which do not ship
// with the module, are present beside the checkout.
//
// [Device.Snapshot] returns a read-only copy of the state — provisioning
// state, control mode, root-hash table, certificates, keys, TLS settings,
// ACL entries, the TLS handshakes seen and the chain used to provision —
// for assertions. Secrets are not in it; [Device.AdminPasswordIs] and
// [Device.MEBxPasswordIs] compare.
//
// # Firmware versions
//
// [Config.Version] selects the behaviour: the simulator takes every
// version-dependent rule from [amt.FirmwareFor] ([Device.Firmware]), the
// table of firmware facts with their public sources, and compares no
// version numbers itself. Bare-metal remote configuration from 3.2.1
// (2.2.20+, 2.6 and 3.0 to 3.2.0 only after a local agent's
// [Device.StartConfiguration]); PSK hellos until 11; TLS 1.0–1.1 before 12,
// 1.1–1.2 from 12, 1.2 from 16 and 1.3 from 21; RSA key exchange only before
// 11, RSA and ECDHE on 11 and 12 (RSA only with [Config.RSAKeyExchangeOnly]);
// IPS_HostBasedSetupService from 6.1 and GenerateKeyPair from 6.2; SHA-1 and
// RSA keys under 2048 bits refused from 16 (and on 15 unless
// [Config.Legacy15]); port 16992 closed to remote accounts from 16.1 with
// [Config.TLSOnly]; CommitChanges dropping the connection and a device
// certificate without a host name from 19; SigningAlgorithm 3 (RSA SHA-384)
// and the first request after a TLS 1.3 handshake dropped from 21; ECC P-384
// keys, SHA-384 TLS and provisioning certificates from 22.
//
// # Rules
//
// A remote-configuration client chain (leaf first, root included) and a chain
// injected with AddNextCertInChain before AdminSetup or UpgradeClientToAdmin
// pass the same checks, in this order ([Rule]):
//
//  1. the hash of the last certificate is an active entry of the device's
//     root-hash table (SHA-1, -256, -384 or -512; SHA-1 entries are ignored on
//     strict firmware);
//  2. each certificate is issued by the next one (names, CA flag, signature);
//  3. SHA-2 signatures (SHA-1 only before 16; MD5 never), root included on
//     strict firmware;
//  4. an RSA leaf, and RSA keys of 2048 bits or more on strict firmware;
//  5. the leaf and intermediates are valid by the device's clock;
//  6. the leaf has the EKU 2.16.840.1.113741.1.2.3 or the subject OU
//     "Intel(R) Client Setup Certificate" (exact, case-sensitive), and
//     serverAuth if it lists extended key usages at all;
//  7. the leaf's CN (or a DNS SAN) matches the device's DNS suffix — the
//     trusted (MEBx) suffix when set, else the DHCP option 15 one — by the
//     documented firmware rule: equal to or below the certificate's domain,
//     the last two labels sufficing for .com and .net, never at or above a
//     public suffix. This rule is implemented here independently of
//     amt.MatchDNSSuffix and the certs package; a test and a fuzz target
//     compare the two.
//
// A violation aborts the TLS handshake with an alert (and is recorded with
// its [*RuleError] in the snapshot's Handshakes); for AdminSetup it returns
// 5 (AuthFailed). AdminSetup also verifies the RSA PKCS#1 v1.5 signature
// over ConfigurationNonce ‖ McNonce with the leaf's key; the nonce is
// replaced after every use, so a signature never works twice.
//
// # The local agent's side
//
// [Device.MEI], [Device.WatchdogMEI] and [Device.Agent] are the device's MEI
// clients, answering PTHI from its state. StartConfigurationHBased arms the local
// TLS port ([Device.LocalTLSEndpoint], LMS's localhost:16993), which then
// presents an On-Die chain shaped like Intel's (six certificates under
// [OnDieCA]'s root; [Device.LocalOnDieCA], [Device.HardwareID]) and requires the
// named provisioning chain. [Config.LocalTLSEnforced] makes a 19+ platform that
// enforces TLS on its local ports, [Config.AMTDisabled] one that ships with AMT
// disabled.
//
// # Failure modes
//
// [Behavior] switches on what real firmware does on a bad day: CommitChanges
// dropping the connection (default from 19), GenerateKeyPair failing with
// PT_STATUS 2061 a number of times, latency, dropped connections (before or
// after the request took effect), a second AdminSetup wedging the device,
// the device going silent after its first hello. [Rogue] makes an impostor
// that sends another device's UUID.
//
// # Hellos
//
// [Device.SendHellos] sends version 3 hellos (the active root hashes) or, for
// a PSK device, version 2 hellos (the PID) to a provisioning server, with the
// retry counter and the firmware's back-off ([DefaultHelloBackoff]); the
// sleep is injectable so tests run instantly, and ctx cancels.
//
// # Fleets
//
// [StartFleet] starts many devices at once — cheaply: keys come from a pool
// of pre-generated test keys ([DefaultKeys]) and each device costs tens of
// kilobytes idle. Each device gets its own loopback address 127.a.b.c where
// the platform allows it, so the source address of its hellos identifies it
// and a provisioning engine can connect back to it; [Fleet.Lookup],
// [Fleet.Resolve] and [Fleet.DialContext] map hello sources (or UUIDs, with
// [Fleet.Device]) to the device's listeners, also when every device shares
// 127.0.0.1. [Fleet.StartRogue] adds impostors.
//
// # Not for production
//
// The keys are public test keys, the On-Die CA ([OnDieCA]) is a throw-away
// stand-in, and many firmware details are documented nowhere and simulated
// by choice; docs/amtsim.md lists what is enforced and what is not.
package amtsim
