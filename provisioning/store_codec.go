package provisioning

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/seal"
)

// RecordCodec turns a [DeviceRecord] into bytes for a store and back: every
// field, zero values included, with every secret sealed by Sealer — the admin
// and MEBx passwords (established and of a session in progress), the user
// accounts' passwords and the pending agent request's OTP. Each sealed value
// is bound to its device, the record's version and the field, so it cannot be
// moved to another record, another field or a later version of the same
// record. With it, any key-value store backs the engine in a few lines (see
// [NewKVStore]). A store reads with [RecordCodec.UnmarshalFor], which also
// refuses a whole record copied from another device's row or an older one.
//
// The encoding is JSON (format 2; format 1, which bound a value to its device
// and field only, is still read), readable for support and backups except
// for the sealed values. Times come back in UTC (time.Time.Equal holds with
// what was saved). A record is at most [MaxRecordSize] bytes.
type RecordCodec struct {
	Sealer seal.Sealer
}

// ErrRecordFormat is matched by the error of [RecordCodec.Unmarshal] for bytes
// that are not a record of a known format.
var ErrRecordFormat = errors.New("provisioning: not a stored device record")

// ErrRecordTooLarge is matched by the error of [RecordCodec.Marshal] (and so
// of a store's Save) for a record over [MaxRecordSize] or the codec's bound
// on values. [Reseal] passes over such a record and goes on.
var ErrRecordTooLarge = errors.New("provisioning: record too large to store")

// recordFormat is the codec's current format number. Format 1 differs only
// in its sealed values' additional data (no record version).
const recordFormat = 2

// MaxRecordSize bounds a record's encoding: a record holds a bounded history
// and a few certificates. [RecordCodec.Unmarshal] refuses more, and a store
// should not read more from its database.
const MaxRecordSize = 4 << 20

// maxRecordValues bounds the values of a record's JSON outside its strings
// (a few thousand in the largest record the engine writes): decoding is
// bounded in memory, not only in input (4 MiB of "{}," would otherwise
// decode into about a gigabyte of certificate entries). Marshal refuses to
// write more, so what it writes always reads back.
const maxRecordValues = 1 << 16

// jsonValues counts the commas, objects and arrays of b outside its strings:
// a bound on how many values decoding it makes.
func jsonValues(b []byte) int {
	n := 0
	in, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case in:
			switch c {
			case '\\':
				esc = true
			case '"':
				in = false
			}
		case c == '"':
			in = true
		case c == ',' || c == '{' || c == '[':
			n++
		}
	}
	return n
}

type (
	recordV1 struct {
		Format        int            `json:"format"`
		UUID          amt.UUID       `json:"uuid"`
		Version       uint64         `json:"version"`
		Inventory     inventoryV1    `json:"inventory"`
		Source        string         `json:"source"`
		HelloVersion  uint16         `json:"helloVersion"`
		FirstSeen     timeV1         `json:"firstSeen"`
		LastSeen      timeV1         `json:"lastSeen"`
		State         State          `json:"state"`
		Reason        Reason         `json:"reason"`
		LastError     string         `json:"lastError"`
		History       []stepV1       `json:"history"`
		Attempts      int            `json:"attempts"`
		UpdatedAt     timeV1         `json:"updatedAt"`
		Session       *sessionV1     `json:"session"`
		Done          Done           `json:"done"`
		Bundle        string         `json:"bundle"`
		MatchedRoot   hashV1         `json:"matchedRoot"`
		PID           string         `json:"pid"`
		RotatedPID    string         `json:"rotatedPID,omitempty"`
		PendingPID    string         `json:"pendingRotatedPID,omitempty"`
		AgentOTP      bool           `json:"agentOTP"`
		Firmware      [4]int         `json:"firmware"`
		DigestRealm   string         `json:"digestRealm"`
		ControlMode   uint8          `json:"controlMode"`
		DeviceCertPin []byte         `json:"deviceCertPin"`
		OnDieVerified bool           `json:"onDieVerified"`
		AdminUser     string         `json:"adminUser"`
		AdminPassword []byte         `json:"adminPassword"` // sealed
		MEBxPassword  []byte         `json:"mebxPassword"`  // sealed
		Users         []userV1       `json:"users"`
		Certificates  []deviceCertV1 `json:"certificates"`
		NetSecrets    []userV1       `json:"networkSecrets,omitempty"` // sealed
		MPSUser       string         `json:"mpsUser,omitempty"`
		MPSPassword   []byte         `json:"mpsPassword,omitempty"` // sealed
		TrustedRoots  []rootV1       `json:"trustedRoots,omitempty"`
		PendingAdmin  []byte         `json:"pendingAdminPassword"` // sealed
		PendingMEBx   []byte         `json:"pendingMebxPassword"`  // sealed
		Reconciled    timeV1         `json:"reconciled"`
		ReconcileErr  string         `json:"reconcileError"`
		Blocked       bool           `json:"blocked"`
		Agent         *agentV1       `json:"agent"`
	}
	inventoryV1 struct {
		UUID      amt.UUID `json:"uuid"`
		FQDN      string   `json:"fqdn"`
		DNSSuffix string   `json:"dnsSuffix"`
		Profile   string   `json:"profile"`
		Address   string   `json:"address"`
		Wireless  bool     `json:"wireless"`
	}
	stepV1 struct {
		Step     Step   `json:"step"`
		State    State  `json:"state"`
		At       timeV1 `json:"at"`
		Duration int64  `json:"duration"`
		Reason   Reason `json:"reason"`
		Error    string `json:"error"`
		Detail   string `json:"detail"`
	}
	sessionV1 struct {
		Started       timeV1         `json:"started"`
		Done          Done           `json:"done"`
		Bundle        string         `json:"bundle"`
		MatchedRoot   hashV1         `json:"matchedRoot"`
		PID           string         `json:"pid"`
		AgentOTP      bool           `json:"agentOTP"`
		Firmware      [4]int         `json:"firmware"`
		DigestRealm   string         `json:"digestRealm"`
		DeviceCertPin []byte         `json:"deviceCertPin"`
		OnDieVerified bool           `json:"onDieVerified"`
		AdminUser     string         `json:"adminUser"`
		AdminPassword []byte         `json:"adminPassword"` // sealed
		MEBxPassword  []byte         `json:"mebxPassword"`  // sealed
		Users         []userV1       `json:"users"`
		Certificates  []deviceCertV1 `json:"certificates"`
	}
	hashV1 struct {
		Alg uint8  `json:"alg"`
		Sum []byte `json:"sum"`
	}
	rootV1 struct {
		DER   []byte   `json:"der"`
		Areas []string `json:"areas"`
	}
	userV1 struct {
		Name     string `json:"name"`
		Password []byte `json:"password"` // sealed
	}
	deviceCertV1 struct {
		Purpose           CertificatePurpose `json:"purpose"`
		Profile           string             `json:"profile,omitempty"`
		DER               []byte             `json:"der"`
		IssuerDER         []byte             `json:"issuerDER"`
		Handle            string             `json:"handle"`
		KeyHandle         string             `json:"keyHandle"`
		NotAfter          timeV1             `json:"notAfter"`
		Revoked           bool               `json:"revoked"`
		RemovedFromDevice bool               `json:"removedFromDevice"`
		Pending           bool               `json:"pending"`
	}
	agentV1 struct {
		UUID        amt.UUID    `json:"uuid"`
		OTP         []byte      `json:"otp"` // sealed
		Inventory   inventoryV1 `json:"inventory"`
		Firmware    [4]int      `json:"firmware"`
		Expires     timeV1      `json:"expires"`
		Mismatches  int         `json:"mismatches"`
		LockedUntil timeV1      `json:"lockedUntil"`
	}
)

// timeV1 is a time in UTC with nanoseconds; the zero time is null.
type timeV1 struct{ time.Time }

func (t timeV1) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	// RFC 3339 has four-digit years: a time outside them would encode and
	// then never decode, making the record unreadable for good.
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("provisioning: time %s is outside the years 0–9999 a record can hold", t.UTC().Format(time.RFC3339))
	}
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}

func (t *timeV1) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	// An offset can carry a four-digit year out of range in UTC
	// ("9999-12-31T23:59:59-23:59"): such a record would load and then
	// never save again, stopping every write and Reseal at it.
	if y := v.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("time %q is outside the years 0–9999 in UTC", s)
	}
	t.Time = v.UTC()
	return nil
}

func versionV1(v amt.Version) [4]int { return [4]int{v.Major, v.Minor, v.Build, v.Revision} }

func fromVersionV1(v [4]int) amt.Version {
	return amt.Version{Major: v[0], Minor: v[1], Build: v[2], Revision: v[3]}
}

// A conversion, not a literal: a field added to Inventory stops the build
// here until the format carries it.
func inventoryToV1(i Inventory) inventoryV1 { return inventoryV1(i) }

func (i inventoryV1) inventory() Inventory { return Inventory(i) }

func certsToV1(in []DeviceCertificate) []deviceCertV1 {
	if in == nil {
		return nil
	}
	out := make([]deviceCertV1, len(in))
	for i, c := range in {
		out[i] = deviceCertV1{Purpose: c.Purpose, Profile: c.Profile, DER: c.DER, IssuerDER: c.IssuerDER, Handle: c.Handle, KeyHandle: c.KeyHandle,
			NotAfter: timeV1{c.NotAfter}, Revoked: c.Revoked, RemovedFromDevice: c.RemovedFromDevice, Pending: c.Pending}
	}
	return out
}

func certsFromV1(in []deviceCertV1) []DeviceCertificate {
	if in == nil {
		return nil
	}
	out := make([]DeviceCertificate, len(in))
	for i, c := range in {
		out[i] = DeviceCertificate{Purpose: c.Purpose, Profile: c.Profile, DER: c.DER, IssuerDER: c.IssuerDER, Handle: c.Handle, KeyHandle: c.KeyHandle,
			NotAfter: c.NotAfter.Time, Revoked: c.Revoked, RemovedFromDevice: c.RemovedFromDevice, Pending: c.Pending}
	}
	return out
}

// sealer seals and opens one record's secrets, each bound to the record's
// UUID, its version (from format 2) and the field's path.
type recordSealer struct {
	ctx     context.Context
	s       seal.Sealer
	uuid    amt.UUID
	format  int
	version uint64
}

func (rs recordSealer) aad(field string) []byte {
	if rs.format == 1 {
		return []byte("amtkit/record/1/" + rs.uuid.String() + "/" + field)
	}
	return []byte("amtkit/record/" + strconv.Itoa(rs.format) + "/" + rs.uuid.String() + "/" + strconv.FormatUint(rs.version, 10) + "/" + field)
}

func (rs recordSealer) seal(field string, v amt.Secret) ([]byte, error) {
	if v.IsZero() {
		return nil, nil
	}
	b, err := rs.s.Seal(rs.ctx, []byte(v.Reveal()), rs.aad(field))
	if err != nil {
		return nil, fmt.Errorf("provisioning: sealing %s of %s: %w", field, rs.uuid, err)
	}
	return b, nil
}

func (rs recordSealer) open(field string, b []byte) (amt.Secret, error) {
	if b == nil {
		return amt.Secret{}, nil
	}
	pt, err := rs.s.Open(rs.ctx, b, rs.aad(field))
	if err != nil {
		return amt.Secret{}, fmt.Errorf("provisioning: opening %s of %s: %w", field, rs.uuid, err)
	}
	return amt.NewSecret(string(pt)), nil
}

func (rs recordSealer) sealUsers(field string, in []UserCredential) ([]userV1, error) {
	if in == nil {
		return nil, nil
	}
	out := make([]userV1, len(in))
	for i, u := range in {
		pw, err := rs.seal(fmt.Sprintf("%s/%d/%s", field, i, u.Name), u.Password)
		if err != nil {
			return nil, err
		}
		out[i] = userV1{Name: u.Name, Password: pw}
	}
	return out, nil
}

func (rs recordSealer) openUsers(field string, in []userV1) ([]UserCredential, error) {
	if in == nil {
		return nil, nil
	}
	out := make([]UserCredential, len(in))
	for i, u := range in {
		pw, err := rs.open(fmt.Sprintf("%s/%d/%s", field, i, u.Name), u.Password)
		if err != nil {
			return nil, err
		}
		out[i] = UserCredential{Name: u.Name, Password: pw}
	}
	return out, nil
}

// Marshal encodes r with its secrets sealed. A store marshals r with the
// Version it is about to write (its sealed values are bound to it).
func (c RecordCodec) Marshal(ctx context.Context, r *DeviceRecord) ([]byte, error) {
	return c.marshal(ctx, r, recordFormat)
}

// marshal encodes r in a format (an older one only in tests of reading it).
func (c RecordCodec) marshal(ctx context.Context, r *DeviceRecord, format int) ([]byte, error) {
	if c.Sealer == nil {
		return nil, &ConfigError{Field: "RecordCodec.Sealer", Problem: "required: secrets are never stored in plaintext"}
	}
	v, err := recordToV1(r, format)
	if err != nil {
		return nil, err
	}
	rs := recordSealer{ctx: ctx, s: c.Sealer, uuid: r.UUID, format: format, version: r.Version}
	if err := rs.sealAll(recordSecrets(r, &v)); err != nil {
		return nil, err
	}
	if v.Session != nil {
		if err := rs.sealAll(sessionSecrets(r.Session, v.Session)); err != nil {
			return nil, err
		}
	}
	if v.Agent != nil {
		if err := rs.sealAll(agentSecrets(r.Agent, v.Agent)); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(&v)
	if err != nil {
		return nil, err
	}
	// What Unmarshal would refuse is not written: a record that saved but
	// never loaded would stop every walk of the store at it.
	if len(b) > MaxRecordSize || jsonValues(b) > maxRecordValues {
		return nil, fmt.Errorf("%w: record %s is too large to store (%d bytes; at most %d bytes and %d values)", ErrRecordTooLarge, r.UUID, len(b), MaxRecordSize, maxRecordValues)
	}
	return b, nil
}

// recordToV1 is r's serialized form in a format, its secrets not sealed yet
// (nil): Marshal seals them, and Unmarshal's write-back check copies them
// as stored.
func recordToV1(r *DeviceRecord, format int) (recordV1, error) {
	v := recordV1{
		Format: format, UUID: r.UUID, Version: r.Version, Inventory: inventoryToV1(r.Inventory),
		HelloVersion: r.HelloVersion, FirstSeen: timeV1{r.FirstSeen}, LastSeen: timeV1{r.LastSeen},
		State: r.State, Reason: r.Reason, LastError: r.LastError, Attempts: r.Attempts, UpdatedAt: timeV1{r.UpdatedAt},
		Done: r.Done, Bundle: r.Bundle, MatchedRoot: hashV1{uint8(r.MatchedRoot.Alg), r.MatchedRoot.Sum}, PID: r.PID, RotatedPID: r.RotatedPID, PendingPID: r.PendingRotatedPID,
		AgentOTP: r.AgentOTP, Firmware: versionV1(r.Firmware), DigestRealm: r.DigestRealm, ControlMode: uint8(r.ControlMode),
		DeviceCertPin: r.DeviceCertPin, OnDieVerified: r.OnDieVerified, AdminUser: r.AdminUser,
		Certificates: certsToV1(r.Certificates), Blocked: r.Blocked,
		Reconciled: timeV1{r.Reconciled}, ReconcileErr: r.ReconcileError, MPSUser: r.MPSUser, TrustedRoots: rootsToV1(r.TrustedRoots),
	}
	if r.Source.IsValid() {
		v.Source = r.Source.String()
	} else if r.Source != (netip.AddrPort{}) {
		return recordV1{}, fmt.Errorf("provisioning: record %s: source %v is not a valid address and port", r.UUID, r.Source)
	}
	if r.History != nil {
		v.History = make([]stepV1, len(r.History))
		for i, e := range r.History {
			v.History[i] = stepV1{Step: e.Step, State: e.State, At: timeV1{e.At}, Duration: int64(e.Duration), Reason: e.Reason, Error: e.Error, Detail: e.Detail}
		}
	}
	if s := r.Session; s != nil {
		v.Session = &sessionV1{Started: timeV1{s.Started}, Done: s.Done, Bundle: s.Bundle, MatchedRoot: hashV1{uint8(s.MatchedRoot.Alg), s.MatchedRoot.Sum},
			PID: s.PID, AgentOTP: s.AgentOTP, Firmware: versionV1(s.Firmware), DigestRealm: s.DigestRealm, DeviceCertPin: s.DeviceCertPin,
			OnDieVerified: s.OnDieVerified, AdminUser: s.AdminUser, Certificates: certsToV1(s.Certificates)}
	}
	if a := r.Agent; a != nil {
		v.Agent = &agentV1{UUID: a.UUID, Inventory: inventoryToV1(a.Inventory), Firmware: versionV1(a.Firmware), Expires: timeV1{a.Expires},
			Mismatches: a.Mismatches, LockedUntil: timeV1{a.LockedUntil}}
	}
	return v, nil
}

// Unmarshal decodes a record Marshal encoded, opening its secrets. Bytes that
// are not a record (or of an unknown format, or larger than [MaxRecordSize],
// or a record Marshal would refuse to write back at its next version: what
// loads can be saved)
// fail with ErrRecordFormat; a sealed value that does not open (another key,
// another record, another version) fails with the Sealer's error.
//
// Unmarshal trusts the device and version written inside b. A store reads
// with [RecordCodec.UnmarshalFor], which checks them against the row or key
// it read.
func (c RecordCodec) Unmarshal(ctx context.Context, b []byte) (*DeviceRecord, error) {
	return c.unmarshal(ctx, b, nil)
}

// UnmarshalFor is [RecordCodec.Unmarshal] for the record a store holds for
// device u at version: bytes holding another device's record (a row copied
// over another by someone with write access to the database) or another
// version of it (an old value written back) fail with ErrRecordFormat before
// any secret is opened. (A format-1 record did not bind its sealed values to
// the version; the version it names is still checked.)
//
// Its error for bytes that cannot be read (ErrRecordFormat, or a sealed value
// that does not open) is a *[RecordError] naming u.
func (c RecordCodec) UnmarshalFor(ctx context.Context, u amt.UUID, version uint64, b []byte) (*DeviceRecord, error) {
	r, err := c.unmarshal(ctx, b, &expected{u, version})
	if err != nil {
		return nil, recordError(u, err)
	}
	return r, nil
}

// expected is what UnmarshalFor checks a record against.
type expected struct {
	uuid    amt.UUID
	version uint64
}

func (c RecordCodec) unmarshal(ctx context.Context, b []byte, want *expected) (*DeviceRecord, error) {
	if c.Sealer == nil {
		return nil, &ConfigError{Field: "RecordCodec.Sealer", Problem: "required: secrets are never stored in plaintext"}
	}
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrRecordFormat, len(b), MaxRecordSize)
	}
	if jsonValues(b) > maxRecordValues {
		return nil, fmt.Errorf("%w: more than %d values", ErrRecordFormat, maxRecordValues)
	}
	var v recordV1
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRecordFormat, err)
	}
	// Nothing but white space may follow (dec.More would report nothing
	// more before a closing "]" or "}", and whatever came after it).
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the record", ErrRecordFormat)
	}
	if v.Format != recordFormat && v.Format != 1 {
		return nil, fmt.Errorf("%w: format %d, expected %d", ErrRecordFormat, v.Format, recordFormat)
	}
	if want != nil {
		if v.UUID != want.uuid {
			return nil, fmt.Errorf("%w: the record stored for %s is that of %s", ErrRecordFormat, want.uuid, v.UUID)
		}
		if v.Version != want.version {
			return nil, fmt.Errorf("%w: the record stored for %s at version %d says version %d", ErrRecordFormat, want.uuid, want.version, v.Version)
		}
	}
	r := &DeviceRecord{
		UUID: v.UUID, Version: v.Version, Inventory: v.Inventory.inventory(), HelloVersion: v.HelloVersion,
		FirstSeen: v.FirstSeen.Time, LastSeen: v.LastSeen.Time, State: v.State, Reason: v.Reason, LastError: v.LastError,
		Attempts: v.Attempts, UpdatedAt: v.UpdatedAt.Time, Done: v.Done, Bundle: v.Bundle,
		MatchedRoot: amt.CertHash{Alg: amt.HashAlgorithm(v.MatchedRoot.Alg), Sum: v.MatchedRoot.Sum}, PID: v.PID, RotatedPID: v.RotatedPID, PendingRotatedPID: v.PendingPID, AgentOTP: v.AgentOTP,
		Firmware: fromVersionV1(v.Firmware), DigestRealm: v.DigestRealm, ControlMode: amt.ControlMode(v.ControlMode),
		DeviceCertPin: v.DeviceCertPin, OnDieVerified: v.OnDieVerified, AdminUser: v.AdminUser,
		Certificates: certsFromV1(v.Certificates), Blocked: v.Blocked,
		Reconciled: v.Reconciled.Time, ReconcileError: v.ReconcileErr, MPSUser: v.MPSUser, TrustedRoots: rootsFromV1(v.TrustedRoots),
	}
	if v.Source != "" {
		ap, err := netip.ParseAddrPort(v.Source)
		if err != nil {
			return nil, fmt.Errorf("%w: source: %v", ErrRecordFormat, err)
		}
		r.Source = ap
	}
	if v.History != nil {
		r.History = make([]StepRecord, len(v.History))
		for i, e := range v.History {
			r.History[i] = StepRecord{Step: e.Step, State: e.State, At: e.At.Time, Duration: time.Duration(e.Duration), Reason: e.Reason, Error: e.Error, Detail: e.Detail}
		}
	}
	if s := v.Session; s != nil {
		r.Session = &SessionRecord{Started: s.Started.Time, Done: s.Done, Bundle: s.Bundle,
			MatchedRoot: amt.CertHash{Alg: amt.HashAlgorithm(s.MatchedRoot.Alg), Sum: s.MatchedRoot.Sum}, PID: s.PID, AgentOTP: s.AgentOTP,
			Firmware: fromVersionV1(s.Firmware), DigestRealm: s.DigestRealm, DeviceCertPin: s.DeviceCertPin, OnDieVerified: s.OnDieVerified,
			AdminUser: s.AdminUser, Certificates: certsFromV1(s.Certificates)}
	}
	if a := v.Agent; a != nil {
		r.Agent = &AgentRequest{UUID: a.UUID, Inventory: a.Inventory.inventory(), Firmware: fromVersionV1(a.Firmware), Expires: a.Expires.Time,
			Mismatches: a.Mismatches, LockedUntil: a.LockedUntil.Time}
	}
	if err := checkWriteBack(r, &v); err != nil {
		return nil, err
	}
	rs := recordSealer{ctx: ctx, s: c.Sealer, uuid: v.UUID, format: v.Format, version: v.Version}
	if err := rs.openAll(recordSecrets(r, &v)); err != nil {
		return nil, err
	}
	if r.Session != nil {
		if err := rs.openAll(sessionSecrets(r.Session, v.Session)); err != nil {
			return nil, err
		}
	}
	if r.Agent != nil {
		if err := rs.openAll(agentSecrets(r.Agent, v.Agent)); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// checkWriteBack refuses, before any secret is opened, a record that Marshal
// would refuse to write back: what loads can be saved. A record written in
// compact form (20,000 certificates as {}), or with values in a shorter
// form than Marshal's (a source "[::ffff:a0a:a0a]:1", written back as
// "[::ffff:10.10.10.10]:1"), is within the limits as stored but not as
// Marshal writes it: it would load, then fail every save of the device and
// stop Reseal. r is the record decoded from v, its secrets not opened yet.
// The record is encoded as its next save would encode it — by the same
// recordToV1, in the current format, at the next version (which may be one
// digit longer), with its sealed values as stored (sealing anew keeps their
// length). A Sealer whose new key writes longer envelopes can still make a
// record at the limit too large to save: Save then fails with
// ErrRecordTooLarge, which Reseal passes over.
func checkWriteBack(r *DeviceRecord, v *recordV1) error {
	next, err := recordToV1(r, recordFormat)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecordFormat, err)
	}
	next.Version++
	copySealed(recordSecrets(r, &next), recordSecrets(r, v))
	if next.Session != nil {
		copySealed(sessionSecrets(r.Session, next.Session), sessionSecrets(r.Session, v.Session))
	}
	if next.Agent != nil {
		copySealed(agentSecrets(r.Agent, next.Agent), agentSecrets(r.Agent, v.Agent))
	}
	again, err := json.Marshal(&next)
	if err != nil {
		return fmt.Errorf("%w: it would not encode again: %v", ErrRecordFormat, err)
	}
	if len(again) > MaxRecordSize || jsonValues(again) > maxRecordValues {
		return fmt.Errorf("%w: as amtkit would write it back, it is too large to store (%d bytes; at most %d bytes and %d values)", ErrRecordFormat, len(again), MaxRecordSize, maxRecordValues)
	}
	return nil
}

// copySealed copies the sealed forms of from into to, field by field (the
// two lists are of the same part).
func copySealed(to, from []secretField) {
	for i, f := range from {
		if f.users != nil {
			*to[i].sealedUsers = *f.sealedUsers
		} else {
			*to[i].sealed = *f.sealed
		}
	}
}

// secretField pairs a secret of a record with its sealed form in the record's
// serialized form. One list per part (recordSecrets, sessionSecrets,
// agentSecrets) serves both directions, so a secret cannot be sealed on the
// way out and forgotten on the way in.
type secretField struct {
	name   string // the field's name, bound into the seal
	plain  *amt.Secret
	sealed *[]byte
	// users, sealedUsers: a list of named secrets instead (plain and sealed nil).
	users       *[]UserCredential
	sealedUsers *[]userV1
}

func recordSecrets(r *DeviceRecord, v *recordV1) []secretField {
	return []secretField{
		{name: "AdminPassword", plain: &r.AdminPassword, sealed: &v.AdminPassword},
		{name: "MEBxPassword", plain: &r.MEBxPassword, sealed: &v.MEBxPassword},
		{name: "PendingAdminPassword", plain: &r.PendingAdminPassword, sealed: &v.PendingAdmin},
		{name: "PendingMEBxPassword", plain: &r.PendingMEBxPassword, sealed: &v.PendingMEBx},
		{name: "Users", users: &r.Users, sealedUsers: &v.Users},
		{name: "NetworkSecrets", users: &r.NetworkSecrets, sealedUsers: &v.NetSecrets},
		{name: "MPSPassword", plain: &r.MPSPassword, sealed: &v.MPSPassword},
	}
}

func sessionSecrets(s *SessionRecord, v *sessionV1) []secretField {
	return []secretField{
		{name: "Session/AdminPassword", plain: &s.AdminPassword, sealed: &v.AdminPassword},
		{name: "Session/MEBxPassword", plain: &s.MEBxPassword, sealed: &v.MEBxPassword},
		{name: "Session/Users", users: &s.Users, sealedUsers: &v.Users},
	}
}

func agentSecrets(a *AgentRequest, v *agentV1) []secretField {
	return []secretField{{name: "Agent/OTP", plain: &a.OTP, sealed: &v.OTP}}
}

// sealAll seals every field of fs into its serialized form.
func (rs recordSealer) sealAll(fs []secretField) error {
	for _, f := range fs {
		var err error
		if f.users != nil {
			*f.sealedUsers, err = rs.sealUsers(f.name, *f.users)
		} else {
			*f.sealed, err = rs.seal(f.name, *f.plain)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// openAll opens every field of fs from its serialized form.
func (rs recordSealer) openAll(fs []secretField) error {
	for _, f := range fs {
		var err error
		if f.users != nil {
			*f.users, err = rs.openUsers(f.name, *f.sealedUsers)
		} else {
			*f.plain, err = rs.open(f.name, *f.sealed)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func rootsToV1(in []TrustedRoot) []rootV1 {
	if in == nil {
		return nil
	}
	out := make([]rootV1, len(in))
	for i, r := range in {
		out[i] = rootV1(r)
	}
	return out
}

func rootsFromV1(in []rootV1) []TrustedRoot {
	if in == nil {
		return nil
	}
	out := make([]TrustedRoot, len(in))
	for i, r := range in {
		out[i] = TrustedRoot(r)
	}
	return out
}
