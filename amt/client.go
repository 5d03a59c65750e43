package amt

import (
	"time"

	"github.com/amtkit/amtkit/wsman"
)

// What AMT requires of WS-Management headers (Intel's DSP0226 compliance
// notes in the Intel AMT SDK): wsman sends the values it is given, so a caller
// setting them itself keeps to these bounds.
const (
	// MinOperationTimeout is the smallest wsman:OperationTimeout AMT accepts.
	MinOperationTimeout = 30 * time.Second
	// MinMaxEnvelopeSize is the smallest wsman:MaxEnvelopeSize AMT accepts
	// when the header is present (it is not sent by default).
	MinMaxEnvelopeSize = 50000
	// DefaultOperationTimeout is the wsman:OperationTimeout [ClientOptions] sends:
	// 60 s, twice AMT's minimum, the value AMT clients use.
	DefaultOperationTimeout = 60 * time.Second
	// PullMaxCharacters is the wsen:MaxCharacters of AMT clients' Pulls.
	PullMaxCharacters = 99999
)

// ClientOptions returns the wsman options an AMT client needs, for callers
// that build their client with wsman.New (put them first, so that the
// caller's own options can add to them):
//
//   - wsman:OperationTimeout [DefaultOperationTimeout] on every call (at least
//     [MinOperationTimeout]); MaxEnvelopeSize is left out, as AMT clients
//     do (a caller that sends it keeps it at least [MinMaxEnvelopeSize]);
//   - wsen:MaxCharacters [PullMaxCharacters] on every Pull, as every client
//     proven on AMT sends it (go-wsman-messages createCommonBodyPull,
//     MeshCentral amt-wsman.js ExecPull): a page is then bounded by the
//     client, not by whatever the firmware would put in one;
//   - log redaction of the elements that carry AMT secrets beyond
//     wsman.DefaultRedactor: the provisioning OTP, private keys sent to
//     AddKey, 802.1X credentials, the digest hashes of ACL entries.
//
// Credentials, the TLS policy and the transport are the caller's.
func ClientOptions() []wsman.Option {
	return []wsman.Option{
		wsman.WithCallDefaults(wsman.OperationTimeout(DefaultOperationTimeout), wsman.MaxCharacters(PullMaxCharacters)),
		wsman.WithRedaction(redactSecrets()),
	}
}

// NewClient returns wsman.New(endpoint, ClientOptions()..., opts...): a
// WS-Management client for an AMT endpoint ("https://host:16993/wsman", or
// http on 16992) with AMT's header values and log redaction.
func NewClient(endpoint string, opts ...wsman.Option) (*wsman.Client, error) {
	return wsman.New(endpoint, append(ClientOptions(), opts...)...)
}
