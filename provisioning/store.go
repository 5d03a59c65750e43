package provisioning

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/seal"
)

// ErrNotFound is returned by a [Store] when it has no record for a device.
var ErrNotFound = errors.New("provisioning: no record for device")

// ErrConflict is matched (errors.Is) by the error of a [Store.Save] or
// [Store.Delete] whose record changed since it was read: see [ConflictError].
var ErrConflict = errors.New("provisioning: the record changed since it was read")

// ConflictError is the error of a compare-and-swap that lost: the record's
// stored version is not the one the writer read. Reload the record, apply
// your change again and save (the engine does so for its own writes, see
// docs/state.md). errors.Is(err, ErrConflict) holds.
type ConflictError struct {
	Device   amt.UUID
	Expected uint64 // the version the writer read (0: it expected no record)
	Actual   uint64 // the version stored now (0: there is none)
}

func (e *ConflictError) Error() string {
	switch {
	case e.Expected == 0:
		return fmt.Sprintf("provisioning: record %s changed since it was read: expected none, the store has version %d", e.Device, e.Actual)
	case e.Actual == 0:
		return fmt.Sprintf("provisioning: record %s changed since it was read: expected version %d, the store has none", e.Device, e.Expected)
	}
	return fmt.Sprintf("provisioning: record %s changed since it was read: expected version %d, the store has %d", e.Device, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// RecordError is the error for one stored record that cannot be read: its
// bytes are not a record of a format this build knows (damaged, changed
// outside amtkit, copied from another device's row, an older value written
// back, larger than [MaxRecordSize], or written by a newer amtkit), or a
// sealed value in it does not open with the Sealer's keys (a key removed from
// the keyring, a value changed). errors.Is(err, ErrRecordFormat), or the
// Sealer's error (seal.ErrOpen, seal.ErrFormat, seal.ErrUnknownKey), holds
// through Unwrap.
//
// [RecordCodec.UnmarshalFor] returns it, and so a store's Load does for that
// device. [RecordStore.Records] yields it in the record's place and goes on
// with the next, so that one unreadable row does not stop the Maintainer,
// Resume or Reseal for the rest of the fleet; they report it (an event with
// ReasonStoreFailed, [MaintenanceReport.Unreadable]) and carry on. What to do
// is in docs/troubleshooting.md: restore the row from a backup, or put the
// missing key back in the Keyring. Deleting the row loses the device's
// credentials.
type RecordError struct {
	// Device is the device whose row or key it is; zero when the key or
	// row does not name a UUID.
	Device amt.UUID
	Err    error
}

func (e *RecordError) Error() string {
	if e.Device == (amt.UUID{}) {
		return "provisioning: a stored record cannot be read: " + e.Err.Error()
	}
	return fmt.Sprintf("provisioning: the stored record of %s cannot be read: %v", e.Device, e.Err)
}

// Unwrap returns the decoding or Sealer error.
func (e *RecordError) Unwrap() error { return e.Err }

// recordError returns err as a *RecordError for u when it says that the
// stored bytes cannot be read (see RecordError), and err itself otherwise (a
// context or Sealer failure, a missing Sealer: nothing wrong with the record).
func recordError(u amt.UUID, err error) error {
	var re *RecordError
	if err == nil || errors.As(err, &re) {
		return err
	}
	if errors.Is(err, ErrRecordFormat) || errors.Is(err, seal.ErrOpen) || errors.Is(err, seal.ErrFormat) || errors.Is(err, seal.ErrUnknownKey) {
		return &RecordError{Device: u, Err: err}
	}
	return err
}

// Store keeps one [DeviceRecord] per device — the session's progress (written
// before each next step, so a restarted provisioner can report or resume it),
// the credentials it set, the certificates it installed — and the leases that
// let several provisioners share it. Implementations must be safe for
// concurrent use (also by several processes, where the store is shared), must
// honour ctx, and must never store a secret field in plaintext: [RecordCodec]
// encodes every field with the secrets sealed. [MemoryStore], [NewKVStore] and
// provisioning/sqlstore implement it; provisioning/storetest is the
// conformance suite every implementation runs from its own tests.
type Store interface {
	RecordStore
	LeaseStore
}

// RecordStore holds versioned device records. Writes are compare-and-swap on
// [DeviceRecord.Version]: a writer saves what it read, and loses (a
// [ConflictError]) when someone saved in between, so no update is lost
// silently.
type RecordStore interface {
	// Load returns the record for uuid (with its Version), or ErrNotFound.
	Load(ctx context.Context, uuid amt.UUID) (*DeviceRecord, error)
	// Save writes r if the stored record's version is r.Version (0: there must
	// be no record yet), and sets r.Version to the new version, which is
	// greater. Otherwise it changes nothing and returns a *ConflictError.
	// Save returns only once the record is durable. A device's versions
	// never repeat, even across Delete: a record created again goes on from
	// the deleted one's last version, so that a writer still holding an old
	// version loses.
	Save(ctx context.Context, r *DeviceRecord) error
	// Delete removes the record for uuid if its version is version (a
	// *ConflictError otherwise), keeping its last version (see Save).
	// Deleting a record that does not exist is not an error.
	Delete(ctx context.Context, uuid amt.UUID, version uint64) error
	// Records yields the records f matches, in increasing UUID order, a few
	// at a time: never the whole fleet in memory, and no lock or transaction
	// is held while the caller's loop body runs (it may Save). A record
	// saved during the iteration may or may not be seen. A record that
	// cannot be read is yielded as a *[RecordError] in its place, and the
	// sequence goes on; any other error ends it.
	Records(ctx context.Context, f Filter) iter.Seq2[*DeviceRecord, error]
}

// LeaseStore keeps one lease per device, so that exactly one provisioner
// works on a device at a time (see [Lease]). Times come from the caller, so
// that every provisioner decides expiry on its own (synchronised) clock and
// tests inject one.
type LeaseStore interface {
	// AcquireLease gives owner the device's lease until now+ttl, if it is free:
	// never taken, released, expired at now, or held by the same owner (a
	// restarted provisioner takes its own leases back at once). The new lease
	// has a greater Token than every earlier lease of the device. When another
	// owner holds it, the error is a *LeaseHeldError (errors.Is ErrLeaseHeld).
	AcquireLease(ctx context.Context, device amt.UUID, owner string, now time.Time, ttl time.Duration) (Lease, error)
	// RenewLease extends l to now+ttl if it is still the device's lease (same
	// Token and owner, not released) — even if it expired, as long as nobody
	// took it since. Otherwise it returns an error matching ErrLeaseLost.
	RenewLease(ctx context.Context, l Lease, now time.Time, ttl time.Duration) (Lease, error)
	// ReleaseLease frees l if it is still the device's lease; a lease that
	// was lost or released already is left alone (no error).
	ReleaseLease(ctx context.Context, l Lease) error
}

// FencedSaver is implemented by a [Store] that can make a save conditional on
// a lease, in the same step as the version check: SaveFenced is [RecordStore.Save]
// that also writes nothing, and returns an error matching [ErrLeaseLost], when
// l is no longer the device's lease (a later lease was acquired, or l was
// released). An expired lease nobody took since still writes, as
// [LeaseStore.RenewLease] still renews it. This is the lease's fencing token
// at work: a provisioner that stalled past its lease (a long pause, a
// suspended VM) between its lease check and its write cannot write over the
// new holder's device. The engine uses it for every lease holder's save when
// the store has it; [MemoryStore] and provisioning/sqlstore implement it in
// one step, as does [KVStore] over a [GuardedKV]; over a plain [KV] it checks
// the lease just before its compare-and-swap (a lease taken in between is not
// seen).
type FencedSaver interface {
	SaveFenced(ctx context.Context, r *DeviceRecord, l Lease) error
}

// Lease says which provisioner works on a device, until when. Owners are
// names unique per provisioner ([Config.Owner]); Token increases with every
// acquisition of the device's lease, so a holder that lost it can tell.
type Lease struct {
	Device  amt.UUID
	Owner   string
	Token   uint64
	Expires time.Time
}

// Lease errors.
var (
	// ErrLeaseHeld: another owner holds the device's lease (see LeaseHeldError).
	// A Provisioner's Unprovision, Reconcile and RotatePSK also return it,
	// without a LeaseHeldError, while that Provisioner itself works on the
	// device.
	ErrLeaseHeld = errors.New("provisioning: another provisioner holds the device's lease")
	// ErrLeaseLost: the lease expired and was taken, or was released.
	ErrLeaseLost = errors.New("provisioning: the device's lease was lost")
)

// LeaseHeldError reports the lease that stopped an acquisition; errors.Is(err,
// ErrLeaseHeld) holds.
type LeaseHeldError struct {
	Device  amt.UUID
	Owner   string    // who holds it
	Expires time.Time // until when, unless renewed
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("provisioning: device %s is leased to %q until %s", e.Device, e.Owner, e.Expires.UTC().Format(time.RFC3339Nano))
}

// Is makes errors.Is(err, ErrLeaseHeld) hold.
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }

// CheckLeaseArgs is the argument check every [LeaseStore] applies: the owner
// must not be empty and the TTL must be positive.
func CheckLeaseArgs(owner string, ttl time.Duration) error {
	if owner == "" {
		return &ConfigError{Field: "lease owner", Problem: "must not be empty"}
	}
	if ttl <= 0 {
		return &ConfigError{Field: "lease TTL", Problem: fmt.Sprintf("must be positive, got %s", ttl)}
	}
	return nil
}

// Filter selects records for [RecordStore.Records]. Set fields narrow the
// selection (all must hold); the zero Filter selects every record.
type Filter struct {
	// States selects records whose State is one of these.
	States []State
	// SessionInProgress selects records with a session that has not reached
	// Provisioned (DeviceRecord.Session set).
	SessionInProgress bool
	// Provisioned selects records that hold a verified provisioning.
	Provisioned bool
	// Discovery selects records that hold only what hellos showed (no
	// provisioning, session, certificate or block): what the Maintainer ages
	// out.
	Discovery bool
	// LastSeenBefore selects records whose last hello is known and earlier.
	LastSeenBefore time.Time
	// CertificateExpiresBefore selects records with a current certificate
	// (the newest unrevoked, confirmed one of a purpose, on a provisioned
	// device that is not blocked) that expires earlier.
	CertificateExpiresBefore time.Time
	// MaintenanceDue selects records with a current certificate that expires
	// earlier, or with certificate work left: a renewal not yet confirmed, a
	// replaced certificate not yet revoked or not yet deleted from the device,
	// or any certificate not yet revoked of a device that is blocked or was
	// unprovisioned.
	MaintenanceDue time.Time
}

// RecordIndex is what a [Filter] looks at, derived from a record by
// [DeviceRecord.Index]. A store that filters in its own query language (SQL)
// keeps these as columns, written with each Save; Filter.MatchIndex then
// tells exactly which rows a filter selects.
type RecordIndex struct {
	State             State
	SessionInProgress bool
	Provisioned       bool
	Discovery         bool
	LastSeen          time.Time // zero: never seen
	// CertificatesExpire is the earliest NotAfter of the current
	// certificates; zero when there is none.
	CertificatesExpire time.Time
	// CertificateWork: a certificate needs the Maintainer regardless of
	// expiry (see Filter.MaintenanceDue).
	CertificateWork bool
}

// Index returns what filters select r by.
func (r *DeviceRecord) Index() RecordIndex {
	ix := RecordIndex{State: r.State, SessionInProgress: r.Session != nil, Provisioned: r.Provisioned(),
		Discovery: r.discovery(), LastSeen: r.LastSeen}
	if r.retired() {
		// No certificate is in use: each one not revoked yet is to revoke.
		for _, c := range r.Certificates {
			ix.CertificateWork = ix.CertificateWork || !c.Revoked
		}
		return ix
	}
	seen := map[certSlot]bool{}
	for i := len(r.Certificates) - 1; i >= 0; i-- {
		c := r.Certificates[i]
		current := false
		if slot := c.slot(); !seen[slot] && !c.Revoked && !c.Pending {
			seen[slot], current = true, true
			if ix.CertificatesExpire.IsZero() || c.NotAfter.Before(ix.CertificatesExpire) {
				ix.CertificatesExpire = c.NotAfter
			}
		}
		if current {
			continue
		}
		switch {
		case c.Pending && !c.Revoked: // a renewal to finish
			ix.CertificateWork = true
		case !c.Pending && !c.Revoked: // replaced, to revoke
			ix.CertificateWork = true
		case !c.Pending && c.Handle != "" && !c.RemovedFromDevice: // replaced, to delete from the device
			ix.CertificateWork = true
		}
	}
	return ix
}

// Match reports whether f selects r.
func (f Filter) Match(r *DeviceRecord) bool { return f.MatchIndex(r.Index()) }

// MatchIndex reports whether f selects a record with index ix.
func (f Filter) MatchIndex(ix RecordIndex) bool {
	if len(f.States) > 0 && !slices.Contains(f.States, ix.State) {
		return false
	}
	if f.SessionInProgress && !ix.SessionInProgress || f.Provisioned && !ix.Provisioned || f.Discovery && !ix.Discovery {
		return false
	}
	if !f.LastSeenBefore.IsZero() && (ix.LastSeen.IsZero() || !ix.LastSeen.Before(f.LastSeenBefore)) {
		return false
	}
	expiresBefore := func(t time.Time) bool {
		return !ix.CertificatesExpire.IsZero() && ix.CertificatesExpire.Before(t)
	}
	if !f.CertificateExpiresBefore.IsZero() && !expiresBefore(f.CertificateExpiresBefore) {
		return false
	}
	if !f.MaintenanceDue.IsZero() && !ix.CertificateWork && !expiresBefore(f.MaintenanceDue) {
		return false
	}
	return true
}

// Reseal saves every record of s again, so that a store that seals secrets
// with its Sealer's primary key re-seals those sealed by an older key (see
// docs/state.md, "Rotating keys"). A record that changes meanwhile is read
// again and saved again. It returns how many records it saved. A record that
// cannot be read (a *[RecordError]) is passed over, and the walk goes on; the
// error returned at the end then counts them and wraps the first (errors.As
// finds it) — also one that became unreadable while Reseal read it again
// after a conflict. So is a record the store refuses to write back as too large
// (ErrRecordTooLarge: a Sealer whose new key writes longer envelopes, on a
// record at the size limit).
func Reseal(ctx context.Context, s RecordStore) (int, error) {
	n := 0
	var first, firstLarge error
	unreadable, tooLarge := 0, 0
	for r, err := range s.Records(ctx, Filter{}) {
		var re *RecordError
		if errors.As(err, &re) {
			if unreadable++; first == nil {
				first = err
			}
			continue
		}
		if err != nil {
			return n, err
		}
		for attempt := 0; ; attempt++ {
			err := s.Save(ctx, r)
			if err == nil {
				n++
				break
			}
			if errors.Is(err, ErrRecordTooLarge) {
				if tooLarge++; firstLarge == nil {
					firstLarge = err
				}
				break
			}
			if !errors.Is(err, ErrConflict) || attempt >= 16 {
				return n, err
			}
			// Read afresh: gone, or become unreadable meanwhile (a
			// newer build's write, a row planted), it is passed over as
			// it would have been had the walk met it so.
			if r, err = s.Load(ctx, r.UUID); errors.Is(err, ErrNotFound) {
				break
			} else if errors.As(err, &re) {
				if unreadable++; first == nil {
					first = err
				}
				break
			} else if err != nil {
				return n, err
			}
		}
	}
	var errs []error
	if first != nil {
		errs = append(errs, fmt.Errorf("provisioning: %d stored records cannot be read and were not sealed again; the first: %w", unreadable, first))
	}
	if firstLarge != nil {
		errs = append(errs, fmt.Errorf("provisioning: %d records were too large to write back and were not sealed again; the first: %w", tooLarge, firstLarge))
	}
	return n, errors.Join(errs...)
}

// CollectRecords gathers what a Records sequence yields, for small stores and
// tests; the engine never does this with a fleet.
func CollectRecords(seq iter.Seq2[*DeviceRecord, error]) ([]*DeviceRecord, error) {
	var out []*DeviceRecord
	for r, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
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
	// DoneIEEE8021X was set by sessions that configured wired 802.1X before
	// the commit; 802.1X is now applied after activation by reconcile, and
	// the bit is kept only for records written before.
	DoneIEEE8021X
	DoneOTPExtended
	DoneCommitSent
	DoneCommitted
	DoneAdminSetupSent
	// DoneMEBxSent: SetMEBxPassword was (about to be) sent, recorded before
	// it goes out. A resumed attempt reads a refusal of the change as "an
	// earlier attempt set it" only when an earlier attempt sent it.
	DoneMEBxSent
)

// Has reports whether every action in d2 is recorded in d.
func (d Done) Has(d2 Done) bool { return d&d2 == d2 }

// CertificatePurpose says what a certificate installed in AMT is for.
type CertificatePurpose string

// Certificate purposes.
const (
	PurposeTLS       CertificatePurpose = "tls"   // AMT's TLS server certificate
	PurposeIEEE8021X CertificatePurpose = "8021x" // 802.1X client certificate
	// PurposeMPS: the client certificate AMT presents to its Management
	// Presence Server (RemoteAccessProfile.AuthMethod amt.MPSMutualAuth).
	PurposeMPS CertificatePurpose = "mps"
)

// DeviceCertificate is a certificate amtkit had issued for a device and installed.
type DeviceCertificate struct {
	Purpose CertificatePurpose
	// Profile names the Wi-Fi profile (WiFiNetwork.Name) an 802.1X client
	// certificate serves; empty for the wired interface and for TLS. Each
	// purpose and profile has its own current certificate.
	Profile   string
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
	// until it has. Pending with no Handle is an issuance in flight, recorded
	// as soon as AMT generated the key (DER empty until the Issuer certified
	// it) so that a process that dies before it records the outcome leaves
	// the next run what to look for on the device: the Maintainer and
	// Reconcile settle it before anything else.
	Pending bool
}

// TrustedRoot is a trusted root certificate reconcile installed
// (DeviceRecord.TrustedRoots).
type TrustedRoot struct {
	DER []byte
	// Areas are the reconcile areas that have used it ("8021x-wired",
	// "wifi", "cira"): the one that installed it, and each that found it on
	// the device since.
	Areas []string
}

// inFlight reports whether c is an issuance whose outcome is not recorded
// yet (see Pending).
func (c DeviceCertificate) inFlight() bool { return c.Pending && c.Handle == "" && !c.Revoked }

// Certificate parses DER.
func (c DeviceCertificate) Certificate() (*x509.Certificate, error) {
	return x509.ParseCertificate(c.DER)
}

// certSlot is what a current certificate is current for.
type certSlot struct {
	purpose CertificatePurpose
	profile string
}

func (c DeviceCertificate) slot() certSlot { return certSlot{c.Purpose, c.Profile} }

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
	UUID amt.UUID
	// Version is the record's version in its Store: 0 until it is first
	// saved, then set by each Save (see [RecordStore.Save]).
	Version   uint64
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
	Done        Done // what that provisioning applied
	Bundle      string
	MatchedRoot amt.CertHash
	PID         string // PSK provisioning: the PID used
	// RotatedPID is the PID of the pair RotatePSK last gave the device and
	// the firmware confirmed: a provisioned device is re-provisioned over
	// PSK with that pair or PendingRotatedPID's only, never with one a
	// setup.bin or an earlier rotation gave it (those stay reserved for it
	// in the pair store).
	RotatedPID string
	// PendingRotatedPID is the PID of the pair RotatePSK recorded before
	// sending it, while the firmware has not confirmed it (the call is under
	// way, or it failed: a lost request or reply, a refusal, a crash). The
	// device holds that pair or RotatedPID's, so both re-provision it until
	// a rotation is confirmed; a later rotation replaces a pending pair.
	PendingRotatedPID string
	AgentOTP          bool // the provisioning was agent-initiated (OTP verified)
	Firmware          amt.Version
	DigestRealm       string
	ControlMode       amt.ControlMode
	DeviceCertPin     []byte // SHA-256 of the device's TLS leaf seen while provisioning
	OnDieVerified     bool   // the device's certificate chained to a configured On-Die root
	AdminUser         string
	AdminPassword     amt.Secret
	MEBxPassword      amt.Secret
	Users             []UserCredential // the profile's user accounts with their passwords
	// Certificates amtkit installed, newest last per purpose (and Wi-Fi
	// profile). Of those revoked and deleted from the device, the
	// Maintainer keeps the newest 8 per purpose and profile.
	Certificates []DeviceCertificate
	// NetworkSecrets are the Wi-Fi passphrases and 802.1X passwords
	// reconcile sent, by what they belong to ("8021x-wired", "wifi:<name>"),
	// so that it can tell when a profile changed one (the device never
	// returns them). Secrets: a Store persists them sealed.
	NetworkSecrets []UserCredential
	// MPSUser and MPSPassword are the credentials the device presents to its
	// Management Presence Server (Profile.RemoteAccess), recorded before they
	// are sent: an MPS authenticates the device's CIRA tunnel with them.
	// Both are empty while the device authenticates with its certificate
	// (the current PurposeMPS entry of Certificates).
	// MPSPassword is a secret: a Store persists it sealed.
	MPSUser     string
	MPSPassword amt.Secret
	// TrustedRoots are the trusted roots reconcile installed — RADIUS
	// server roots and the MPS root — each recorded before it is sent, with
	// every area that has used it. Reconcile's area "roots" deletes one from
	// the device once each of those areas ran and succeeded and is one the
	// profile manages, no part of the profile names it
	// (TLSProfile.TrustedClientRoots included) and no credential context
	// binds it, and never while the device runs mutual TLS: rotated CAs would
	// otherwise fill AMT's certificate store. A root the device already held
	// is not recorded, and TLSProfile.TrustedClientRoots never are, so
	// neither is ever deleted.
	TrustedRoots []TrustedRoot

	// PendingAdminPassword and PendingMEBxPassword are passwords a reconcile
	// sent (rotation) but has not yet seen the device take: recorded before
	// they are sent, so that an interrupted rotation loses no credential.
	PendingAdminPassword amt.Secret
	PendingMEBxPassword  amt.Secret
	// Reconciled is when reconcile last brought the device in line with its
	// profile; ReconcileError what it could not change then ("" if nothing).
	Reconciled     time.Time
	ReconcileError string

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

// retired reports a record whose certificates serve nothing any more: the
// device is blocked, or was unprovisioned (the record holds certificates but
// no verified provisioning).
func (r *DeviceRecord) retired() bool {
	return r.Blocked || !r.Provisioned()
}

// Clone returns a deep copy of r.
func (r *DeviceRecord) Clone() *DeviceRecord { return r.clone(nil) }

// clone is Clone, except that a certificate's bytes equal to those of the
// certificate at the same index in prev (nil: none) are prev's, not a copy.
func (r *DeviceRecord) clone(prev *DeviceRecord) *DeviceRecord {
	c := *r
	c.History = slices.Clone(r.History)
	c.DeviceCertPin = bytes.Clone(r.DeviceCertPin)
	c.MatchedRoot.Sum = bytes.Clone(r.MatchedRoot.Sum)
	c.Users = slices.Clone(r.Users)
	var prevCerts, prevSession []DeviceCertificate
	if prev != nil {
		prevCerts = prev.Certificates
		if prev.Session != nil {
			prevSession = prev.Session.Certificates
		}
	}
	c.Certificates = cloneCerts(r.Certificates, prevCerts)
	c.NetworkSecrets = slices.Clone(r.NetworkSecrets)
	if r.TrustedRoots != nil {
		c.TrustedRoots = make([]TrustedRoot, len(r.TrustedRoots))
		for i, t := range r.TrustedRoots {
			c.TrustedRoots[i] = TrustedRoot{DER: bytes.Clone(t.DER), Areas: slices.Clone(t.Areas)}
		}
	}
	if r.Agent != nil {
		a := *r.Agent
		c.Agent = &a
	}
	if r.Session != nil {
		c.Session = r.Session.clone(prevSession)
	}
	return &c
}

// Clone returns a deep copy of s.
func (s *SessionRecord) Clone() *SessionRecord { return s.clone(nil) }

func (s *SessionRecord) clone(prevCerts []DeviceCertificate) *SessionRecord {
	c := *s
	c.DeviceCertPin = bytes.Clone(s.DeviceCertPin)
	c.MatchedRoot.Sum = bytes.Clone(s.MatchedRoot.Sum)
	c.Users = slices.Clone(s.Users)
	c.Certificates = cloneCerts(s.Certificates, prevCerts)
	return &c
}

// cloneCerts copies in; bytes equal to those of the certificate at the same
// index in prev are prev's.
func cloneCerts(in, prev []DeviceCertificate) []DeviceCertificate {
	if in == nil {
		return nil
	}
	out := make([]DeviceCertificate, len(in))
	for i, dc := range in {
		dc.DER = cloneBytes(dc.DER, prev, i, func(p *DeviceCertificate) []byte { return p.DER })
		dc.IssuerDER = cloneBytes(dc.IssuerDER, prev, i, func(p *DeviceCertificate) []byte { return p.IssuerDER })
		out[i] = dc
	}
	return out
}

func cloneBytes(b []byte, prev []DeviceCertificate, i int, field func(*DeviceCertificate) []byte) []byte {
	if i < len(prev) {
		if p := field(&prev[i]); b != nil && bytes.Equal(b, p) {
			return p
		}
	}
	return bytes.Clone(b)
}

// CurrentCertificate returns the newest unrevoked certificate for purpose
// (for 802.1X: the wired interface's; see [DeviceRecord.CurrentCertificateFor]).
func (r *DeviceRecord) CurrentCertificate(p CertificatePurpose) (DeviceCertificate, bool) {
	return currentCertificate(r.Certificates, p)
}

// CurrentCertificateFor returns the newest unrevoked, confirmed certificate
// for purpose and profile: profile names a Wi-Fi profile, "" the wired
// interface (or TLS).
func (r *DeviceRecord) CurrentCertificateFor(p CertificatePurpose, profile string) (DeviceCertificate, bool) {
	return currentCertificateFor(r.Certificates, certSlot{p, profile})
}

func currentCertificate(list []DeviceCertificate, p CertificatePurpose) (DeviceCertificate, bool) {
	return currentCertificateFor(list, certSlot{purpose: p})
}

func currentCertificateFor(list []DeviceCertificate, slot certSlot) (DeviceCertificate, bool) {
	for i := len(list) - 1; i >= 0; i-- {
		if c := list[i]; c.slot() == slot && !c.Revoked && !c.Pending {
			return c, true
		}
	}
	return DeviceCertificate{}, false
}

// MemoryStore is a [Store] in memory, safe for concurrent use. It is the default
// when a Provisioner has no Store; its records and leases are lost when the
// process exits, and it persists nothing (so no secret leaves the process).
// The zero value is ready to use.
type MemoryStore struct {
	mu     sync.RWMutex
	recs   map[amt.UUID]*DeviceRecord
	leases map[amt.UUID]Lease  // released leases stay, with no owner, to keep their Token
	gone   map[amt.UUID]uint64 // the last version of deleted records: versions never repeat
}

var (
	_ Store       = (*MemoryStore)(nil)
	_ FencedSaver = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

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
	return m.saveLocked(r)
}

// SaveFenced implements [FencedSaver].
func (m *MemoryStore) SaveFenced(ctx context.Context, r *DeviceRecord, l Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.leases[r.UUID]; cur.Token != l.Token || cur.Owner != l.Owner || l.Owner == "" {
		return fmt.Errorf("%w: %s's lease %d of %q is not the device's lease (token %d of %q)", ErrLeaseLost, r.UUID, l.Token, l.Owner, cur.Token, cur.Owner)
	}
	return m.saveLocked(r)
}

func (m *MemoryStore) saveLocked(r *DeviceRecord) error {
	var have uint64
	if cur, ok := m.recs[r.UUID]; ok {
		have = cur.Version
	}
	if have != r.Version {
		return &ConflictError{Device: r.UUID, Expected: r.Version, Actual: have}
	}
	if m.recs == nil {
		m.recs = make(map[amt.UUID]*DeviceRecord)
	}
	// A session saves its record some 17 times, and its certificates rarely
	// change in between: the copy keeps the stored bytes where they are
	// equal (nothing outside the store holds them; Load copies).
	c := r.clone(m.recs[r.UUID])
	c.Version = have + 1
	if have == 0 {
		// A record created again after a Delete goes on from its last
		// version, so that a writer still holding an old one loses.
		c.Version = m.gone[r.UUID] + 1
		delete(m.gone, r.UUID)
	}
	m.recs[r.UUID] = c
	r.Version = c.Version
	return nil
}

// Delete implements [Store].
func (m *MemoryStore) Delete(ctx context.Context, uuid amt.UUID, version uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.recs[uuid]
	if !ok {
		return nil
	}
	if cur.Version != version {
		return &ConflictError{Device: uuid, Expected: version, Actual: cur.Version}
	}
	delete(m.recs, uuid)
	if m.gone == nil {
		m.gone = make(map[amt.UUID]uint64)
	}
	m.gone[uuid] = cur.Version
	return nil
}

// Records implements [Store]. It copies the UUIDs in order, then the records
// one at a time, so the caller's loop runs without the store's lock.
func (m *MemoryStore) Records(ctx context.Context, f Filter) iter.Seq2[*DeviceRecord, error] {
	return func(yield func(*DeviceRecord, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(nil, err)
			return
		}
		m.mu.RLock()
		keys := make([]amt.UUID, 0, len(m.recs))
		for u := range m.recs {
			keys = append(keys, u)
		}
		m.mu.RUnlock()
		slices.SortFunc(keys, func(a, b amt.UUID) int { return bytes.Compare(a[:], b[:]) })
		for _, u := range keys {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			m.mu.RLock()
			r, ok := m.recs[u]
			if ok && f.Match(r) {
				r = r.Clone()
			} else {
				r = nil
			}
			m.mu.RUnlock()
			if r != nil && !yield(r, nil) {
				return
			}
		}
	}
}

// AcquireLease implements [Store].
func (m *MemoryStore) AcquireLease(ctx context.Context, device amt.UUID, owner string, now time.Time, ttl time.Duration) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return Lease{}, err
	}
	if err := CheckLeaseArgs(owner, ttl); err != nil {
		return Lease{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.leases[device]
	if cur.Owner != "" && cur.Owner != owner && now.Before(cur.Expires) {
		return Lease{}, &LeaseHeldError{Device: device, Owner: cur.Owner, Expires: cur.Expires}
	}
	if m.leases == nil {
		m.leases = make(map[amt.UUID]Lease)
	}
	l := Lease{Device: device, Owner: owner, Token: cur.Token + 1, Expires: now.Add(ttl)}
	m.leases[device] = l
	return l, nil
}

// RenewLease implements [Store].
func (m *MemoryStore) RenewLease(ctx context.Context, l Lease, now time.Time, ttl time.Duration) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return Lease{}, err
	}
	if err := CheckLeaseArgs(l.Owner, ttl); err != nil {
		return Lease{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.leases[l.Device]
	if !ok || cur.Token != l.Token || cur.Owner != l.Owner {
		return Lease{}, fmt.Errorf("%w: %s's lease %d of %q", ErrLeaseLost, l.Device, l.Token, l.Owner)
	}
	cur.Expires = now.Add(ttl)
	m.leases[l.Device] = cur
	return cur, nil
}

// ReleaseLease implements [Store].
func (m *MemoryStore) ReleaseLease(ctx context.Context, l Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.leases[l.Device]; ok && cur.Token == l.Token && cur.Owner == l.Owner {
		m.leases[l.Device] = Lease{Device: l.Device, Token: cur.Token}
	}
	return nil
}
