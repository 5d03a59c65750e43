package tlspsk

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
)

// Config configures a TLS-PSK connection. The zero value of each optional field
// is documented; a Config must not be modified once a connection uses it, and
// may be shared by many connections.
type Config struct {
	// Identity is the psk_identity the client sends (RFC 4279 §2). By default
	// ([Derivation]) it is the 8-character PID. Client side only; at most 65535
	// bytes.
	Identity []byte
	// Key is the pre-shared key of the client. By default it is the PPS's 32 ASCII
	// characters. Client side only; 1–65535 bytes.
	Key amt.Secret

	// GetKey returns the key for the identity a client sent. To refuse the
	// identity return an error wrapping ErrUnknownIdentity (or ErrPairNotFound):
	// the client gets an unknown_psk_identity alert; other errors send
	// internal_error. ctx is the handshake's context. Server side only; required.
	GetKey func(ctx context.Context, identity []byte) (amt.Secret, error)
	// IdentityHint, if not empty, is sent in a ServerKeyExchange message. Server
	// side only; by default no hint (and no ServerKeyExchange) is sent.
	IdentityHint []byte

	// CipherSuites lists the suites to offer (client) or accept, in preference
	// order (server). Nil means [DefaultCipherSuites].
	CipherSuites []uint16
	// MinVersion and MaxVersion bound the TLS version; zero means VersionTLS10
	// and VersionTLS12. PSK-era AMT (2.x–10.x) speaks TLS 1.0 (perhaps 1.1).
	MinVersion, MaxVersion uint16

	// Rand is the source of randomness for hello randoms and explicit IVs; nil
	// means crypto/rand.
	Rand io.Reader
	// NoRenegotiationInfo (server side) leaves the RFC 5746 renegotiation_info
	// extension out of the ServerHello even when the client signals support,
	// as Intel AMT's TLS server does: clients that require it fail against
	// AMT (MeshCommander issues 120 and 126; MeshCentral pull request 4766
	// allows unsafe legacy renegotiation for AMT). amtsim sets it. A client
	// must accept such a server; renegotiation is refused either way.
	NoRenegotiationInfo bool

	// KeyLogWriter, if set, receives the master secret of every connection in
	// NSS key log format ("CLIENT_RANDOM …"), for Wireshark. It defeats the
	// security of the connections: use it for debugging only.
	KeyLogWriter io.Writer
}

func (c *Config) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return cryptorand.Reader
}

func (c *Config) suites() ([]*cipherSuite, error) {
	ids := c.CipherSuites
	if ids == nil {
		ids = DefaultCipherSuites()
	}
	var out []*cipherSuite
	for _, id := range ids {
		s := suiteByID(id)
		if s == nil {
			return nil, fmt.Errorf("tlspsk: cipher suite %s is not implemented", CipherSuiteName(id))
		}
		if !slices.ContainsFunc(out, func(o *cipherSuite) bool { return o.id == id }) { // a repeat adds nothing (and a long list would not fit a ClientHello)
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("tlspsk: %w: Config.CipherSuites is empty", ErrNoCommonSuite)
	}
	return out, nil
}

func (c *Config) versions() (lo, hi uint16, err error) {
	lo, hi = c.MinVersion, c.MaxVersion
	if lo == 0 {
		lo = VersionTLS10
	}
	if hi == 0 {
		hi = VersionTLS12
	}
	if lo < VersionTLS10 || hi > VersionTLS12 || lo > hi {
		return 0, 0, fmt.Errorf("tlspsk: %w: Config allows %s to %s; supported are TLS 1.0 to 1.2", ErrVersion, VersionName(lo), VersionName(hi))
	}
	return lo, hi, nil
}

// Derivation maps a PID/PPS pair to the TLS-PSK identity and key. What the
// firmware uses is not public; the zero value is amtkit's assumption: the
// identity is the PID's 8 characters without the dash and the key is the PPS's
// 32 characters without dashes, as ASCII bytes (HP's vPro provisioning guides
// say only that the PID and PPS generate the pre-master secret).
// Replace any function to try another convention.
type Derivation struct {
	// Identity returns the psk_identity for a PID; nil means the compact PID.
	Identity func(pskx.PID) []byte
	// Key returns the pre-shared key for a PPS; nil means the compact PPS.
	Key func(pskx.PPS) amt.Secret
	// ParseIdentity recovers the PID from a psk_identity (server side); nil means
	// [pskx.ParsePID] of the identity's text.
	ParseIdentity func([]byte) (pskx.PID, error)
}

// IdentityFor returns the psk_identity for pid.
func (d Derivation) IdentityFor(pid pskx.PID) []byte {
	if d.Identity != nil {
		return d.Identity(pid)
	}
	return []byte(pid.Compact())
}

// KeyFor returns the pre-shared key for pps.
func (d Derivation) KeyFor(pps pskx.PPS) amt.Secret {
	if d.Key != nil {
		return d.Key(pps)
	}
	return pps.Secret()
}

// PIDFor recovers the PID from an identity a client sent.
func (d Derivation) PIDFor(identity []byte) (pskx.PID, error) {
	if d.ParseIdentity != nil {
		return d.ParseIdentity(identity)
	}
	return pskx.ParsePID(string(identity))
}

// ClientConfig returns a client Config for the pair, with defaults otherwise.
func (d Derivation) ClientConfig(pid pskx.PID, pps pskx.PPS) *Config {
	return &Config{Identity: d.IdentityFor(pid), Key: d.KeyFor(pps)}
}

// KeyLookup returns a Config.GetKey that finds the PPS for a client's identity
// in store. Identities that are not PIDs, and PIDs not in the store, are
// refused with an error wrapping ErrUnknownIdentity.
func (d Derivation) KeyLookup(store pskx.Store) func(context.Context, []byte) (amt.Secret, error) {
	return func(ctx context.Context, identity []byte) (amt.Secret, error) {
		pid, err := d.PIDFor(identity)
		if err != nil {
			return amt.Secret{}, fmt.Errorf("%w: %w", ErrUnknownIdentity, err)
		}
		p, err := store.Lookup(ctx, pid)
		if err != nil {
			if errors.Is(err, pskx.ErrPairNotFound) {
				return amt.Secret{}, fmt.Errorf("%w: %w", ErrUnknownIdentity, err)
			}
			return amt.Secret{}, err
		}
		return d.KeyFor(p.PPS), nil
	}
}

// DialPSK connects to addr on the named network and runs the client handshake
// under ctx (which bounds both the dial and the handshake). AMT listens for
// provisioning on 16993.
func Dial(ctx context.Context, network, addr string, config *Config) (*Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := Client(raw, config)
	if err := c.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return c, nil
}

// NewListener returns a net.Listener whose Accept returns server-side TLS-PSK
// connections ([*Conn]) over the connections inner accepts. The handshake runs
// on the first Read or Write (so http.Serve works unchanged) or on
// [Conn.HandshakeContext].
func NewListener(inner net.Listener, config *Config) net.Listener {
	return &listener{Listener: inner, config: config}
}

type listener struct {
	net.Listener
	config *Config
}

// Accept wraps the next accepted connection in a server-side [*Conn].
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Server(c, l.config), nil
}

func containsSuite(list []uint16, id uint16) bool { return slices.Contains(list, id) }
