package pthi

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/amtkit/amtkit/amt"
)

// Transport carries one PTHI exchange: it sends a request message and returns the
// response message. It is the only seam between the codec and the wire (like
// go-tpm's transport.TPM): [OpenMEI] implements it on Linux's /dev/mei0 and
// pthitest.Replay replays recorded exchanges.
//
// Send must honour ctx (return when it is done) and must be safe for concurrent use
// or be used by one goroutine at a time. The returned slice may be retained by the
// caller.
type Transport interface {
	Send(ctx context.Context, req []byte) ([]byte, error)
}

// ErrNoTransport is returned by a [Client] whose Transport is nil.
var ErrNoTransport = errors.New("pthi: no transport")

// Client sends PTHI commands over a [Transport]. Each method is one exchange. The
// zero value is not usable; set Transport (or use [NewClient]). A Client is safe for
// concurrent use if its Transport is.
type Client struct {
	Transport Transport
	// Watchdog, when set, is a transport connected to the watchdog MEI client
	// ([ClientWatchdog]): [Client.ChangeEnabled], [Client.SetOperationalState]
	// and [Client.EnsureAMTEnabled] use it. Nil: those return [ErrNoTransport].
	Watchdog Transport
}

// NewClient returns a Client over t.
func NewClient(t Transport) *Client { return &Client{Transport: t} }

// Call sends cmd with payload and returns the response payload (after the status).
// A non-success status is a [*CommandError]; a malformed response a [*FormatError],
// after which this package's MEI transports reconnect before the next exchange (the
// answer may not have been this request's). It is the building block for commands
// this package does not wrap.
func (c *Client) Call(ctx context.Context, cmd Command, payload []byte) ([]byte, error) {
	if c == nil || c.Transport == nil {
		return nil, ErrNoTransport
	}
	req, err := EncodeRequest(cmd, payload)
	if err != nil {
		return nil, err
	}
	resp, err := c.Transport.Send(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("pthi: %s: %w", cmd, err)
	}
	p, err := DecodeResponse(cmd, resp)
	if _, malformed := err.(*FormatError); malformed {
		// The answer is not this request's (another command's, or not a PTHI
		// answer at all): the connection may hold a message too many, and
		// every later answer would be one behind. The next exchange
		// reconnects, as intel/lms does for every command
		// (MEICommand::Transact connects a new client each time).
		if r, ok := c.Transport.(resyncer); ok {
			r.resync()
		}
	}
	return p, err
}

// resyncer is implemented by the MEI transports of this package: resync
// makes the next exchange start on a new connection.
type resyncer interface{ resync() }

func (c *Client) callEmpty(ctx context.Context, cmd Command, payload []byte) error {
	p, err := c.Call(ctx, cmd, payload)
	if err != nil {
		return err
	}
	return decodeEmpty(cmd, p)
}

// CodeVersions sends GetCodeVersions (0x0400001A).
func (c *Client) CodeVersions(ctx context.Context) (CodeVersions, error) {
	p, err := c.Call(ctx, CmdGetCodeVersions, nil)
	if err != nil {
		return CodeVersions{}, err
	}
	return DecodeCodeVersions(p)
}

// AMTVersion sends GetCodeVersions and returns [CodeVersions.AMTVersion].
func (c *Client) AMTVersion(ctx context.Context) (amt.Version, error) {
	v, err := c.CodeVersions(ctx)
	if err != nil {
		return amt.Version{}, err
	}
	return v.AMTVersion()
}

// UUID sends GetUUID (0x0400005C).
func (c *Client) UUID(ctx context.Context) (amt.UUID, error) {
	p, err := c.Call(ctx, CmdGetUUID, nil)
	if err != nil {
		return amt.UUID{}, err
	}
	return DecodeUUID(p)
}

// ProvisioningState sends GetProvisioningState (0x04000011).
func (c *Client) ProvisioningState(ctx context.Context) (amt.ProvisioningState, error) {
	p, err := c.Call(ctx, CmdGetProvisioningState, nil)
	if err != nil {
		return 0, err
	}
	return DecodeProvisioningState(p)
}

// ControlMode sends GetControlMode (0x0400006B).
func (c *Client) ControlMode(ctx context.Context) (amt.ControlMode, error) {
	p, err := c.Call(ctx, CmdGetControlMode, nil)
	if err != nil {
		return 0, err
	}
	return DecodeControlMode(p)
}

// TLSMode sends GetProvisioningTLSMode (0x0400002B).
func (c *Client) TLSMode(ctx context.Context) (TLSMode, error) {
	p, err := c.Call(ctx, CmdGetProvisioningTLSMode, nil)
	if err != nil {
		return 0, err
	}
	return DecodeTLSMode(p)
}

// ZeroTouchEnabled sends GetZeroTouchEnabled (0x04000030).
func (c *Client) ZeroTouchEnabled(ctx context.Context) (bool, error) {
	p, err := c.Call(ctx, CmdGetZeroTouchEnabled, nil)
	if err != nil {
		return false, err
	}
	return DecodeZeroTouchEnabled(p)
}

// RNGSeedStatus sends GetRNGSeedStatus (0x0400002E).
func (c *Client) RNGSeedStatus(ctx context.Context) (RNGStatus, error) {
	p, err := c.Call(ctx, CmdGetRNGSeedStatus, nil)
	if err != nil {
		return 0, err
	}
	return DecodeRNGSeedStatus(p)
}

// GenerateRNGSeed sends GenerateRNGSeed (0x04000028). AMT 2.x answers
// [amt.StatusRNGGenerationInProgress] while the seed is being made.
func (c *Client) GenerateRNGSeed(ctx context.Context) error {
	return c.callEmpty(ctx, CmdGenerateRNGSeed, nil)
}

// PKIDNSSuffix sends GetPKIDNSSuffix (0x04000036): the DNS suffix the firmware
// matches against the provisioning certificate (empty when unset; the firmware then
// uses DHCP option 15).
func (c *Client) PKIDNSSuffix(ctx context.Context) (string, error) {
	p, err := c.Call(ctx, CmdGetPKIDNSSuffix, nil)
	if err != nil {
		return "", err
	}
	return DecodePKIDNSSuffix(p)
}

// SetPKIDNSSuffix sends SetPKIDNSSuffix (0x0400002F).
func (c *Client) SetPKIDNSSuffix(ctx context.Context, suffix string) error {
	p, err := dnsSuffixPayload(suffix)
	if err != nil {
		return err
	}
	return c.callEmpty(ctx, CmdSetPKIDNSSuffix, p)
}

// HashHandles sends EnumerateHashHandles (0x0400002C).
func (c *Client) HashHandles(ctx context.Context) ([]uint32, error) {
	p, err := c.Call(ctx, CmdEnumerateHashHandles, nil)
	if err != nil {
		return nil, err
	}
	return DecodeHashHandles(p)
}

// CertHashEntry sends GetCertHashEntry (0x0400002D) for one handle.
func (c *Client) CertHashEntry(ctx context.Context, handle uint32) (CertHashEntry, error) {
	p, err := c.Call(ctx, CmdGetCertHashEntry, binary.LittleEndian.AppendUint32(nil, handle))
	if err != nil {
		return CertHashEntry{}, err
	}
	return DecodeCertHashEntry(p)
}

// CertHashes enumerates the handles and reads every entry: the trusted
// root-certificate hashes with their names and default/active flags.
func (c *Client) CertHashes(ctx context.Context) ([]CertHashEntry, error) {
	handles, err := c.HashHandles(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]CertHashEntry, 0, len(handles))
	for _, h := range handles {
		e, err := c.CertHashEntry(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("pthi: hash handle %d: %w", h, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// SetProvisioningServerOTP sends SetProvisioningServerOTP (0x0400002A). The OTP must
// be 8–31 printable ASCII characters ([ErrOTPFormat]); it never appears in an error.
func (c *Client) SetProvisioningServerOTP(ctx context.Context, otp amt.Secret) error {
	p, err := otpPayload(otp)
	if err != nil {
		return err
	}
	return c.callEmpty(ctx, CmdSetProvisioningServerOTP, p)
}

// StartConfiguration sends StartConfiguration (0x04000029), which opens the network
// interface for remote configuration and starts the hellos. Firmware answers
// [amt.StatusCertificateNotReady] while it is still generating its certificate;
// the configuration then starts by itself (intel/lms treats it as success).
func (c *Client) StartConfiguration(ctx context.Context) error {
	return c.callEmpty(ctx, CmdStartConfiguration, nil)
}

// StartConfigurationEx sends StartConfigurationEx (0x04000062) with the IPv6 switch
// (an AMT_BOOLEAN, intel/lms StartConfigurationExCommand.h).
func (c *Client) StartConfigurationEx(ctx context.Context, ipv6 bool) error {
	return c.callEmpty(ctx, CmdStartConfigurationEx, appendBool(nil, ipv6))
}

// StopConfiguration sends StopConfiguration (0x0400005E). Firmware that is not
// In-provisioning answers [amt.StatusInvalidPTMode].
func (c *Client) StopConfiguration(ctx context.Context) error {
	return c.callEmpty(ctx, CmdStopConfiguration, nil)
}

// LocalSystemAccount sends GetLocalSystemAccount (0x04000067) with its 40 reserved
// zero bytes. The password is held as an [amt.Secret].
func (c *Client) LocalSystemAccount(ctx context.Context) (LocalSystemAccount, error) {
	p, err := c.Call(ctx, CmdGetLocalSystemAccount, make([]byte, localAccountReqLen))
	if err != nil {
		return LocalSystemAccount{}, err
	}
	return DecodeLocalSystemAccount(p)
}

// LANSettings sends GetLANInterfaceSettings (0x04000048) for the given interface.
func (c *Client) LANSettings(ctx context.Context, iface Interface) (LANSettings, error) {
	p, err := c.Call(ctx, CmdGetLANInterfaceSettings, binary.LittleEndian.AppendUint32(nil, uint32(iface)))
	if err != nil {
		return LANSettings{}, err
	}
	return DecodeLANSettings(p)
}

// StartConfigurationHBased sends StartConfigurationHBased (0x0400008B) and returns
// the hash of AMT's TLS certificate, which the caller pins when it opens TLS to LMS
// on port 16993 (rpc-go internal/commands/activate/local.go and
// internal/certs/lmsTls.go). rpc-go retries a failure three times, two seconds
// apart; this method sends once.
func (c *Client) StartConfigurationHBased(ctx context.Context, r HBasedRequest) (amt.CertHash, error) {
	p, err := r.AppendBinary(make([]byte, 0, hbasedRequestLen))
	if err != nil {
		return amt.CertHash{}, err
	}
	resp, err := c.Call(ctx, CmdStartConfigurationHBased, p)
	if err != nil {
		return amt.CertHash{}, err
	}
	return DecodeHBasedResponse(resp)
}

// LeafHash returns the StartConfigurationHBased server hash of a provisioning
// certificate's leaf: SHA-384 of its DER when the leaf is signed with a SHA-384 or
// SHA-512 algorithm, SHA-256 otherwise. rpc-go picks the algorithm from the leaf's
// signature algorithm the same way but refuses SHA-1 and SHA-512 signatures;
// amtkit refuses SHA-1 and MD5 and maps SHA-512 to SHA-384, the strongest
// algorithm the command takes.
func LeafHash(leaf *x509.Certificate) (amt.CertHash, error) {
	if leaf == nil || len(leaf.Raw) == 0 {
		return amt.CertHash{}, fmt.Errorf("%w: no leaf certificate", ErrInvalidArgument)
	}
	switch leaf.SignatureAlgorithm {
	case x509.SHA256WithRSA, x509.ECDSAWithSHA256, x509.SHA256WithRSAPSS:
		return amt.HashSHA256.Sum(leaf.Raw)
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS,
		x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		return amt.HashSHA384.Sum(leaf.Raw)
	}
	return amt.CertHash{}, fmt.Errorf("%w: leaf signature algorithm %v is not SHA-256/384/512", ErrInvalidArgument, leaf.SignatureAlgorithm)
}
