// Package provisioning receives AMT hello packets and provisions the devices that
// send them: the engine an integrator embeds to do what Configuration Manager's
// out-of-band service point or Intel's Setup and Configuration Service does.
//
// # The flow
//
// A [Provisioner] is built from a [Config]: provisioning certificate bundles
// (chain leaf→root plus a crypto.Signer key), an [Authorizer] that knows which
// devices may be provisioned, [Profile]s, an [Issuer] for AMT's own certificates
// ([CA] is one out of the box), a [Store] and an [Observer]. [New] refuses a
// configuration that can never work and says what to fix. [Provisioner.Serve]
// runs a [HelloListener] that feeds it hellos ([Provisioner.Shutdown] drains
// it); each device gets one [Session], whose steps run in
// order, top to bottom:
//
//	New ──authorize──▶ Authorized ──connect──▶ Connected ──identify──▶ Identified
//	                                                                  │ otp
//	Provisioned ◀──verify── Committed ◀──commit── Configured ◀──configure─┘
//
//	any step ──▶ Rejected (a rule said no) or Failed (something broke)
//
// The steps:
//
//   - authorize: the stored record is read (a blocked device, an expired or
//     locked agent request end here); the UUID must be known to the Authorizer
//     (or to an agent request registered with [Provisioner.ExpectAgentRequest]);
//     the first bundle whose root hash is in the hello, whose name covers the
//     device's DNS suffix (amt.MatchDNSSuffix) and which is valid and not
//     revoked is chosen (or, for a version 2 hello, the PID's PSK pair); when
//     none covers the suffix by that rule, one that covers it by MeshCentral's
//     per-TLD rule (amt.ErrSuffixUndocumented) is tried, and the step says so.
//     Nothing is sent and nothing is stored.
//   - connect: mutual TLS to the device's port 16993 with the whole chain as the
//     client certificate (or TLS-PSK); the device's certificate is verified
//     against On-Die CA roots when configured, else pinned — and it must be
//     what was seen before: the pin of a resumed session or of a provisioned
//     device, an On-Die chain once one was verified.
//   - identify: firmware version (the minimums of amt.FirmwareFor), provisioning
//     state, and GetUuid, which must equal the hello's UUID. The device has now
//     proven itself (agent-initiated sessions: after their OTP) and the session
//     takes its record.
//   - otp: for agent-initiated sessions, the device's OTP must equal the agent's
//     (compared in constant time); a mismatch closes that device's provisioning
//     window and counts against the request, which repeated mismatches lock.
//   - configure: random MEBx, admin and user passwords per device (recorded
//     before they are sent), the admin ACL entry, host and domain name, clock
//     (set when more than 10 s off; a set the device refuses is recorded, not
//     fatal), AMT's TLS certificate (key generated in AMT, certified by the Issuer,
//     bound and enabled on the network interface), user accounts — each
//     guarded by its [Done] bit where it runs. 802.1X, Wi-Fi and IP settings
//     ([NetworkProfile]) come after activation: the reconcile a session runs
//     once the device is provisioned applies them (docs/network.md), as it
//     does CIRA ([RemoteAccessProfile]), the redirection features and user
//     consent ([FeaturesProfile]) and the TLS modes beyond the first enable
//     (mutual authentication, the local interface; docs/remote-access.md).
//   - commit: CommitChanges (AMT 19+ drops the connection while it restarts).
//   - verify: the post-provisioning state is read back as the new admin over a
//     connection authenticated by what the session recorded (the installed
//     certificate, or the device's own pinned one); only then does the session's
//     progress become the device's record and the certificates it replaced get
//     revoked. A device that cannot be read at all is [CommitUnconfirmedError].
//
// Every step emits an [Event] (state, step, duration, [Reason], error) and,
// once the device has proven itself, saves the device's [DeviceRecord] before
// the next step: a session's progress lives in [DeviceRecord.Session] until
// its commit is verified, so a new Provisioner on the same store can report
// it and [Provisioner.Resume] it; a resumed session reads the device's state
// first and never repeats a non-idempotent call blindly.
//
// # Trust
//
// A hello proves nothing: anyone can send one with a known UUID. The device's
// name, DNS suffix and profile come from the Authorizer's inventory, never from
// the device. Until a session's device has proven itself, the session writes
// nothing over a record that holds a provisioning, a session in progress or
// certificates. A hello for a provisioned device changes, revokes and issues
// nothing unless the device shows the certificate it had (or an On-Die chain
// bound to it) or [Config.Reprovision] allows it. No secret that works on one
// device is given to another. Several sessions may run for one UUID while none
// has proven its device (a slow impostor cannot hold it); the first to prove
// itself owns the device. After provisioning every connection verifies the
// device's certificate ([Provisioner.OpenDevice] opens one for the
// integrator). docs/security.md lists every attack the tests play.
//
// # Hellos
//
// The hello codec is package [github.com/amtkit/amtkit/amt/hello].
// [HelloListener] reads each connection to EOF with a size cap and a deadline,
// answers HTTP probes, limits each source (IPv6 by prefix) in bounded
// bookkeeping and evicts the oldest unfinished connection when full, so a flood
// of slow connections cannot starve real devices.
//
// # On the device: host-based activation
//
// An agent running on the AMT computer activates it through LMS with
// [ActivateCCM], [ActivateACM] (the chain sent leaf first, ConfigurationNonce ‖
// McNonce signed by the bundle's crypto.Signer, then the MEBx password) and
// [UpgradeToACM]. None of them resends a setup call whose reply was lost: the
// control mode and the provisioning state are read back instead, and only
// post-provisioning counts ([ErrActivationHalted]). Where the platform enforces
// TLS on its local ports (AMT 19 and later), [ActivateTLS] activates over AMT's
// local TLS port after StartConfigurationHBased, AMT's On-Die chain verified by
// [VerifyOnDieChain] and bound to the device by the hash the firmware returned
// over the host interface ([HostAgent], which *pthi.Client implements).
// [Deactivate] and [RecoverInProvisioning] undo activations and recover devices
// halted "in provisioning". docs/firmware-rules.md lists the firmware rules
// behind each step.
//
// # Afterwards
//
// [Maintainer] renews AMT's TLS and 802.1X certificates (wired and each
// Wi-Fi profile's) inside the renewal
// window — a renewal is pending until the device is read back using the new
// certificate, and only then is the old one revoked (reason Superseded) —
// reports provisioning bundles nearing expiry (Configuration Manager statuses
// 7210 and 7211; [Maintainer.RunOnce] includes this check) and ages out
// discovery records. [Provisioner.Unprovision] and [Provisioner.Block] revoke a
// device's certificates too. [Audit] checks a configuration against the
// Configuration Manager and Intel guidance.
package provisioning
