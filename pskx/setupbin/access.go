package setupbin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
)

// ErrNotSet is returned by the typed getters of [DataRecord] that can fail when
// the variable is absent.
var ErrNotSet = errors.New("setupbin: variable not set in the record")

// Get returns the value of the first entry for v.
func (r *DataRecord) Get(v Var) ([]byte, bool) {
	for _, e := range r.Entries {
		if e.Var == v {
			return e.Value, true
		}
	}
	return nil, false
}

// GetAll returns the values of every entry for v, in order.
func (r *DataRecord) GetAll(v Var) [][]byte {
	var out [][]byte
	for _, e := range r.Entries {
		if e.Var == v {
			out = append(out, e.Value)
		}
	}
	return out
}

// Set makes value the only entry for v: it replaces the first entry for v and
// removes any others, or appends one. The value is copied.
func (r *DataRecord) Set(v Var, value []byte) {
	value = slices.Clone(value)
	if value == nil {
		value = []byte{}
	}
	for i, e := range r.Entries {
		if e.Var == v {
			r.Entries[i].Value = value
			r.removeAfter(i, v)
			return
		}
	}
	r.Entries = append(r.Entries, Entry{Var: v, Value: value})
}

// Add appends an entry for v (for repeatable variables such as
// [VarCustomRootHash]). The value is copied.
func (r *DataRecord) Add(v Var, value []byte) {
	r.Entries = append(r.Entries, Entry{Var: v, Value: append([]byte{}, value...)})
}

// Delete removes every entry for v and reports how many there were.
func (r *DataRecord) Delete(v Var) int {
	n := len(r.Entries)
	r.Entries = slices.DeleteFunc(r.Entries, func(e Entry) bool { return e.Var == v })
	return n - len(r.Entries)
}

func (r *DataRecord) removeAfter(i int, v Var) {
	keep := r.Entries[:i+1]
	for _, e := range r.Entries[i+1:] {
		if e.Var != v {
			keep = append(keep, e)
		}
	}
	clear(r.Entries[len(keep):])
	r.Entries = keep
}

func (r *DataRecord) getString(v Var) (string, bool) {
	b, ok := r.Get(v)
	return string(b), ok
}

func (r *DataRecord) setString(v Var, s string) error {
	if !lengthOK(v, len(s)) {
		return fmt.Errorf("%w: %v takes %s, got %d", ErrVarLength, v, lengthRule(v), len(s))
	}
	if !printableASCII(s) {
		return fmt.Errorf("%w: %v must be printable ASCII", ErrVarValue, v)
	}
	r.Set(v, []byte(s))
	return nil
}

// Uint8 returns the value of a one-byte variable.
func (r *DataRecord) Uint8(v Var) (uint8, bool) {
	b, ok := r.Get(v)
	if !ok || len(b) != 1 {
		return 0, false
	}
	return b[0], true
}

// SetUint8 sets a one-byte variable. Enumerated variables accept only their
// legal values.
func (r *DataRecord) SetUint8(v Var, x uint8) error {
	if i, ok := catalogue(v); ok && i.kind != kindU8 {
		return fmt.Errorf("%w: %v is not a one-byte variable", ErrVarLength, v)
	}
	if enumerated(v) {
		if _, ok := valueName(v, int(x)); !ok {
			return fmt.Errorf("%w: %d is not a legal value of %v", ErrVarValue, x, v)
		}
	}
	r.Set(v, []byte{x})
	return nil
}

// Bool returns a 0/1 variable (remote configuration, KVM, shared FQDN, …) as a
// bool.
func (r *DataRecord) Bool(v Var) (value, ok bool) {
	x, ok := r.Uint8(v)
	return x != 0, ok
}

// SetBool sets a one-byte variable to 0 or 1.
func (r *DataRecord) SetBool(v Var, b bool) error {
	var x uint8
	if b {
		x = 1
	}
	return r.SetUint8(v, x)
}

// Uint16 returns the value of a two-byte little-endian variable.
func (r *DataRecord) Uint16(v Var) (uint16, bool) {
	b, ok := r.Get(v)
	if !ok || len(b) != 2 {
		return 0, false
	}
	return uint16(leUint(b)), true
}

// Uint32 returns the value of a four-byte little-endian variable.
func (r *DataRecord) Uint32(v Var) (uint32, bool) {
	b, ok := r.Get(v)
	if !ok || len(b) != 4 {
		return 0, false
	}
	return uint32(leUint(b)), true
}

// SetUint32 sets a four-byte little-endian variable.
func (r *DataRecord) SetUint32(v Var, x uint32) error {
	if i, ok := catalogue(v); ok && i.kind != kindU32 {
		return fmt.Errorf("%w: %v is not a four-byte variable", ErrVarLength, v)
	}
	r.Set(v, binary.LittleEndian.AppendUint32(nil, x))
	return nil
}

// CurrentMEBxPassword returns variable 1/1, the MEBx password the MEBx logs in with.
func (r *DataRecord) CurrentMEBxPassword() (amt.Secret, bool) {
	s, ok := r.getString(VarCurrentMEBxPassword)
	return amt.NewSecret(s), ok
}

// SetCurrentMEBxPassword sets variable 1/1 (1–32 printable ASCII characters;
// the factory value is "admin").
func (r *DataRecord) SetCurrentMEBxPassword(pw amt.Secret) error {
	return r.setString(VarCurrentMEBxPassword, pw.Reveal())
}

// NewMEBxPassword returns variable 1/2, the MEBx password the record sets.
func (r *DataRecord) NewMEBxPassword() (amt.Secret, bool) {
	s, ok := r.getString(VarNewMEBxPassword)
	return amt.NewSecret(s), ok
}

// SetNewMEBxPassword sets variable 1/2. The password must pass
// [amt.CheckPassword]; the error then wraps the [*amt.PasswordError].
func (r *DataRecord) SetNewMEBxPassword(pw amt.Secret) error {
	if err := amt.CheckPassword(pw.Reveal()); err != nil {
		return fmt.Errorf("%w: new MEBx password: %w", ErrVarValue, err)
	}
	r.Set(VarNewMEBxPassword, []byte(pw.Reveal()))
	return nil
}

// PID returns variable 2/1. It fails with [ErrNotSet] when absent, with a
// [*pskx.FormatError] when the stored characters are not a valid PID, and
// with [ErrVarValue] when they are one in another form than the compact
// upper-case one AMT takes (lower case, dashes): the PID the MEBx was given
// is those bytes, not the canonical value a parser would make of them.
func (r *DataRecord) PID() (pskx.PID, error) {
	s, ok := r.getString(VarPID)
	if !ok {
		return pskx.PID{}, ErrNotSet
	}
	pid, err := pskx.ParsePID(s)
	if err == nil && pid.Compact() != s {
		return pskx.PID{}, fmt.Errorf("%w: the PID is stored as %d characters that are not its compact upper-case form", ErrVarValue, len(s))
	}
	return pid, err
}

// PPS returns variable 2/2, failing like [DataRecord.PID] (the TLS-PSK key is
// derived from the stored characters, so a PPS stored in another form would
// give another key than its canonical value's). Errors never quote it.
func (r *DataRecord) PPS() (pskx.PPS, error) {
	s, ok := r.getString(VarPPS)
	if !ok {
		return pskx.PPS{}, ErrNotSet
	}
	pps, err := pskx.ParsePPS(s)
	if err == nil && pps.Reveal() != s {
		return pskx.PPS{}, fmt.Errorf("%w: the PPS is stored as %d characters that are not its compact upper-case form", ErrVarValue, len(s))
	}
	return pps, err
}

// SetPair sets the PID (2/1) and PPS (2/2), stored without dashes, and, when the
// pair carries one, the new MEBx password (1/2).
func (r *DataRecord) SetPair(p pskx.Pair) error {
	if p.PID.IsZero() || p.PPS.IsZero() {
		return fmt.Errorf("%w: a PID/PPS pair needs both values", ErrVarValue)
	}
	if !p.MEBxPassword.IsZero() {
		if err := r.SetNewMEBxPassword(p.MEBxPassword); err != nil {
			return err
		}
	}
	r.Set(VarPID, []byte(p.PID.Compact()))
	r.Set(VarPPS, []byte(p.PPS.Reveal()))
	return nil
}

// Pair returns the PID, PPS and new MEBx password of the record.
func (r *DataRecord) Pair() (pskx.Pair, error) {
	pid, err := r.PID()
	if err != nil {
		return pskx.Pair{}, err
	}
	pps, err := r.PPS()
	if err != nil {
		return pskx.Pair{}, err
	}
	pw, _ := r.NewMEBxPassword()
	return pskx.Pair{PID: pid, PPS: pps, MEBxPassword: pw}, nil
}

// PKIDNSSuffix returns variable 2/3.
func (r *DataRecord) PKIDNSSuffix() (string, bool) { return r.getString(VarPKIDNSSuffix) }

// SetPKIDNSSuffix sets variable 2/3 (1–255 ASCII characters).
func (r *DataRecord) SetPKIDNSSuffix(s string) error { return r.setString(VarPKIDNSSuffix, s) }

// ConfigServerFQDN returns variable 2/4.
func (r *DataRecord) ConfigServerFQDN() (string, bool) { return r.getString(VarConfigServerFQDN) }

// SetConfigServerFQDN sets variable 2/4 (1–255 ASCII characters).
func (r *DataRecord) SetConfigServerFQDN(s string) error {
	return r.setString(VarConfigServerFQDN, s)
}

// Hostname returns variable 2/11.
func (r *DataRecord) Hostname() (string, bool) { return r.getString(VarHostname) }

// SetHostname sets variable 2/11 (1–64 ASCII characters).
func (r *DataRecord) SetHostname(s string) error { return r.setString(VarHostname, s) }

// DomainName returns variable 2/12.
func (r *DataRecord) DomainName() (string, bool) { return r.getString(VarDomainName) }

// SetDomainName sets variable 2/12 (1–256 ASCII characters).
func (r *DataRecord) SetDomainName(s string) error { return r.setString(VarDomainName, s) }

// ProvisioningServerAddress returns variable 2/17 (stored byte-reversed).
func (r *DataRecord) ProvisioningServerAddress() (netip.Addr, bool) {
	b, ok := r.Get(VarProvisioningServerAddress)
	if !ok || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, false
	}
	return addrFromWire(b), true
}

// SetProvisioningServerAddress sets variable 2/17 to an IPv4 or IPv6 address.
func (r *DataRecord) SetProvisioningServerAddress(a netip.Addr) error {
	if !a.IsValid() || a.Zone() != "" {
		return fmt.Errorf("%w: provisioning server address %v", ErrVarValue, a)
	}
	r.Set(VarProvisioningServerAddress, addrToWire(a))
	return nil
}

// ProvisioningServerPort returns variable 2/18.
func (r *DataRecord) ProvisioningServerPort() (uint16, bool) {
	return r.Uint16(VarProvisioningServerPort)
}

// SetProvisioningServerPort sets variable 2/18 (the firmware's default is 9971).
func (r *DataRecord) SetProvisioningServerPort(port uint16) error {
	if port == 0 {
		return fmt.Errorf("%w: provisioning server port 0", ErrVarValue)
	}
	r.Set(VarProvisioningServerPort, binary.LittleEndian.AppendUint16(nil, port))
	return nil
}

// CustomRootHashes returns every variable 2/8 in order.
func (r *DataRecord) CustomRootHashes() ([]CustomRootHash, error) {
	var out []CustomRootHash
	for _, b := range r.GetAll(VarCustomRootHash) {
		h, err := parseCustomRootHash(b)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// AddCustomRootHash appends a variable 2/8. At most 3 fit; SHA-256 and SHA-384
// need file version 3.0 or later (checked by [File.Check]).
func (r *DataRecord) AddCustomRootHash(h CustomRootHash) error {
	b, err := h.marshal()
	if err != nil {
		return err
	}
	r.Add(VarCustomRootHash, b)
	return nil
}

// DHCP returns variable 2/13.
func (r *DataRecord) DHCP() (DHCPMode, bool) {
	x, ok := r.Uint8(VarDHCP)
	return DHCPMode(x), ok
}

// SetDHCP sets variable 2/13.
func (r *DataRecord) SetDHCP(m DHCPMode) error { return r.SetUint8(VarDHCP, uint8(m)) }

// Redirection returns variable 2/10.
func (r *DataRecord) Redirection() (Redirection, bool) {
	x, ok := r.Uint8(VarRedirection)
	return Redirection(x), ok
}

// SetRedirection sets variable 2/10.
func (r *DataRecord) SetRedirection(x Redirection) error {
	if x > 7 {
		return fmt.Errorf("%w: redirection bits 0x%02x (only bits 0–2 exist)", ErrVarValue, uint8(x))
	}
	return r.SetUint8(VarRedirection, uint8(x))
}

// UserConsent returns variable 2/26.
func (r *DataRecord) UserConsent() (ConsentPolicy, bool) {
	x, ok := r.Uint8(VarUserConsent)
	return ConsentPolicy(x), ok
}

// SetUserConsent sets variable 2/26.
func (r *DataRecord) SetUserConsent(c ConsentPolicy) error {
	return r.SetUint8(VarUserConsent, uint8(c))
}

// ProvisioningAction returns variable 2/28.
func (r *DataRecord) ProvisioningAction() (ProvisioningAction, bool) {
	x, ok := r.Uint8(VarProvisioningAction)
	return ProvisioningAction(x), ok
}

// SetProvisioningAction sets variable 2/28. The encoder writes it after the PKI
// DNS suffix, configuration server FQDN and provisioning server address, as the
// MEBx requires.
func (r *DataRecord) SetProvisioningAction(a ProvisioningAction) error {
	return r.SetUint8(VarProvisioningAction, uint8(a))
}

// UserCertsConfig returns variable 2/7.
func (r *DataRecord) UserCertsConfig() (UserCertsConfig, bool) {
	x, ok := r.Uint8(VarUserCertsConfig)
	return UserCertsConfig(x), ok
}

// SetUserCertsConfig sets variable 2/7.
func (r *DataRecord) SetUserCertsConfig(c UserCertsConfig) error {
	return r.SetUint8(VarUserCertsConfig, uint8(c))
}

// PowerPackage returns variable 1/6, a GUID stored in EFI byte order.
func (r *DataRecord) PowerPackage() (amt.UUID, bool) {
	b, ok := r.Get(VarPowerPackage)
	if !ok {
		return amt.UUID{}, false
	}
	u, err := amt.UUIDFromWire(b)
	return u, err == nil
}

// SetPowerPackage sets variable 1/6.
func (r *DataRecord) SetPowerPackage(u amt.UUID) {
	w := u.Wire()
	r.Set(VarPowerPackage, w[:])
}

// IdleTimeout returns variable 2/15 (the firmware uses the low 16 bits).
func (r *DataRecord) IdleTimeout() (uint32, bool) { return r.Uint32(VarIdleTimeout) }

// SetIdleTimeout sets variable 2/15.
func (r *DataRecord) SetIdleTimeout(x uint16) error { return r.SetUint32(VarIdleTimeout, uint32(x)) }

// StaticIPv4 returns variable 2/19.
func (r *DataRecord) StaticIPv4() (StaticIPv4, bool) {
	b, ok := r.Get(VarStaticIPv4)
	if !ok || len(b) != 20 {
		return StaticIPv4{}, false
	}
	return staticIPv4FromWire(b), true
}

// SetStaticIPv4 sets variable 2/19; invalid (zero) addresses are written as
// 0.0.0.0.
func (r *DataRecord) SetStaticIPv4(s StaticIPv4) error {
	b, err := s.marshal()
	if err != nil {
		return err
	}
	r.Set(VarStaticIPv4, b)
	return nil
}
