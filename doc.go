// Package amtkit is an embeddable Go SDK for Intel AMT (vPro) provisioning.
//
// A management product — an ISV agent, a console, a configuration server — imports
// the packages it needs and gets what Configuration Manager's out-of-band service
// point and Intel's Setup and Configuration Service do: receive a device's hello,
// decide whether to trust it, open mutual TLS with the right provisioning
// certificate, configure the device over WS-Management and keep its certificates
// healthy, without adopting any server.
//
// This root package holds no code; it is the map.
//
// # The job, end to end
//
//  1. Prepare (optional): write a USB setup.bin — PID/PPS for PSK devices, or a PKI
//     DNS suffix, provisioning-server address and a custom root hash for PKI
//     devices ([github.com/amtkit/amtkit/pskx/setupbin]).
//  2. Hello: a device in setup mode sends one binary hello over TCP (port 9971):
//     version 2 carries a PID, version 3 the hashes of the root certificates it
//     trusts ([github.com/amtkit/amtkit/hello.Parse]).
//  3. Authorize: is this UUID expected (an imported list, an approval callback, an
//     OTP a local agent gave the device)? Which provisioning certificate has a root
//     in the hello and a name that covers the device's DNS suffix
//     ([github.com/amtkit/amtkit/amt.MatchDNSSuffix],
//     [github.com/amtkit/amtkit/certs])? Every "no" is a typed reason.
//  4. Connect: mutual TLS to the device on port 16993 with the chain leaf→root as
//     the client certificate, or TLS-PSK for version 2 hellos.
//  5. Configure over WS-Management ([github.com/amtkit/amtkit/wsman],
//     [github.com/amtkit/amtkit/amt]): version, realm, state and UUID; the OTP for
//     agent-initiated sessions; MEBx and admin passwords; host name, clock, AMT's
//     own TLS certificate, user accounts; then CommitChanges.
//  6. Verify: newer firmware drops the connection on commit; success is declared
//     only after reading the post-provisioning state back.
//  7. Maintain: renew device certificates before they expire, revoke the ones they
//     replace, and audit the configuration against the security guidance.
//
// Host-based activation (an agent on the device calling AdminSetup or Setup through
// LMS) and the agent's side of agent-initiated provisioning (PTHI over MEI) reach the
// same end state.
//
// # Packages
//
//   - [github.com/amtkit/amtkit/provisioning]: the engine — hello codec and
//     listener, the Provisioner and its Session state machine, host-based
//     activation, the Maintainer and Audit.
//   - [github.com/amtkit/amtkit/amt]: vocabulary (UUIDs in AMT's byte order,
//     versions, states, certificate hashes, PT_STATUS errors, passwords,
//     digests, namespace rules) and Device, typed WS-Management bindings.
//   - [github.com/amtkit/amtkit/amt/amtsim]: a simulated AMT device that
//     enforces the firmware's rules, and fleets of them.
//   - [github.com/amtkit/amtkit/amt/pthi]: the local agent's side — PTHI
//     commands over MEI.
//   - [github.com/amtkit/amtkit/wsman]: a generic WS-Management client, and
//     [github.com/amtkit/amtkit/wsman/wsmantest], the server kit for fakes.
//   - [github.com/amtkit/amtkit/certs]: provisioning and device certificates,
//     and [github.com/amtkit/amtkit/certs/certstest], throw-away CAs.
//   - [github.com/amtkit/amtkit/pskx]: PID/PPS and the PSK store;
//     [github.com/amtkit/amtkit/pskx/setupbin], the setup.bin codec; and
//     [github.com/amtkit/amtkit/pskx/tlspsk], TLS-PSK.
//
// The runnable programs under examples/ start with examples/provision, which
// provisions a simulated fleet end to end.
package amtkit
