// Package provisioning receives AMT hello packets and provisions the devices that
// send them.
//
// # Hello packets
//
// An AMT device in setup mode resolves ProvisionServer.<dns suffix> (or a configured
// address) and sends one binary hello over TCP, by default to port 9971, then closes
// the connection; nothing is sent back. [ParseHello] decodes it and
// [Hello.AppendBinary] encodes it:
//
//   - version 2 (PSK, "one-touch", removed in AMT 11) carries an 8-character PID;
//   - version 3 (PKI, remote configuration) carries the hashes of the root
//     certificates the device trusts, one of which the provisioning certificate
//     chain must end in.
//
// Both share a header: an admin-credentials-set flag, the interface version, a retry
// counter and the device UUID in AMT's mixed-endian wire order.
//
// A hello proves nothing: anyone on the network can send one carrying a known UUID.
// The device's name, DNS suffix and profile must come from the integrator's
// inventory, never from the hello.
package provisioning
