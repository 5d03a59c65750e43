package pthi

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/wire"
)

// The payload decoders below take what [DecodeResponse] returns (the bytes after the
// status) and check every length: a short payload or an out-of-range value is a
// [*FormatError]. They never panic and allocate at most what the input holds.
//
// They tolerate what rpc-go tolerates on real devices (pkg/pthi/commands.go reads
// fixed structures with encoding/binary; pkg/amt turns them into values): bytes
// after the last field are ignored (a firmware that grows a structure keeps
// working), an AMT_BOOLEAN other than 0 or 1 counts as true (rpc-go: "> 0"), and
// an unknown hash algorithm in the trusted-hash list keeps its entry with an
// invalid hash (rpc-go: algorithm "UNKNOWN", no hash) instead of failing the whole
// list. The header's Length must still match the message exactly (DecodeResponse).

// Field sizes from the sources (intel/lms, rpc-go pkg/pthi/types.go, MeshAgent
// PTHICommand.h).
const (
	biosVersionLen      = 65 // BIOS_VERSION_LEN
	unicodeStringLen    = 20 // UNICODE_STRING_LEN
	versionEntrySize    = 2 + unicodeStringLen + 2 + unicodeStringLen
	codeVersionsMin     = biosVersionLen + 4
	certHashFieldLen    = 64 // CERT_HASH_MAX_LENGTH
	accountFieldLen     = 33 // CFG_MAX_ACL_USER_LENGTH, CFG_MAX_ACL_PWD_LENGTH
	localAccountMin     = 2 * accountFieldLen
	localAccountPadded  = 68 // what MeshCentral's amt-mei.js requires (66 plus 2 bytes of padding)
	lanSettingsSize     = 4 + 4 + 4 + 1 + 1 + 6
	hbasedSuffixListLen = 320 // MAX_SUFFIX_LENGTH (64) × MAX_DNS_SUFFIXES (5)
	hbasedRequestLen    = 1 + certHashFieldLen + 1 + 4 + hbasedSuffixListLen
	localAccountReqLen  = 40 // reserved bytes of GetLocalSystemAccount
)

// Limits of list-valued fields.
const (
	// MaxVersionEntries is VERSIONS_NUMBER of the sources: GetCodeVersions lists at
	// most 50 components.
	MaxVersionEntries = 50
	// MaxHashHandles is CERT_HASH_MAX_NUMBER in rpc-go (raised from 23 to 33 when the
	// extra factory slots 23–32 were found; rpc-go issue #42, commit 807338c9).
	MaxHashHandles = 33
	// MinOTPLength and MaxOTPLength bound the provisioning-server OTP in
	// characters. intel/lms SetProvisioningServerOTPCommand.h refuses an OTP
	// buffer outside 8–32 bytes, and its AmtAnsiString counts the terminating
	// NUL: at most 31 characters go on the wire (32 bytes with the NUL), so
	// amtkit never sends more than Intel's own LMS did. (The WS-Man
	// ProvisioningServerOTP property is described as "8-32 characters".)
	MinOTPLength = 8
	MaxOTPLength = 31
	// MaxDNSSuffixLength bounds a PKI DNS suffix (a DNS name).
	MaxDNSSuffixLength = 253
	// MaxHBasedSuffixes and MaxHBasedSuffixLength bound the DNS-suffix list of
	// StartConfigurationHBased (MAX_DNS_SUFFIXES 5 × MAX_SUFFIX_LENGTH 64 bytes with
	// the NUL, rpc-go pkg/pthi/types.go).
	MaxHBasedSuffixes     = 5
	MaxHBasedSuffixLength = 63
)

// decodeEmpty checks a status-only payload: anything after the status is
// ignored (rpc-go reads the header and nothing more).
func decodeEmpty(Command, []byte) error { return nil }

func decodeU32(cmd Command, p []byte, what string) (uint32, error) {
	r := wire.NewReader(p)
	var v uint32
	if !r.ReadU32(&v) {
		return 0, formatErr(cmd, ErrTruncated, "%s needs 4 bytes, got %d", what, len(p))
	}
	return v, nil // bytes after it are ignored
}

// readBool reads an AMT_BOOLEAN (u32): 0 is false, anything else true, as
// rpc-go reads it (pkg/amt GetCertificateHashes: IsActive > 0).
func readBool(r *wire.Reader, cmd Command, what string, v *bool) error {
	var u uint32
	if !r.ReadU32(&u) {
		return formatErr(cmd, ErrTruncated, "%s needs 4 bytes", what)
	}
	*v = u != 0
	return nil
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return binary.LittleEndian.AppendUint32(b, 1)
	}
	return binary.LittleEndian.AppendUint32(b, 0)
}

// cString returns the bytes of b up to the first NUL, and whether there was one.
func cString(b []byte) (string, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return string(b), false
	}
	return string(b[:i]), true
}

// ---- GetCodeVersions -------------------------------------------------------------

// VersionEntry is one firmware component version ("AMT", "Flash", "Build Number",
// "Sku", …) as GetCodeVersions reports it.
type VersionEntry struct {
	Description string `json:"description"`
	Version     string `json:"version"`
}

// CodeVersions is the GetCodeVersions response.
type CodeVersions struct {
	BIOS    string         `json:"bios"`
	Entries []VersionEntry `json:"entries"`
}

// Lookup returns the version of the component whose description is desc.
func (v CodeVersions) Lookup(desc string) (string, bool) {
	for _, e := range v.Entries {
		if e.Description == desc {
			return e.Version, true
		}
	}
	return "", false
}

// AMTVersion returns the "AMT" entry as an [amt.Version]; when a "Build Number" entry
// is present and numeric it becomes the fourth component (as in 11.8.50.3425), the
// form CIM_SoftwareIdentity reports. rpc-go's amtinfo reads the same two entries.
func (v CodeVersions) AMTVersion() (amt.Version, error) {
	s, ok := v.Lookup("AMT")
	if !ok {
		return amt.Version{}, formatErr(CmdGetCodeVersions, ErrBadValue, "no \"AMT\" entry among %d components", len(v.Entries))
	}
	ver, err := amt.ParseVersion(s)
	if err != nil {
		return amt.Version{}, &FormatError{Command: CmdGetCodeVersions, Kind: ErrBadValue, Detail: err.Error()}
	}
	if b, ok := v.Lookup("Build Number"); ok && ver.Revision == 0 {
		if n, err := strconv.Atoi(strings.TrimSpace(b)); err == nil && n > 0 && n < 1e9 {
			ver.Revision = n
		}
	}
	return ver, nil
}

// DecodeCodeVersions decodes a GetCodeVersions payload: BIOS version (65 bytes,
// NUL-padded), a u32 count and count entries of two AMT_UNICODE_STRINGs (u16 length
// and 20 bytes each). Layout: intel/lms GetCodeVersionCommand.h; the count check is
// that of MeshAgent PTHICommand.c _verifyCodeVersions (count entries must be
// there); bytes after them are ignored.
func DecodeCodeVersions(p []byte) (CodeVersions, error) {
	const cmd = CmdGetCodeVersions
	var v CodeVersions
	r := wire.NewReader(p)
	bios, ok := r.Bytes(biosVersionLen)
	var count uint32
	if !ok || !r.ReadU32(&count) {
		return v, formatErr(cmd, ErrTruncated, "need %d bytes for BIOS version and count, got %d", codeVersionsMin, len(p))
	}
	if count > MaxVersionEntries {
		return v, formatErr(cmd, ErrTooLarge, "at most %d version entries, got %d", MaxVersionEntries, count)
	}
	if have := r.Len() / versionEntrySize; uint32(have) < count {
		return v, formatErr(cmd, ErrTruncated, "count %d needs %d bytes of entries, got %d", count, int(count)*versionEntrySize, r.Len())
	}
	v.BIOS, _ = cString(bios)
	if count > 0 {
		v.Entries = make([]VersionEntry, count)
	}
	for i := range v.Entries {
		var err error
		if v.Entries[i].Description, err = readUnicodeString(&r, "description"); err != nil {
			return CodeVersions{}, err
		}
		if v.Entries[i].Version, err = readUnicodeString(&r, "version"); err != nil {
			return CodeVersions{}, err
		}
	}
	return v, nil
}

func readUnicodeString(r *wire.Reader, what string) (string, error) {
	var n uint16
	buf, ok := []byte(nil), r.ReadU16(&n)
	if ok {
		buf, ok = r.Bytes(unicodeStringLen)
	}
	if !ok {
		return "", formatErr(CmdGetCodeVersions, ErrTruncated, "%s string needs %d bytes", what, 2+unicodeStringLen)
	}
	if n > unicodeStringLen {
		return "", formatErr(CmdGetCodeVersions, ErrBadValue, "%s length %d exceeds %d", what, n, unicodeStringLen)
	}
	s, _ := cString(buf[:n])
	return s, nil
}

// AppendBinary appends the GetCodeVersions payload for v (for fakes and simulators).
func (v CodeVersions) AppendBinary(b []byte) ([]byte, error) {
	const cmd = CmdGetCodeVersions
	if len(v.BIOS) > biosVersionLen {
		return b, argErr(cmd, "BIOS version of %d bytes exceeds %d", len(v.BIOS), biosVersionLen)
	}
	if len(v.Entries) > MaxVersionEntries {
		return b, argErr(cmd, "%d entries exceed %d", len(v.Entries), MaxVersionEntries)
	}
	b = append(b, v.BIOS...)
	b = append(b, make([]byte, biosVersionLen-len(v.BIOS))...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v.Entries)))
	for _, e := range v.Entries {
		for _, s := range []string{e.Description, e.Version} {
			if len(s) > unicodeStringLen {
				return b, argErr(cmd, "string %q exceeds %d bytes", s, unicodeStringLen)
			}
			b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
			b = append(b, s...)
			b = append(b, make([]byte, unicodeStringLen-len(s))...)
		}
	}
	return b, nil
}

// ---- GetUUID -------------------------------------------------------------------

// DecodeUUID decodes a GetUUID payload: 16 bytes in the SMBIOS/GUID mixed-endian
// order (intel/lms GetUUIDCommand.h; byte order per rpc-go pkg/amt GetUUID and
// MeshCentral amt-mei.js getUuid).
func DecodeUUID(p []byte) (amt.UUID, error) {
	if len(p) < 16 {
		return amt.UUID{}, formatErr(CmdGetUUID, ErrTruncated, "UUID is 16 bytes, got %d", len(p))
	}
	return amt.UUIDFromWire(p[:16])
}

// ---- GetProvisioningState, GetControlMode --------------------------------------

// DecodeProvisioningState decodes a GetProvisioningState payload: a u32 of 0 (Pre),
// 1 (In) or 2 (Post) (intel/lms GetProvisioningStateCommand.h).
func DecodeProvisioningState(p []byte) (amt.ProvisioningState, error) {
	v, err := decodeU32(CmdGetProvisioningState, p, "provisioning state")
	if err != nil {
		return 0, err
	}
	if v > uint32(amt.PostProvisioning) {
		return 0, formatErr(CmdGetProvisioningState, ErrBadValue, "provisioning state must be 0-2, got %d", v)
	}
	return amt.ProvisioningState(v), nil
}

// DecodeControlMode decodes a GetControlMode payload: a u32 of 0 (none), 1 (client)
// or 2 (admin) (MeshAgent PTHICommand.h CFG_GET_CONTROL_MODE_RESPONSE; rpc-go
// GetControlModeResponse).
func DecodeControlMode(p []byte) (amt.ControlMode, error) {
	v, err := decodeU32(CmdGetControlMode, p, "control mode")
	if err != nil {
		return 0, err
	}
	if v > uint32(amt.ControlModeACM) {
		return 0, formatErr(CmdGetControlMode, ErrBadValue, "control mode must be 0-2, got %d", v)
	}
	return amt.ControlMode(v), nil
}

// ---- GetProvisioningTLSMode, GetZeroTouchEnabled, GetRNGSeedStatus -------------

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=TLSMode,RNGStatus,Interface,DHCPMode -linecomment -output=messages_string.go

// TLSMode is the remote-configuration mode GetProvisioningTLSMode reports.
// String returns "NotReady", "PSK", "PKI" or "TLSMode(n)".
type TLSMode uint32

// TLS modes (MeshAgent PTHICommand.h AMT_PROVISIONING_TLS_MODE; intel/lms
// GetProvisioningTlsModeCommand.h ProvTLSMode_t).
const (
	TLSModeNotReady TLSMode = 0 // NotReady
	TLSModePSK      TLSMode = 1 // PSK
	TLSModePKI      TLSMode = 2 // PKI
)

// MarshalText implements [encoding.TextMarshaler] with [TLSMode.String].
func (m TLSMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler]; it accepts what
// [TLSMode.MarshalText] writes.
func (m *TLSMode) UnmarshalText(b []byte) error {
	for _, v := range []TLSMode{TLSModeNotReady, TLSModePSK, TLSModePKI} {
		if string(b) == v.String() {
			*m = v
			return nil
		}
	}
	return fmt.Errorf("%w: unknown TLS mode %q", ErrInvalidArgument, b)
}

// DecodeTLSMode decodes a GetProvisioningTLSMode payload (u32, 0–2).
func DecodeTLSMode(p []byte) (TLSMode, error) {
	v, err := decodeU32(CmdGetProvisioningTLSMode, p, "TLS mode")
	if err != nil {
		return 0, err
	}
	if v > uint32(TLSModePKI) {
		return 0, formatErr(CmdGetProvisioningTLSMode, ErrBadValue, "TLS mode must be 0-2, got %d", v)
	}
	return TLSMode(v), nil
}

// DecodeZeroTouchEnabled decodes a GetZeroTouchEnabled payload (AMT_BOOLEAN;
// intel/lms GetZeroTouchEnabledCommand.h).
func DecodeZeroTouchEnabled(p []byte) (bool, error) {
	r := wire.NewReader(p)
	var v bool
	if err := readBool(&r, CmdGetZeroTouchEnabled, "ZTC enabled", &v); err != nil {
		return false, err
	}
	return v, nil
}

// RNGStatus is the state of the AMT 2.x random-number seed. String returns
// "Exists", "InProgress", "Missing" or "RNGStatus(n)".
type RNGStatus uint32

// RNG seed states (MeshAgent PTHICommand.h AMT_RNG_STATUS).
const (
	RNGSeedExists     RNGStatus = 0 // Exists
	RNGSeedInProgress RNGStatus = 1 // InProgress
	RNGSeedMissing    RNGStatus = 2 // Missing
)

// DecodeRNGSeedStatus decodes a GetRNGSeedStatus payload (u32, 0–2).
func DecodeRNGSeedStatus(p []byte) (RNGStatus, error) {
	v, err := decodeU32(CmdGetRNGSeedStatus, p, "RNG status")
	if err != nil {
		return 0, err
	}
	if v > uint32(RNGSeedMissing) {
		return 0, formatErr(CmdGetRNGSeedStatus, ErrBadValue, "RNG status must be 0-2, got %d", v)
	}
	return RNGStatus(v), nil
}

// ---- EnumerateHashHandles, GetCertHashEntry --------------------------------------

// DecodeHashHandles decodes an EnumerateHashHandles payload: a u32 count and count
// u32 handles (MeshAgent PTHICommand.c _verifyHashHandles; intel/lms
// EnumerateHashHandlesCommand.h); bytes after them are ignored (rpc-go reads a
// fixed array of 33). At most [MaxHashHandles].
func DecodeHashHandles(p []byte) ([]uint32, error) {
	const cmd = CmdEnumerateHashHandles
	r := wire.NewReader(p)
	var n uint32
	if !r.ReadU32(&n) {
		return nil, formatErr(cmd, ErrTruncated, "count needs 4 bytes, got %d", len(p))
	}
	if n > MaxHashHandles {
		return nil, formatErr(cmd, ErrTooLarge, "at most %d handles, got %d", MaxHashHandles, n)
	}
	if uint64(r.Len()) < 4*uint64(n) {
		return nil, formatErr(cmd, ErrTruncated, "%d handles need %d bytes, got %d", n, 4*n, r.Len())
	}
	if n == 0 {
		return nil, nil
	}
	h := make([]uint32, n)
	for i := range h {
		r.ReadU32(&h[i])
	}
	return h, nil
}

// CertHashEntry is one trusted root-certificate hash as GetCertHashEntry reports it.
type CertHashEntry struct {
	Name string `json:"name"`
	// Hash is the entry's hash. For an algorithm amtkit does not know (rpc-go
	// reports "UNKNOWN") it holds the algorithm code and no digest, and
	// Hash.Valid() is false: such an entry cannot match a certificate.
	Hash amt.CertHash `json:"hash"`
	// Default marks a factory hash; Active marks a hash the firmware currently trusts.
	Default bool `json:"default"`
	Active  bool `json:"active"`
}

// certHashSize returns the digest size of a PTHI hash-algorithm code: the codes of
// rpc-go pkg/amt HashAlgorithmToString and pkg/utils InterpretHashAlgorithm (0 MD5,
// 1 SHA-1, 2 SHA-256, 3 SHA-384, 4 SHA-224, 5 SHA-512). intel/lms and MeshAgent
// carry an older table (3 = SHA-512); amtkit follows rpc-go and [amt.HashAlgorithm].
func certHashSize(a amt.HashAlgorithm) int {
	switch a {
	case 0:
		return 16
	case 4:
		return 28
	}
	return a.Size()
}

// DecodeCertHashEntry decodes a GetCertHashEntry payload: IsDefault (u32), IsActive
// (u32), a 64-byte hash field, the algorithm (u8) and the name as an AMT ANSI string
// (u16 length and that many bytes) (rpc-go CertHashEntry; MeshAgent
// PTHICommand.c _verifyGetCertificateHashEntry). Trailing NULs of the name are
// dropped; bytes after the name are ignored; an unknown algorithm gives an entry
// whose Hash has that algorithm and no digest.
func DecodeCertHashEntry(p []byte) (CertHashEntry, error) {
	const cmd = CmdGetCertHashEntry
	var e CertHashEntry
	r := wire.NewReader(p)
	if err := readBool(&r, cmd, "IsDefault", &e.Default); err != nil {
		return CertHashEntry{}, err
	}
	if err := readBool(&r, cmd, "IsActive", &e.Active); err != nil {
		return CertHashEntry{}, err
	}
	sum, ok := r.Bytes(certHashFieldLen)
	var alg uint8
	var n uint16
	if !ok || !r.ReadU8(&alg) || !r.ReadU16(&n) {
		return CertHashEntry{}, formatErr(cmd, ErrTruncated, "entry needs at least %d bytes, got %d", 8+certHashFieldLen+3, len(p))
	}
	name, ok := r.Bytes(int(n))
	if !ok {
		return CertHashEntry{}, formatErr(cmd, ErrTruncated, "name of %d bytes, %d left", n, r.Len())
	}
	e.Hash = amt.CertHash{Alg: amt.HashAlgorithm(alg)}
	if size := certHashSize(e.Hash.Alg); size > 0 {
		e.Hash.Sum = bytes.Clone(sum[:size])
	}
	e.Name = strings.TrimRight(string(name), "\x00")
	return e, nil
}

// AppendBinary appends the GetCertHashEntry payload for e (for fakes and simulators).
func (e CertHashEntry) AppendBinary(b []byte) ([]byte, error) {
	const cmd = CmdGetCertHashEntry
	if size := certHashSize(e.Hash.Alg); len(e.Hash.Sum) != size {
		// An unknown algorithm travels with an empty digest (a zero field).
		return b, argErr(cmd, "hash of %d bytes for algorithm %d", len(e.Hash.Sum), e.Hash.Alg)
	}
	if len(e.Name) > 0xFFFF {
		return b, argErr(cmd, "name of %d bytes", len(e.Name))
	}
	b = appendBool(b, e.Default)
	b = appendBool(b, e.Active)
	b = append(b, e.Hash.Sum...)
	b = append(b, make([]byte, certHashFieldLen-len(e.Hash.Sum))...)
	b = append(b, byte(e.Hash.Alg))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(e.Name)))
	return append(b, e.Name...), nil
}

// ---- GetPKIDNSSuffix, SetPKIDNSSuffix ------------------------------------------

// DecodePKIDNSSuffix decodes a GetPKIDNSSuffix payload: an AMT ANSI string (u16
// length, bytes) (MeshAgent PTHICommand.c _verifyGetDnsSuffix; intel/lms
// GetDNSSuffixCommand.h). Trailing NULs are dropped; bytes after the string are
// ignored.
func DecodePKIDNSSuffix(p []byte) (string, error) {
	const cmd = CmdGetPKIDNSSuffix
	r := wire.NewReader(p)
	var n uint16
	if !r.ReadU16(&n) {
		return "", formatErr(cmd, ErrTruncated, "length needs 2 bytes, got %d", len(p))
	}
	s, ok := r.Bytes(int(n))
	if !ok {
		return "", formatErr(cmd, ErrTruncated, "suffix of %d bytes, %d left", n, r.Len())
	}
	return strings.TrimRight(string(s), "\x00"), nil
}

// dnsSuffixPayload builds the SetPKIDNSSuffix payload: u16 length and the suffix
// without a terminating NUL (intel/lms SetDNSSuffixCommand.h constructs its
// AmtAnsiString with nullTerminated=false; MeshAgent pthi_SetDnsSuffix sends
// Length bytes).
func dnsSuffixPayload(s string) ([]byte, error) {
	if err := checkASCII(CmdSetPKIDNSSuffix, "DNS suffix", s, MaxDNSSuffixLength); err != nil {
		return nil, err
	}
	b := binary.LittleEndian.AppendUint16(make([]byte, 0, 2+len(s)), uint16(len(s)))
	return append(b, s...), nil
}

func checkASCII(cmd Command, what, s string, max int) error {
	if len(s) > max {
		return argErr(cmd, "%s of %d bytes exceeds %d", what, len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return argErr(cmd, "%s must be printable ASCII without spaces (byte %d is %#02x)", what, i, c)
		}
	}
	return nil
}

// ---- SetProvisioningServerOTP ------------------------------------------------------

// otpPayload builds the SetProvisioningServerOTP payload. intel/lms
// SetProvisioningServerOTPCommand serializes the OTP as an AmtAnsiString with its
// default nullTerminated=true: u16 length = len(otp)+1, the OTP, then a NUL. This is
// the encoding Intel's own LMS sent (its WMI Activate method); MeshAgent's older
// pthi_SetProvisioningServerOTP sends whatever length its caller gives. The OTP must
// be 8–31 printable ASCII characters (LMS checks the size; the characters are our
// rule so that the NUL terminator stays unambiguous and the value survives WS-Man).
func otpPayload(otp amt.Secret) ([]byte, error) {
	s := otp.Reveal()
	if len(s) < MinOTPLength || len(s) > MaxOTPLength {
		return nil, fmt.Errorf("%w: %w: got %d characters", ErrInvalidArgument, ErrOTPFormat, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			// Never print the OTP or the offending byte.
			return nil, fmt.Errorf("%w: %w: a character is not printable ASCII", ErrInvalidArgument, ErrOTPFormat)
		}
	}
	b := binary.LittleEndian.AppendUint16(make([]byte, 0, 3+len(s)), uint16(len(s)+1))
	b = append(b, s...)
	return append(b, 0), nil
}

// ---- GetLocalSystemAccount ---------------------------------------------------------

// LocalSystemAccount is the firmware's local system account ("$$OsAdmin" and a
// generated password) that host-based setup uses as digest credentials on LMS.
type LocalSystemAccount struct {
	Username string
	Password amt.Secret
}

// DecodeLocalSystemAccount decodes a GetLocalSystemAccount payload: user name and
// password as two NUL-terminated 33-byte fields (intel/lms
// GetLocalSystemAccountCommand.h; MeshAgent PTHICommand.h LOCAL_SYSTEM_ACCOUNT).
// MeshCentral's amt-mei.js requires a 68-byte payload (two bytes of padding); from
// 66 bytes on the payload is accepted and anything after the two fields ignored.
// A field without its NUL is malformed.
func DecodeLocalSystemAccount(p []byte) (LocalSystemAccount, error) {
	const cmd = CmdGetLocalSystemAccount
	if len(p) < localAccountMin {
		return LocalSystemAccount{}, formatErr(cmd, ErrTruncated, "account needs %d bytes, got %d", localAccountMin, len(p))
	}
	user, ok1 := cString(p[:accountFieldLen])
	pass, ok2 := cString(p[accountFieldLen : 2*accountFieldLen])
	if !ok1 || !ok2 {
		return LocalSystemAccount{}, formatErr(cmd, ErrBadValue, "user name and password must be NUL-terminated within %d bytes", accountFieldLen)
	}
	return LocalSystemAccount{Username: user, Password: amt.NewSecret(pass)}, nil
}

// AppendBinary appends the 66-byte GetLocalSystemAccount payload for a (for fakes).
func (a LocalSystemAccount) AppendBinary(b []byte) ([]byte, error) {
	if len(a.Username) >= accountFieldLen || a.Password.Len() >= accountFieldLen {
		return b, argErr(CmdGetLocalSystemAccount, "user name and password must be under %d bytes", accountFieldLen)
	}
	for _, s := range []string{a.Username, a.Password.Reveal()} {
		b = append(b, s...)
		b = append(b, make([]byte, accountFieldLen-len(s))...)
	}
	return b, nil
}

// ---- GetLANInterfaceSettings ---------------------------------------------------------

// Interface selects the LAN interface of GetLANInterfaceSettings. String returns
// "wired", "wireless" or "Interface(n)".
type Interface uint32

// Interfaces (intel/lms INTERFACE_SETTINGS).
const (
	InterfaceWired    Interface = 0 // wired
	InterfaceWireless Interface = 1 // wireless
)

// DHCPMode is the DHCP IP mode of a LAN interface. String returns "active",
// "passive" or "DHCPMode(n)".
type DHCPMode uint8

// DHCP modes (MeshAgent PTHICommand.h AMT_DHCP_IP_MODE; MeshCentral amt-mei.js).
const (
	DHCPModeActive  DHCPMode = 1 // active
	DHCPModePassive DHCPMode = 2 // passive
)

// LANSettings is the GetLANInterfaceSettings response.
type LANSettings struct {
	Enabled     bool             `json:"enabled"`
	IPv4        netip.Addr       `json:"ipv4"`
	DHCPEnabled bool             `json:"dhcpEnabled"`
	DHCPMode    DHCPMode         `json:"dhcpMode"`
	LinkUp      bool             `json:"linkUp"`
	MAC         net.HardwareAddr `json:"mac"`
}

// DecodeLANSettings decodes a GetLANInterfaceSettings payload: Enabled (u32 bool),
// IPv4 address (u32 whose value 0x01020304 means 1.2.3.4), DhcpEnabled (u32 bool),
// DhcpIpMode (u8), LinkStatus (u8, 0 down, 1 up), MAC (6 bytes): 20 bytes exactly
// (intel/lms GetLanInterfaceSettingsCommand.h LAN_SETTINGS; MeshAgent checks the
// exact size).
func DecodeLANSettings(p []byte) (LANSettings, error) {
	const cmd = CmdGetLANInterfaceSettings
	if len(p) < lanSettingsSize {
		return LANSettings{}, formatErr(cmd, ErrTruncated, "settings are %d bytes, got %d", lanSettingsSize, len(p))
	}
	var s LANSettings
	r := wire.NewReader(p)
	var ip uint32
	var link uint8
	if err := readBool(&r, cmd, "Enabled", &s.Enabled); err != nil {
		return LANSettings{}, err
	}
	r.ReadU32(&ip)
	if err := readBool(&r, cmd, "DhcpEnabled", &s.DHCPEnabled); err != nil {
		return LANSettings{}, err
	}
	var mode uint8
	r.ReadU8(&mode)
	r.ReadU8(&link)
	mac, _ := r.Bytes(6)
	if link > 1 {
		return LANSettings{}, formatErr(cmd, ErrBadValue, "link status must be 0 or 1, got %d", link)
	}
	s.DHCPMode = DHCPMode(mode)
	s.LinkUp = link == 1
	s.IPv4 = netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)})
	s.MAC = net.HardwareAddr(bytes.Clone(mac))
	return s, nil
}

// AppendBinary appends the 20-byte GetLANInterfaceSettings payload for s.
func (s LANSettings) AppendBinary(b []byte) ([]byte, error) {
	const cmd = CmdGetLANInterfaceSettings
	if len(s.MAC) != 6 {
		return b, argErr(cmd, "MAC must be 6 bytes, got %d", len(s.MAC))
	}
	var ip [4]byte
	if s.IPv4.IsValid() {
		if !s.IPv4.Is4() {
			return b, argErr(cmd, "address %v is not IPv4", s.IPv4)
		}
		ip = s.IPv4.As4()
	}
	b = appendBool(b, s.Enabled)
	b = binary.LittleEndian.AppendUint32(b, uint32(ip[0])<<24|uint32(ip[1])<<16|uint32(ip[2])<<8|uint32(ip[3]))
	b = appendBool(b, s.DHCPEnabled)
	link := byte(0)
	if s.LinkUp {
		link = 1
	}
	b = append(b, byte(s.DHCPMode), link)
	return append(b, s.MAC...), nil
}

// ---- StartConfigurationHBased ------------------------------------------------------

// HBasedRequest is the StartConfigurationHBased request.
//
// Layout (rpc-go pkg/pthi StartConfigurationHBasedRequest, header Length 390):
// ServerHashAlgorithm u8 (2 SHA-256, 3 SHA-384), ServerCertHash [64] (digest, zero
// padded), HostVPNEnable u8 (0/1), SuffixListLen u32 (bytes used in the list),
// NetworkDNSSuffixList [320] (NUL-terminated suffixes, zero padded).
//
// MeshCentral's amt-mei.js writes a different layout (HostVPN as a u32, a suffix
// count instead of a byte length, and no list when there are no suffixes).
// amtkit follows rpc-go because rpc-go's layout is the one used in its AMT 19–21
// TLS activation path (internal/commands/activate/local.go); only the empty
// suffix list that rpc-go sends has been exercised there.
type HBasedRequest struct {
	// ServerHash is the SHA-256 or SHA-384 hash of the provisioning certificate's
	// leaf (DER). See [LeafHash].
	ServerHash amt.CertHash
	// HostVPN lets the firmware accept the configuration over a host VPN.
	HostVPN bool
	// DNSSuffixes optionally lists trusted network DNS suffixes (at most 5, each at
	// most 63 bytes). Unverified on hardware: rpc-go always sends an empty list.
	DNSSuffixes []string
}

// AppendBinary appends the 390-byte request payload for r.
func (r HBasedRequest) AppendBinary(b []byte) ([]byte, error) {
	const cmd = CmdStartConfigurationHBased
	h := r.ServerHash
	if (h.Alg != amt.HashSHA256 && h.Alg != amt.HashSHA384) || len(h.Sum) != h.Alg.Size() {
		return b, argErr(cmd, "server hash must be SHA-256 or SHA-384 with a full digest, got %v with %d bytes", h.Alg, len(h.Sum))
	}
	if len(r.DNSSuffixes) > MaxHBasedSuffixes {
		return b, argErr(cmd, "at most %d DNS suffixes, got %d", MaxHBasedSuffixes, len(r.DNSSuffixes))
	}
	list := make([]byte, 0, hbasedSuffixListLen)
	for _, s := range r.DNSSuffixes {
		if s == "" {
			return b, argErr(cmd, "empty DNS suffix")
		}
		if err := checkASCII(cmd, "DNS suffix", s, MaxHBasedSuffixLength); err != nil {
			return b, err
		}
		list = append(append(list, s...), 0)
	}
	b = append(b, byte(h.Alg))
	b = append(b, h.Sum...)
	b = append(b, make([]byte, certHashFieldLen-len(h.Sum))...)
	vpn := byte(0)
	if r.HostVPN {
		vpn = 1
	}
	b = append(b, vpn)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(list)))
	b = append(b, list...)
	return append(b, make([]byte, hbasedSuffixListLen-len(list))...), nil
}

// DecodeHBasedResponse decodes a StartConfigurationHBased payload: the hash algorithm
// of AMT's TLS certificate (u8, 2 or 3) and its hash. rpc-go reads a 64-byte hash
// field (65-byte payload); MeshCentral reads only the digest (33 or 49 bytes). Both
// are accepted, and bytes after the 64-byte field ignored; the digest is the first
// 32 or 48 bytes, or — where the field holds exactly twice as many hexadecimal
// characters, as rpc-go says newer firmware returns — their value.
func DecodeHBasedResponse(p []byte) (amt.CertHash, error) {
	const cmd = CmdStartConfigurationHBased
	r := wire.NewReader(p)
	var alg uint8
	if !r.ReadU8(&alg) {
		return amt.CertHash{}, formatErr(cmd, ErrTruncated, "hash algorithm needs 1 byte, got 0")
	}
	a := amt.HashAlgorithm(alg)
	if a != amt.HashSHA256 && a != amt.HashSHA384 {
		return amt.CertHash{}, formatErr(cmd, ErrBadValue, "hash algorithm must be 2 (SHA-256) or 3 (SHA-384), got %d", alg)
	}
	if r.Len() < a.Size() {
		return amt.CertHash{}, formatErr(cmd, ErrTruncated, "hash field needs %d bytes, got %d", a.Size(), r.Len())
	}
	field := r.Rest()
	if len(field) > certHashFieldLen {
		field = field[:certHashFieldLen] // bytes after the 64-byte field are ignored
	}
	// rpc-go (internal/certs/lmsTls.go, decodeAMTCertHash): "Newer firmware can
	// return ASCII hex (64 chars for SHA-256)" in the fixed-size field.
	if t := strings.TrimSpace(strings.TrimRight(string(field), "\x00")); len(t) == 2*a.Size() {
		if sum, err := hex.DecodeString(t); err == nil {
			return amt.CertHash{Alg: a, Sum: sum}, nil
		}
	}
	return amt.CertHash{Alg: a, Sum: bytes.Clone(field[:a.Size()])}, nil
}
