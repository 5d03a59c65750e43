// Package provisioning receives AMT hello packets and provisions the devices that
// send them: the engine an integrator embeds to do what Configuration Manager's
// out-of-band service point or Intel's Setup and Configuration Service does.
//
// # The flow
//
// A [Provisioner] is built from a [Config]: provisioning certificate bundles
// (chain leaf→root plus a crypto.Signer key), an [Authorizer] that knows which
// devices may be provisioned, [Profile]s, an [Issuer] for AMT's own certificates,
// a [Store] and an [Observer]. [Provisioner.Serve] runs a [HelloListener] that
// feeds it hellos; each device gets one [Session] that walks
//
//	New → Authorized → Connected → Identified → Configured → Committed → Provisioned
//
// or ends in Rejected (a rule said no) or Failed (something broke). Each step is
// one method written straight through:
//
//   - authorize: the UUID must be known to the Authorizer (or to an agent request
//     registered with [Provisioner.ExpectAgentRequest]); the first bundle whose
//     root hash is in the hello, whose name covers the device's DNS suffix
//     (amt.MatchDNSSuffix) and which is valid and not revoked is chosen;
//   - connect: mutual TLS to the device's port 16993 with the whole chain as the
//     client certificate (or TLS-PSK for a version 2 hello); the device's own
//     certificate is verified against On-Die CA roots when configured, else
//     pinned;
//   - identify: firmware version (minimums enforced), provisioning state, and
//     GetUuid, which must equal the hello's UUID;
//   - the OTP check of agent-initiated sessions: the device's OTP must equal the
//     agent's (compared in constant time); a mismatch closes the device's
//     provisioning window;
//   - configure: a random MEBx and admin password per device (recorded before
//     they are sent), the admin ACL entry, host and domain name, clock, AMT's TLS
//     certificate (key generated in AMT, certified by the Issuer, bound and
//     enabled), user accounts, an optional 802.1X certificate;
//   - commit: CommitChanges (AMT 19+ drops the connection);
//   - verify: success is declared only after the post-provisioning state was read
//     back as the new admin, over TLS with the certificate just installed;
//     otherwise the outcome is [CommitUnconfirmedError].
//
// Every step emits an [Event] (state, step, duration, [Reason], error) and the
// device's [DeviceRecord] is saved in the Store before the next step, so a new
// Provisioner on the same store can report and [Provisioner.Resume] sessions;
// a resumed session reads the device's state first and never repeats a
// non-idempotent call blindly.
//
// # Trust
//
// A hello proves nothing: anyone can send one with a known UUID. The device's
// name, DNS suffix and profile come from the Authorizer's inventory, never from
// the device. Every device gets its own random passwords. Until a device has
// proven itself in the identify step, a session does not change the device's
// stored record, so an impostor's session cannot overwrite a real device's
// credentials. Profiles may require an OTP ([Profile.RequireOTP]) or a verified
// On-Die certificate ([Profile.RequireOnDie]); approval by UUID alone works but
// [Audit] reports it. A verified On-Die chain is tied to the session's device by
// [Config.OnDieBinding] ([BindOnDieUUID] by default; Intel's real certificates
// need a binding that knows the platform, or the named [TrustAnyOnDieDevice]).
//
// # hello.Message packets
//
// [hello.Parse] decodes the binary hello (version 2 PSK with a PID, version 3 PKI
// with the trusted root hashes) strictly, with a typed [hello.Error] naming the
// offset; [Hello.AppendBinary] encodes it. A [hello.Decoder] decodes into memory
// it reuses (no allocation per hello once warm), for servers that see many hellos
// and keep few; [Hello.Clone] keeps one. [HelloListener] reads each connection
// to EOF with a size cap and a deadline, answers HTTP probes, limits each source
// and evicts the oldest unfinished connection when full, so a flood of slow
// connections cannot starve real devices.
//
// # On the device: host-based activation
//
// An agent running on the AMT computer activates it through LMS with
// [ActivateCCM], [ActivateACM] (the chain sent leaf first, ConfigurationNonce ‖
// McNonce signed RSA-PKCS#1 v1.5 over SHA-256 by the bundle's crypto.Signer)
// and [UpgradeToACM]. None of them resends a setup call whose reply was lost:
// the control mode is read back instead.
//
// # Afterwards
//
// [Maintainer] renews AMT's TLS and 802.1X certificates inside the renewal
// window, asks the Issuer to revoke the ones they replace (reason Superseded),
// reports provisioning bundles nearing expiry (Configuration Manager statuses
// 7210 and 7211) and ages out discovery records. [Provisioner.Unprovision] and
// [Provisioner.Block] revoke a device's certificates too. [Audit] checks a
// configuration against the Configuration Manager and Intel guidance.
package provisioning
