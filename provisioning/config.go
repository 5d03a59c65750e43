package provisioning

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/tlspsk"
)

// Config is the integrator's configuration of a [Provisioner]. Every field's zero
// value is documented; Authorizer is required. Without Bundles (and PSK) every
// hello is rejected (no-matching-root; Audit reports no-bundles): what a
// process that only opens and maintains provisioned devices wants.
type Config struct {
	// Bundles are the provisioning certificate chains (leaf→root, root included)
	// with their keys as crypto.Signer (an HSM- or TPM-held key works). A session
	// uses the first bundle whose root hash is in the device's hello, whose name
	// covers the device's DNS suffix, and which is valid and not revoked.
	Bundles []certs.Bundle

	// Authorizer decides which devices may be provisioned. Required.
	Authorizer Authorizer

	// Profiles maps profile names to configurations. Inventory records name a
	// profile; a missing name uses DefaultProfile. Nil: every device gets the
	// zero Profile. The Provisioner reads the map at each session and
	// reconcile and never writes it, so one map may serve several
	// provisioners; change it only while none of them runs a session, a
	// reconcile or a Maintainer run (or make a new Provisioner: New checks
	// the profiles, a profile added later is not checked).
	Profiles map[string]Profile
	// DefaultProfile names the profile of devices whose inventory names none;
	// when Profiles is set it must be among them. Empty: DefaultProfileName
	// ("default").
	DefaultProfile string

	// Reprovision decides whether a device that is already provisioned (its
	// record holds a verified provisioning) may be provisioned again without
	// proving it is the same device. A hello for a provisioned device changes,
	// revokes and issues nothing until its session has either shown the
	// device's certificate pinned then (or an On-Die chain bound to it) or
	// Reprovision returned nil for it; any error refuses (reason
	// reprovision-refused). Nil: refuse every such device that cannot prove
	// itself.
	Reprovision func(ctx context.Context, rec *DeviceRecord, h ReceivedHello) error

	// OTPMismatchLimit is how many devices may answer for one UUID with an OTP
	// other than its agent request's before the request is locked for
	// OTPLockout. Zero: 3. OTPLockout zero: 15 minutes.
	OTPMismatchLimit int
	OTPLockout       time.Duration

	// Store keeps one record per device. Nil: a new MemoryStore. Several
	// provisioners may share one Store (provisioning/sqlstore with
	// PostgreSQL): leases make exactly one of them work on a device at a
	// time (docs/state.md).
	Store Store
	// Owner names this Provisioner in the device leases it takes. Every
	// provisioner sharing a Store needs its own; a provisioner restarted with
	// the same Owner takes its leases back at once instead of waiting for
	// them to expire. Empty: a new random name per Provisioner, from the
	// host name and Rand.
	Owner string
	// LeaseTTL is how long a device's lease lasts unless renewed: a
	// provisioner renews it every third to half of LeaseTTL while it works on the
	// device (and checks it before each save), so a provisioner that died
	// holds a device for at most LeaseTTL. Keep it well above the clock
	// difference between provisioners. Zero: 1 minute. New refuses a
	// negative value or one under a millisecond.
	LeaseTTL time.Duration

	// Observer receives every event, from many sessions at once (see
	// [Observer]). Nil: events are only logged, to Logger when it is set.
	Observer Observer

	// Issuer certifies the keys AMT generates for its TLS and 802.1X
	// certificates. Required when a profile has TLS or IEEE8021X set. Called
	// from many sessions and Maintainer devices at once: it must be safe for
	// concurrent use ([Issuer]).
	Issuer Issuer

	// PSK holds PID/PPS pairs for version 2 (PSK) hellos. Nil: PSK hellos are
	// rejected.
	PSK pskx.Store
	// PSKDerivation maps a pair to the TLS-PSK identity and key. Zero: the tlspsk
	// default (identity = PID, key = the PPS's 32 characters; the firmware's
	// exact choice is not public).
	PSKDerivation tlspsk.Derivation

	// OnDieRoots are Intel On-Die CA roots. When set, a device whose TLS
	// certificate chains to one of them is verified, OnDieBinding decides
	// whether it is the session's device, and the session records it; profiles
	// with RequireOnDie reject devices that do not chain to these roots.
	OnDieRoots *x509.CertPool
	// OnDieBinding decides whether a device certificate chain that verified
	// against OnDieRoots belongs to the device of the session; an error rejects
	// the device ([ReasonDeviceUntrusted]). Nil: [BindOnDieUUID], which needs
	// the certificate to name the hello's UUID. Intel's real On-Die
	// certificates do not name the SMBIOS UUID: with real devices supply a
	// binding that knows the platform (docs/provisioning.md), or the named
	// [TrustAnyOnDieDevice].
	OnDieBinding OnDieBinder

	// DeviceRoots verify AMT's TLS certificate after provisioning (the roots of
	// the Issuer's CA). Nil: the chain the Issuer returned is trusted.
	DeviceRoots *x509.CertPool

	// ClientCertificate supplies the client certificate every connection to
	// a provisioned device offers — the read-back after the commit, reconcile,
	// the Maintainer, OpenDevice — for devices whose profile sets
	// TLS.MutualAuthentication (RPS's mutual TLS modes). Go calls it only when
	// the device asks for a certificate, so devices without mutual TLS see
	// none. Return a tls.Certificate whose PrivateKey is a crypto.Signer (an
	// HSM- or TPM-held key works) and whose chain leads to one of the
	// profile's TrustedClientRoots (and whose CN is in TrustedCN when that is
	// set). Required when a profile sets TLS.MutualAuthentication. Called from
	// many connections at once: it must be safe for concurrent use. The area
	// "tls" calls it before it switches a device to mutual authentication (or
	// changes its TrustedCN) and changes nothing when the certificate would
	// not be accepted ([ErrClientCertificateRefused]).
	ClientCertificate func(*tls.CertificateRequestInfo) (*tls.Certificate, error)

	// CheckRevocation reports whether cert, issued by issuer, is revoked: nil
	// if in good standing, an error if revoked or if its status cannot be read
	// (a CRL that cannot be fetched fails closed). It is the one revocation
	// shape of amtkit (wsman.CheckRevocation takes it too); certs.CRLRevocation
	// builds one from a CRL source. It is applied to every link of a
	// provisioning bundle's chain before the bundle is used, and to AMT's TLS
	// certificate on every connection after provisioning. Nil: no revocation
	// checks. Called from many connections at once: it must be safe for
	// concurrent use.
	CheckRevocation func(ctx context.Context, cert, issuer *x509.Certificate) error

	// ExpiryPolicy sets the provisioning-certificate warning/error windows and
	// the device-certificate renewal window. Zero: Configuration Manager's
	// defaults (40/15/42 days, every 7 days).
	ExpiryPolicy certs.ExpiryPolicy

	// Rand is the source of passwords, nonces and TLS randomness. Nil:
	// crypto/rand. Read from many sessions, connections and Maintainer
	// devices at once: it must be safe for concurrent use.
	Rand io.Reader
	// Now is the clock. Nil: time.Now. Called from many goroutines at once
	// (sessions, Maintainer devices): it must be safe for concurrent use.
	Now func() time.Time
	// Sleep pauses a retry loop — the resend of a dropped first request, key
	// generation retries, the read-back after CommitChanges — and the
	// Maintainer's schedule, for d or until ctx ends (returning ctx's error).
	// Nil: a real timer. Tests inject one that returns at once. Called from
	// many goroutines at once: it must be safe for concurrent use.
	Sleep func(ctx context.Context, d time.Duration) error

	// Dial opens TCP connections to devices. Nil: a net.Dialer. Called from
	// many sessions and Maintainer devices at once: it must be safe for
	// concurrent use.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DevicePort is AMT's TLS port. Zero: 16993. New refuses a value outside
	// 0–65535.
	DevicePort int
	// DeviceHTTPPort is AMT's non-TLS port, used after provisioning by profiles
	// without TLS. Zero: 16992.
	DeviceHTTPPort int
	// DeviceAddress overrides where a device is reached (for relays, NAT or
	// simulated fleets); port is DevicePort or DeviceHTTPPort. Nil or "":
	// Inventory.Address for the TLS port, else the hello's source address.
	// Called from many sessions and Maintainer devices at once: it must be
	// safe for concurrent use.
	DeviceAddress func(hello ReceivedHello, inv Inventory, port int) string

	// Logger receives structured logs (never secrets). Nil: no logs.
	Logger *slog.Logger

	// MaxSessions bounds sessions running at once; further hellos wait. Zero: 64.
	MaxSessions int
	// MaxQueued bounds sessions started by HandleHello (running or waiting);
	// further hellos are dropped with an "overloaded" event (devices resend
	// them). Zero: 1024.
	MaxQueued int
	// SessionTimeout bounds one session. Zero: 10 minutes.
	SessionTimeout time.Duration
	// CallTimeout bounds one WS-Management call. Zero: 60 seconds (AMT may take
	// 30 s or more to reconfigure TLS).
	CallTimeout time.Duration
	// CommitVerifyAttempts and CommitVerifyDelay control reading the state back
	// after CommitChanges. Zero: 12 attempts, 5 s apart — about a minute, since
	// AMT can take 30 s or more to restart its network stack with TLS
	// (device-management-toolkit/rps src/stateMachines/tls.ts gives each step a
	// long timeout; MeshCentral amtmanager.js waits 10 s before its first
	// attempt). Connection failures use every attempt; answers that the
	// commit has not taken effect (still in provisioning, the new admin
	// refused) are final at the third, as rpc-go re-reads three times.
	CommitVerifyAttempts int
	CommitVerifyDelay    time.Duration
	// AgentRequestTTL is how long an agent request waits for its hello when it
	// sets no expiry. Zero: 24 hours.
	AgentRequestTTL time.Duration

	// RecordUnknownDevices keeps a discovery record (aged out by the
	// Maintainer) for hellos whose UUID the Authorizer does not know. Off by
	// default: anyone can send hellos with made-up UUIDs, and every one would
	// grow the Store. Unknown devices are reported as events either way.
	RecordUnknownDevices bool

	// The fields below describe the deployment for Audit; the engine does not use
	// them.

	// ServerName is the name devices resolve to find this server. Empty:
	// "ProvisionServer", the firmware default (an audit finding).
	ServerName string
	// ListenAddr is the hello listener's address: where
	// [Provisioner.ListenAndServe] listens, and what Audit judges. With
	// [Provisioner.Serve] on a listener of your own, set it to that
	// listener's address. Empty: DefaultListenAddr, ":9971" (an audit
	// finding where a non-default port is possible).
	ListenAddr string
	// ProvisioningAccounts are the admin credentials tried on devices that were
	// provisioned before (Configuration Manager's "AMT Provisioning and Discovery
	// Accounts"). Audit warns when there are more than three.
	ProvisioningAccounts []Account
}

// Account is a digest user name and password.
type Account struct {
	User     string
	Password amt.Secret
}
