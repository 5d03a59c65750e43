package provisioning

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// ErrNotFound is returned by a [Store] when it has no record for a device.
var ErrNotFound = errors.New("provisioning: no record for device")

// Store keeps one [DeviceRecord] per device: the session's progress (written
// before each next step, so a restarted provisioner can report or resume it), the
// credentials it set, and the certificates it installed (for renewal and
// revocation). Implementations must be safe for concurrent use and must persist
// the secret fields ([amt.Secret] marshals as "[REDACTED]" on purpose: store the
// revealed value in a protected column, not through JSON).
type Store interface {
	// Load returns the record for uuid, or ErrNotFound.
	Load(ctx context.Context, uuid amt.UUID) (*DeviceRecord, error)
	// Save creates or replaces the record for r.UUID.
	Save(ctx context.Context, r *DeviceRecord) error
	// Delete removes the record for uuid (no error if absent).
	Delete(ctx context.Context, uuid amt.UUID) error
	// List returns every record.
	List(ctx context.Context) ([]*DeviceRecord, error)
}

// Done records which non-idempotent actions a session has completed, so that a
// resumed session never repeats one blindly.
type Done uint32

// Actions a session records.
const (
	DoneMEBxPassword Done = 1 << iota
	DoneAdminACL
	DoneHostName
	DoneClock
	DoneKeyPair
	DoneTLSCertificate
	DoneTLSBound
	DoneTLSEnabled
	DoneUsers
	DoneIEEE8021X
	DoneOTPExtended
	DoneCommitSent
	DoneCommitted
	DoneAdminSetupSent
)

// Has reports whether every action in d2 is recorded in d.
func (d Done) Has(d2 Done) bool { return d&d2 == d2 }

// CertificatePurpose says what a certificate installed in AMT is for.
type CertificatePurpose string

// Certificate purposes.
const (
	PurposeTLS       CertificatePurpose = "tls"   // AMT's TLS server certificate
	PurposeIEEE8021X CertificatePurpose = "8021x" // 802.1X client certificate
)

// DeviceCertificate is a certificate amtkit had issued for a device and installed.
type DeviceCertificate struct {
	Purpose   CertificatePurpose
	DER       []byte    // the leaf
	IssuerDER []byte    // the certificate of the CA that issued it (from the Issuer's chain), for revocation checks
	Handle    string    // AMT_PublicKeyCertificate InstanceID
	KeyHandle string    // AMT_PublicPrivateKeyPair InstanceID
	NotAfter  time.Time // copied from the certificate for cheap scans
	Revoked   bool      // revocation was requested from the Issuer
	// RemovedFromDevice: the certificate (and its key) was replaced and has been
	// deleted from the device by the Maintainer.
	RemovedFromDevice bool
	// Pending: a renewal installed and bound the certificate but has not yet
	// read it back in use; the one it replaces stays current (and unrevoked)
	// until it has.
	Pending bool
}

// Certificate parses DER.
func (c DeviceCertificate) Certificate() (*x509.Certificate, error) {
	return x509.ParseCertificate(c.DER)
}

// StepRecord is one entry of a session's history.
type StepRecord struct {
	Step     Step
	State    State
	At       time.Time
	Duration time.Duration
	Reason   Reason
	Error    string
	Detail   string
}

// DeviceRecord is everything amtkit knows about one device: how it was last
// seen, the outcome of its newest session, what the device holds (the
// credentials and certificates of the provisioning that was verified), and —
// kept apart — the progress of a session that has not finished.
//
// A session changes the established fields only when its commit is verified
// (it then merges its [SessionRecord] into them), so a hello from an impostor,
// or a re-provisioning that fails, never touches the credentials or
// certificates the device really holds.
type DeviceRecord struct {
	UUID      amt.UUID
	Inventory Inventory // from the Authorizer (or the agent request)

	// Discovery.
	Source       netip.AddrPort // source of the last hello a session accepted
	HelloVersion uint16
	FirstSeen    time.Time
	LastSeen     time.Time

	// Outcome of the newest session that was allowed to record one.
	State     State
	Reason    Reason
	LastError string // error text (never holds secrets)
	History   []StepRecord
	Attempts  int       // sessions started for this device
	UpdatedAt time.Time // last Save

	// Session is the progress of a session that has not reached Provisioned
	// (running, or failed and resumable by the device's next hello or
	// [Provisioner.Resume]); nil otherwise.
	Session *SessionRecord

	// What the device holds, from the provisioning that was verified. Secrets:
	// never logged; a Store must persist them sealed.
	Done          Done // what that provisioning applied
	Bundle        string
	MatchedRoot   amt.CertHash
	PID           string // PSK provisioning: the PID used
	AgentOTP      bool   // the provisioning was agent-initiated (OTP verified)
	Firmware      amt.Version
	DigestRealm   string
	ControlMode   amt.ControlMode
	DeviceCertPin []byte // SHA-256 of the device's TLS leaf seen while provisioning
	OnDieVerified bool   // the device's certificate chained to a configured On-Die root
	AdminUser     string
	AdminPassword amt.Secret
	MEBxPassword  amt.Secret
	Users         []UserCredential // the profile's user accounts with their passwords
	// Certificates amtkit installed, newest last per purpose.
	Certificates []DeviceCertificate

	Blocked bool // the integrator blocked the device: no further provisioning

	// Agent is the pending agent-initiated request (ExpectAgentRequest), kept
	// until a session verifies the device's OTP. Its OTP is a secret.
	Agent *AgentRequest
}

// SessionRecord is the progress of a session that has not finished: what it
// did on the device ([Done]) and what it generated and learnt, recorded before
// each next step so that a restarted provisioner resumes it without repeating
// anything that is not idempotent.
type SessionRecord struct {
	Started       time.Time
	Done          Done
	Bundle        string // chosen provisioning bundle: hex SHA-256 of its leaf
	MatchedRoot   amt.CertHash
	PID           string // PSK sessions: the PID used
	AgentOTP      bool   // an OTP is verified in this session
	Firmware      amt.Version
	DigestRealm   string
	DeviceCertPin []byte // SHA-256 of the device's TLS leaf seen at connect
	OnDieVerified bool
	AdminUser     string
	AdminPassword amt.Secret
	MEBxPassword  amt.Secret
	Users         []UserCredential
	// Certificates installed by this session.
	Certificates []DeviceCertificate
}

// UserCredential is a digest account a profile asked for, with the password the
// device holds for it (generated per device unless the profile fixed one).
type UserCredential struct {
	Name     string
	Password amt.Secret
}

// Provisioned reports whether the record holds a verified provisioning.
func (r *DeviceRecord) Provisioned() bool {
	return r.Done.Has(DoneCommitted) || r.State == StateProvisioned
}

// Clone returns a deep copy of r.
func (r *DeviceRecord) Clone() *DeviceRecord {
	c := *r
	c.History = slices.Clone(r.History)
	c.DeviceCertPin = bytes.Clone(r.DeviceCertPin)
	c.MatchedRoot.Sum = bytes.Clone(r.MatchedRoot.Sum)
	c.Users = slices.Clone(r.Users)
	c.Certificates = cloneCerts(r.Certificates)
	if r.Agent != nil {
		a := *r.Agent
		c.Agent = &a
	}
	if r.Session != nil {
		c.Session = r.Session.Clone()
	}
	return &c
}

// Clone returns a deep copy of s.
func (s *SessionRecord) Clone() *SessionRecord {
	c := *s
	c.DeviceCertPin = bytes.Clone(s.DeviceCertPin)
	c.MatchedRoot.Sum = bytes.Clone(s.MatchedRoot.Sum)
	c.Users = slices.Clone(s.Users)
	c.Certificates = cloneCerts(s.Certificates)
	return &c
}

func cloneCerts(in []DeviceCertificate) []DeviceCertificate {
	if in == nil {
		return nil
	}
	out := make([]DeviceCertificate, len(in))
	for i, dc := range in {
		dc.DER = bytes.Clone(dc.DER)
		dc.IssuerDER = bytes.Clone(dc.IssuerDER)
		out[i] = dc
	}
	return out
}

// CurrentCertificate returns the newest unrevoked certificate for purpose.
func (r *DeviceRecord) CurrentCertificate(p CertificatePurpose) (DeviceCertificate, bool) {
	return currentCertificate(r.Certificates, p)
}

func currentCertificate(list []DeviceCertificate, p CertificatePurpose) (DeviceCertificate, bool) {
	for i := len(list) - 1; i >= 0; i-- {
		if c := list[i]; c.Purpose == p && !c.Revoked && !c.Pending {
			return c, true
		}
	}
	return DeviceCertificate{}, false
}

// MemoryStore is a [Store] in memory, safe for concurrent use. It is the default
// when a Provisioner has no Store; its records are lost when the process exits.
type MemoryStore struct {
	mu   sync.RWMutex
	recs map[amt.UUID]*DeviceRecord
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{recs: make(map[amt.UUID]*DeviceRecord)} }

// Load implements [Store].
func (m *MemoryStore) Load(ctx context.Context, uuid amt.UUID) (*DeviceRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.recs[uuid]
	if !ok {
		return nil, ErrNotFound
	}
	return r.Clone(), nil
}

// Save implements [Store].
func (m *MemoryStore) Save(ctx context.Context, r *DeviceRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = make(map[amt.UUID]*DeviceRecord)
	}
	m.recs[r.UUID] = r.Clone()
	return nil
}

// Delete implements [Store].
func (m *MemoryStore) Delete(ctx context.Context, uuid amt.UUID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, uuid)
	return nil
}

// List implements [Store]; records are returned in UUID order.
func (m *MemoryStore) List(ctx context.Context) ([]*DeviceRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	out := make([]*DeviceRecord, 0, len(m.recs))
	for _, r := range m.recs {
		out = append(out, r.Clone())
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b *DeviceRecord) int { return bytes.Compare(a.UUID[:], b.UUID[:]) })
	return out, nil
}
