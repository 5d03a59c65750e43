// Package apftest is fake Intel AMT firmware behind the LME client of the MEI,
// for tests and examples of code that reaches AMT through package amt/apf: a
// [Device] speaks APF as firmware does and connects every channel the host
// opens to a TCP target — typically a simulated device from amt/amtsim
// ([ForSim]) — so the whole path agent → LME/APF → WS-Management (and TLS) →
// simulated AMT runs in memory. [Pipe] is the in-memory MEI connection the
// two sides talk over: whole messages, a maximum message length, a bounded
// queue.
//
// The fake enforces the protocol on the host rather than accepting what it
// is given: version first, the port-forwarding service accepted by name,
// every tcpip-forward answered with its port, channels only to forwarded
// ports and never more than its pool, data only within the window it gave;
// the first violation ends the conversation with DISCONNECT and is kept in
// [Device.Violation]. It keeps its own side of the flow control too: it never
// sends the host more than the host's window ([Config.IgnoreHostWindow]
// breaks that rule on purpose, for attack tests), and it credits the host's
// data as it writes it to the target, as LMS does. [Device.Restart] plays a
// firmware reset of the LME.
//
// [StartMPS] is the other side of CIRA: a small Management Presence Server on
// loopback that a (simulated) device calls over TLS, which checks what the
// device presents — its client certificate when configured, the protocol
// version and UUID, the APF user name and password ([MPSConfig.Lookup] for
// per-device credentials) — and serves the host's side of APF over the tunnel
// so that a test can open channels to the forwarded ports. Every message is
// logged ([MPS.Log]); passwords never are.
//
// No library package imports apftest; tests and examples do.
package apftest
