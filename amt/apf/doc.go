// Package apf speaks the Intel AMT Port Forwarding protocol (APF) and uses it to
// reach AMT's local WS-Management ports through the LME client of the MEI,
// without Intel's Local Manageability Service (LMS).
//
// APF is an SSH-like protocol: a protocol-version exchange, service requests
// (AMT asks for "pfwd@amt.intel.com"), global requests (AMT asks the host to
// forward its ports 16992, 16993, 623 and 664 with "tcpip-forward"), and
// channels — open, confirmation or failure, data, window adjust, close — each
// with its own flow-control window. Over the MEI, one MEI message carries one
// APF message. Intel's LMS plays the host's part and listens on
// 127.0.0.1:16992 and 16993 for the channels; an agent using this package
// plays it itself and hands each channel to its HTTP client as a net.Conn.
//
// # Layers
//
// The codec is pure: [Decode] decodes one message (every strict prefix of a
// message whose layout fixes its length is refused, and so are leftover bytes;
// [DecodeLenient] ignores leftover bytes, as a session over the MEI does),
// each message type's AppendBinary encodes. A malformed message is a
// [*FormatError] matching [ErrMalformed].
//
// A [Session] is the host's side of one APF conversation over a [Transport]
// (any carrier of whole messages; [pthi.MEIConn] connected to [pthi.ClientLME]
// is the real one, apftest.Pipe a fake). [NewSession] sends the protocol
// version, answers AMT's version, service requests, user authentication and
// port forwards, and returns once AMT forwards a WS-Management port with its
// redirection partner (or nothing more for [Config.ForwardQuiet]).
// [Session.Dial] opens a channel to one of the forwarded ports and returns it
// as a [*Channel], a net.Conn with deadlines. Several channels run at once;
// each respects AMT's window when writing (a Write waits for a window adjust)
// and gives AMT a window of [Config.Window] bytes when reading, so a channel
// never buffers more than that; a peer that overruns the window or sends to a
// channel that does not exist breaks the channel or the session, never the
// memory bound.
//
// [OpenLME] opens the LME client and starts a session; a [Dialer] keeps one
// session and opens another when it ends (AMT resets its side on firmware
// events). [Dialer.DialContext] has the shape of net.Dialer's, so
//
//	c, err := wsman.New("http://127.0.0.1:16992/wsman",
//		wsman.WithDialer(d.DialContext), wsman.WithDigestAuth(user, pass))
//
// speaks WS-Management to the local AMT through the MEI, and an https
// endpoint on 16993 layers wsman's TLS on the channel unchanged.
//
// [ChooseLocal] is what an agent does first: use LMS when it answers on
// 127.0.0.1:16992 or 16993, and LME/APF otherwise, reporting which.
//
// The same protocol runs over TLS between AMT and a Management Presence
// Server (CIRA), where messages follow each other on a byte stream:
// [StreamTransport] frames them there ([FrameLength] finds where one ends),
// so a [Session] serves a CIRA tunnel as it serves the LME (apftest.MPS is a
// test MPS built that way; docs/remote-access.md). There it is an MPS, which
// anyone on the network reaches: it authenticates the device
// ([Config.Authenticate], or [Config.PreAuthenticated] after a verified TLS
// client certificate; NewSession refuses a stream without either), keeps the
// device it authenticated (a later PROTOCOL_VERSION naming another UUID ends
// the session), and drops a device silent for [Config.IdleTimeout].
//
// # Sources and verification
//
// The message layouts come from Intel's LMS (intel/lms
// UNS/PortForwardingService/LMS_if.h, LMS_if_constants.h, LMEConnection.cpp,
// Protocol.cpp), MeshCentral (agents/modules_meshcore/amt-lme.js, the agent's
// LMS in JavaScript, and mpsserver.js, a stream parser of the same messages
// from real firmware over CIRA), rpc-go (internal/lm) and go-wsman-messages
// (pkg/apf); the Intel AMT SDK's "Intel AMT Port Forwarding Protocol
// Reference Manual" is the specification they follow. No AMT hardware was
// available: the session is tested against apftest's fake firmware, which
// enforces the protocol's rules independently, and through it against the
// simulated device of amt/amtsim. docs/agent.md lists what could not be
// verified.
package apf
