package setupbin

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/wire"
	"github.com/amtkit/amtkit/pskx"
)

// Var names one setup.bin variable: a module identifier in the high 16 bits and
// the variable identifier within the module in the low 16 bits. The constants
// below are the catalogue of MeshCentral's amt/amt-setupbin.js
// (AmtSetupBinVarIds); any other value is an
// unknown variable whose bytes are kept as they are.
type Var uint32

// MakeVar builds a Var from a module and a variable identifier.
func MakeVar(module, id uint16) Var { return Var(uint32(module)<<16 | uint32(id)) }

// Module returns the module identifier (1 ME kernel, 2 AMT configuration manager).
func (v Var) Module() uint16 { return uint16(v >> 16) }

// ID returns the variable identifier within its module.
func (v Var) ID() uint16 { return uint16(v) }

// Modules of setup.bin entries.
const (
	ModuleMEKernel  uint16 = 1 // ME kernel: MEBx passwords, manageability, power package
	ModuleAMTConfig uint16 = 2 // Intel AMT configuration manager: everything else
)

// Module 1 (ME kernel) variables.
const (
	VarCurrentMEBxPassword     Var = 1<<16 | 1 // string ≤32: the MEBx password to log in with (factory "admin")
	VarNewMEBxPassword         Var = 1<<16 | 2 // string 8–32: the new MEBx password (AMT's strong-password rule)
	VarManageabilitySelection  Var = 1<<16 | 3 // u8: 1 = Intel AMT
	VarFirmwareLocalUpdate     Var = 1<<16 | 4 // u8: 0 off, 1 on (2 "password protected" is deprecated)
	VarFirmwareUpdateQualifier Var = 1<<16 | 5 // u8: 0 always, 1 never, 2 restricted; reserved on modern MEBx
	VarPowerPackage            Var = 1<<16 | 6 // GUID: power package
)

// Module 2 (Intel AMT configuration manager) variables.
const (
	VarPID                       Var = 2<<16 | 1  // 8 characters: the PSK provisioning identifier
	VarPPS                       Var = 2<<16 | 2  // 32 characters: the PSK provisioning passphrase
	VarPKIDNSSuffix              Var = 2<<16 | 3  // string 1–255: PKI DNS suffix
	VarConfigServerFQDN          Var = 2<<16 | 4  // string 1–255: configuration server FQDN
	VarRemoteConfiguration       Var = 2<<16 | 5  // u8 0/1: remote configuration (zero touch) enabled
	VarPreinstalledHashes        Var = 2<<16 | 6  // u8 0/1: factory root hashes enabled
	VarUserCertsConfig           Var = 2<<16 | 7  // u8: user-defined hashes 0 disable, 1 enable, 2 delete
	VarCustomRootHash            Var = 2<<16 | 8  // 22–81 bytes: a user-defined root hash (repeatable, at most 3)
	VarRedirection               Var = 2<<16 | 10 // u8 bits: SOL, storage redirection, user/password auth
	VarHostname                  Var = 2<<16 | 11 // string ≤64
	VarDomainName                Var = 2<<16 | 12 // string ≤256
	VarDHCP                      Var = 2<<16 | 13 // u8: 1 disabled (static), 2 enabled
	VarSecureFirmwareUpdate      Var = 2<<16 | 14 // u8; refused by modern MEBx
	VarIdleTimeout               Var = 2<<16 | 15 // u32 (low 16 bits used)
	VarProvisioningMode          Var = 2<<16 | 16 // u8 enterprise/SMB; refused by modern MEBx
	VarProvisioningServerAddress Var = 2<<16 | 17 // 4 (IPv4) or 16 (IPv6) bytes, byte-reversed
	VarProvisioningServerPort    Var = 2<<16 | 18 // u16 (default 9971)
	VarStaticIPv4                Var = 2<<16 | 19 // 20 bytes: five IPv4 addresses
	VarVLAN                      Var = 2<<16 | 20 // refused by modern MEBx
	VarPasswordPolicy            Var = 2<<16 | 21 // u8
	VarIPv6                      Var = 2<<16 | 22 // 84 bytes of IPv6 interface settings
	VarSharedFQDN                Var = 2<<16 | 23 // u8: 0 dedicated, 1 shared
	VarDynamicDNS                Var = 2<<16 | 24 // u8 0/1; ignored by modern MEBx
	VarKVM                       Var = 2<<16 | 25 // u8 0/1: KVM enabled
	VarUserConsent               Var = 2<<16 | 26 // u8: 0 none, 1 KVM, 0xFF all
	VarRemoteITConsent           Var = 2<<16 | 27 // u8 0/1: consent policy may be changed remotely
	VarProvisioningAction        Var = 2<<16 | 28 // u8: 0 halt, 1 start (must follow suffix, FQDN, address)
	VarManualSetup               Var = 2<<16 | 29 // u8 0/1: manual setup and configuration
	VarSupportChannelID          Var = 2<<16 | 30 // u32
	VarSupportChannelDescription Var = 2<<16 | 31 // string ≤60
	VarServiceAccountNumber      Var = 2<<16 | 32 // string ≤32
	VarEnrollmentPasscode        Var = 2<<16 | 33 // string ≤32 (secret)
	VarServiceType               Var = 2<<16 | 34 // u32: 1 reactive, 2 proactive, 4 one-time
	VarServiceProviderID         Var = 2<<16 | 35 // GUID
)

type varKind uint8

const (
	kindBytes  varKind = iota // opaque or structured bytes
	kindString                // ASCII text
	kindSecret                // ASCII text that is never printed
	kindU8
	kindU16
	kindU32
	kindGUID
)

// modernBehaviour is what the UEFI MEBx reference code does with a variable
// (its MebxUsbProvision.c, one Process*Variable function per variable).
type modernBehaviour uint8

const (
	modernApplied modernBehaviour = iota
	modernAborts                  // default branch: error shown, provisioning stops
	modernIgnored                 // skipped ("no longer supported")
)

type varInfo struct {
	name       string
	kind       varKind
	min, max   int         // legal value lengths (inclusive)
	alt        int         // another legal length, when non-zero
	since      FileVersion // earliest file version that carries it
	sinceSure  bool        // since is documented (else an assumption: a warning, not an error)
	repeatable bool        // may appear more than once in a record
	modern     modernBehaviour
}

// catalogue returns what amtkit knows about v. It builds nothing global: the table
// is a switch, so no package state exists.
func catalogue(v Var) (varInfo, bool) {
	switch v {
	case VarCurrentMEBxPassword:
		return varInfo{name: "current MEBx password", kind: kindSecret, min: 1, max: 32, since: FileVersion10, sinceSure: true}, true
	case VarNewMEBxPassword:
		return varInfo{name: "new MEBx password", kind: kindSecret, min: 1, max: 32, since: FileVersion10, sinceSure: true}, true
	case VarManageabilitySelection:
		return varInfo{name: "manageability feature selection", kind: kindU8, min: 1, max: 1, since: FileVersion20, sinceSure: true}, true
	case VarFirmwareLocalUpdate:
		return varInfo{name: "firmware local update", kind: kindU8, min: 1, max: 1, since: FileVersion21, sinceSure: true}, true
	case VarFirmwareUpdateQualifier:
		return varInfo{name: "firmware update qualifier", kind: kindU8, min: 1, max: 1, since: FileVersion21, sinceSure: true, modern: modernAborts}, true
	case VarPowerPackage:
		return varInfo{name: "power package", kind: kindGUID, min: 16, max: 16, since: FileVersion21, sinceSure: true}, true
	case VarPID:
		return varInfo{name: "PID", kind: kindString, min: pskx.PIDLen, max: pskx.PIDLen, since: FileVersion10, sinceSure: true, modern: modernAborts}, true
	case VarPPS:
		return varInfo{name: "PPS", kind: kindSecret, min: pskx.PPSLen, max: pskx.PPSLen, since: FileVersion10, sinceSure: true, modern: modernAborts}, true
	case VarPKIDNSSuffix:
		return varInfo{name: "PKI DNS suffix", kind: kindString, min: 1, max: 255, since: FileVersion20, sinceSure: true}, true
	case VarConfigServerFQDN:
		return varInfo{name: "configuration server FQDN", kind: kindString, min: 1, max: 255, since: FileVersion20, sinceSure: true}, true
	case VarRemoteConfiguration:
		return varInfo{name: "remote configuration", kind: kindU8, min: 1, max: 1, since: FileVersion20, sinceSure: true}, true
	case VarPreinstalledHashes:
		return varInfo{name: "pre-installed certificate hashes", kind: kindU8, min: 1, max: 1, since: FileVersion20, sinceSure: true}, true
	case VarUserCertsConfig:
		return varInfo{name: "user-defined certificates", kind: kindU8, min: 1, max: 1, since: FileVersion20, sinceSure: true}, true
	case VarCustomRootHash:
		return varInfo{name: "user-defined certificate hash", kind: kindBytes, min: 22, max: 81, since: FileVersion20, sinceSure: true, repeatable: true}, true
	case VarRedirection:
		return varInfo{name: "SOL/storage redirection", kind: kindU8, min: 1, max: 1, since: FileVersion20, sinceSure: true}, true
	case VarHostname:
		return varInfo{name: "host name", kind: kindString, min: 1, max: 64, since: FileVersion21, sinceSure: true}, true
	case VarDomainName:
		return varInfo{name: "domain name", kind: kindString, min: 1, max: 256, since: FileVersion21, sinceSure: true}, true
	case VarDHCP:
		return varInfo{name: "DHCP", kind: kindU8, min: 1, max: 1, since: FileVersion21, sinceSure: true}, true
	case VarSecureFirmwareUpdate:
		return varInfo{name: "secure firmware update", kind: kindU8, min: 1, max: 1, since: FileVersion21, sinceSure: true, modern: modernAborts}, true
	case VarIdleTimeout:
		return varInfo{name: "idle timeout", kind: kindU32, min: 4, max: 4, since: FileVersion21, sinceSure: true}, true
	case VarProvisioningMode:
		return varInfo{name: "provisioning mode", kind: kindU8, min: 1, max: 1, since: FileVersion21, sinceSure: true, modern: modernAborts}, true
	case VarProvisioningServerAddress:
		return varInfo{name: "provisioning server address", kind: kindBytes, min: 4, max: 4, alt: 16, since: FileVersion21, sinceSure: true}, true
	case VarProvisioningServerPort:
		return varInfo{name: "provisioning server port", kind: kindU16, min: 2, max: 2, since: FileVersion21, sinceSure: true}, true
	case VarStaticIPv4:
		return varInfo{name: "static IPv4 parameters", kind: kindBytes, min: 20, max: 20, since: FileVersion21, sinceSure: true}, true
	case VarVLAN:
		return varInfo{name: "VLAN", kind: kindBytes, min: 0, max: 0xffff, since: FileVersion21, sinceSure: true, modern: modernAborts}, true
	case VarPasswordPolicy:
		return varInfo{name: "password policy", kind: kindU8, min: 1, max: 1, since: FileVersion21, sinceSure: true}, true
	case VarIPv6:
		// 84 bytes is the layout the UEFI MEBx reads; MeshCommander mentions an
		// older 204-byte form, which decodes but draws a warning.
		return varInfo{name: "IPv6 settings", kind: kindBytes, min: 84, max: 84, alt: 204, since: FileVersion30, sinceSure: true}, true
	case VarSharedFQDN:
		return varInfo{name: "shared FQDN", kind: kindU8, min: 1, max: 1, since: FileVersion30}, true
	case VarDynamicDNS:
		return varInfo{name: "dynamic DNS update", kind: kindU8, min: 1, max: 1, since: FileVersion30, modern: modernIgnored}, true
	case VarKVM:
		return varInfo{name: "KVM", kind: kindU8, min: 1, max: 1, since: FileVersion30}, true
	case VarUserConsent:
		return varInfo{name: "user consent", kind: kindU8, min: 1, max: 1, since: FileVersion30}, true
	case VarRemoteITConsent:
		return varInfo{name: "remote IT consent policy", kind: kindU8, min: 1, max: 1, since: FileVersion30}, true
	case VarProvisioningAction:
		return varInfo{name: "provisioning halt/activate", kind: kindU8, min: 1, max: 1, since: FileVersion30}, true
	case VarManualSetup:
		return varInfo{name: "manual setup and configuration", kind: kindU8, min: 1, max: 1, since: FileVersion30, modern: modernIgnored}, true
	case VarSupportChannelID:
		return varInfo{name: "support channel identifier", kind: kindU32, min: 4, max: 4, since: FileVersion30, modern: modernAborts}, true
	case VarSupportChannelDescription:
		return varInfo{name: "support channel description", kind: kindString, min: 0, max: 60, since: FileVersion30, modern: modernAborts}, true
	case VarServiceAccountNumber:
		return varInfo{name: "service account number", kind: kindString, min: 0, max: 32, since: FileVersion30, modern: modernAborts}, true
	case VarEnrollmentPasscode:
		return varInfo{name: "enrollment passcode", kind: kindSecret, min: 0, max: 32, since: FileVersion30, modern: modernAborts}, true
	case VarServiceType:
		return varInfo{name: "service type", kind: kindU32, min: 4, max: 4, since: FileVersion30, modern: modernAborts}, true
	case VarServiceProviderID:
		return varInfo{name: "service provider identifier", kind: kindGUID, min: 16, max: 16, since: FileVersion30, modern: modernAborts}, true
	}
	return varInfo{}, false
}

// valueName returns the meaning of value n of an enumerated variable, and whether
// n is one of its legal values. For variables that are not enumerations it
// returns ("", false).
func valueName(v Var, n int) (string, bool) {
	switch v {
	case VarManageabilitySelection:
		switch n {
		case 1:
			return "Intel AMT", true
		}
	case VarFirmwareLocalUpdate:
		switch n {
		case 0:
			return "disabled", true
		case 1:
			return "enabled", true
		case 2:
			return "password protected (deprecated)", true
		}
	case VarFirmwareUpdateQualifier:
		switch n {
		case 0:
			return "always", true
		case 1:
			return "never", true
		case 2:
			return "restricted", true
		}
	case VarRemoteConfiguration:
		switch n {
		case 0:
			return "disabled", true
		case 1:
			return "enabled", true
		}
	case VarPreinstalledHashes:
		switch n {
		case 0:
			return "disabled", true
		case 1:
			return "enabled", true
		}
	case VarUserCertsConfig:
		switch n {
		case 0:
			return "disable", true
		case 1:
			return "enable", true
		case 2:
			return "delete", true
		}
	case VarDHCP:
		switch n {
		case 1:
			return "disabled (static)", true
		case 2:
			return "enabled", true
		}
	case VarSecureFirmwareUpdate:
		switch n {
		case 0:
			return "disabled", true
		case 1:
			return "enabled", true
		}
	case VarSharedFQDN:
		switch n {
		case 0:
			return "dedicated", true
		case 1:
			return "shared", true
		}
	case VarDynamicDNS:
		switch n {
		case 0:
			return "disabled", true
		case 1:
			return "enabled", true
		}
	case VarKVM:
		switch n {
		case 0:
			return "disabled", true
		case 1:
			return "enabled", true
		}
	case VarUserConsent:
		switch n {
		case 0:
			return "none", true
		case 1:
			return "KVM", true
		case 0xff:
			return "all", true
		}
	case VarRemoteITConsent:
		switch n {
		case 0:
			return "disabled", true
		case 1:
			return "enabled", true
		case 0xff:
			return "enabled (all)", true
		}
	case VarProvisioningAction:
		switch n {
		case 0:
			return "halt", true
		case 1:
			return "start", true
		}
	case VarManualSetup:
		switch n {
		case 0:
			return "automated", true
		case 1:
			return "manual", true
		}
	}
	return "", false
}

// enumerated reports whether v takes a closed set of values (see valueName).
func enumerated(v Var) bool {
	switch v {
	case VarManageabilitySelection, VarFirmwareLocalUpdate, VarFirmwareUpdateQualifier, VarRemoteConfiguration, VarPreinstalledHashes, VarUserCertsConfig, VarDHCP, VarSecureFirmwareUpdate, VarSharedFQDN, VarDynamicDNS, VarKVM, VarUserConsent, VarRemoteITConsent, VarProvisioningAction, VarManualSetup:
		return true
	}
	return false
}

// Known reports whether v is in amtkit's catalogue.
func (v Var) Known() bool {
	_, ok := catalogue(v)
	return ok
}

// Secret reports whether values of v are secrets (passwords, PPS, passcodes) that
// amtkit never prints.
func (v Var) Secret() bool {
	i, ok := catalogue(v)
	return ok && i.kind == kindSecret
}

// String returns the variable's name and identifiers, e.g. "PKI DNS suffix (2/3)",
// or "unknown (7/1)".
func (v Var) String() string {
	name := "unknown"
	if i, ok := catalogue(v); ok {
		name = i.name
	}
	return name + " (" + strconv.Itoa(int(v.Module())) + "/" + strconv.Itoa(int(v.ID())) + ")"
}

// lengthOK reports whether n bytes is a legal length for a value of v. Unknown
// variables may have any length.
func lengthOK(v Var, n int) bool {
	i, ok := catalogue(v)
	if !ok {
		return true
	}
	return (n >= i.min && n <= i.max) || (i.alt != 0 && n == i.alt)
}

func lengthRule(v Var) string {
	i, ok := catalogue(v)
	switch {
	case !ok:
		return "any length"
	case i.alt != 0:
		return strconv.Itoa(i.min) + " or " + strconv.Itoa(i.alt) + " bytes"
	case i.min == i.max:
		return strconv.Itoa(i.min) + " bytes"
	}
	return strconv.Itoa(i.min) + "–" + strconv.Itoa(i.max) + " bytes"
}

// Entry is one variable of a data record. Value holds the bytes as they are in the
// file (descrambled). Printing an Entry with fmt shows the variable's name and a
// readable value; secret values print as [amt.Redacted].
type Entry struct {
	Var   Var
	Value []byte
}

// String returns "name (m/v) = value".
func (e Entry) String() string { return e.Var.String() + " = " + e.ValueString() }

// Format prints [Entry.String] for every verb, so that %v and %+v of records and
// files never show secret bytes.
func (e Entry) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(e.String())) }

// MarshalJSON writes the entry as {"var": "name (m/v)", "value": …} with
// [Entry.ValueString]'s value, secrets redacted: JSON of a record or file (and
// slog's JSON handler) never shows secret bytes. It is for display; the
// file's bytes are [File.MarshalBinary].
func (e Entry) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Var   string `json:"var"`
		Value string `json:"value"`
	}{e.Var.String(), e.ValueString()})
}

// MarshalXML writes the entry as <Var>name (m/v)</Var><Value>…</Value> with
// [Entry.ValueString]'s value, secrets redacted, as MarshalJSON does: XML of a
// record or file never shows secret bytes.
func (e Entry) MarshalXML(enc *xml.Encoder, start xml.StartElement) error {
	return enc.EncodeElement(struct {
		Var   string `xml:"Var"`
		Value string `xml:"Value"`
	}{e.Var.String(), e.ValueString()}, start)
}

// LogValue logs [Entry.String].
func (e Entry) LogValue() slog.Value { return slog.StringValue(e.String()) }

// ValueString renders the value for display: secrets redacted, numbers in decimal
// with their meaning, strings quoted, addresses and hashes in their usual forms,
// anything else in hex.
func (e Entry) ValueString() string {
	i, known := catalogue(e.Var)
	if !known {
		return hex.EncodeToString(e.Value)
	}
	if !lengthOK(e.Var, len(e.Value)) {
		return "invalid " + strconv.Itoa(len(e.Value)) + "-byte value"
	}
	switch e.Var {
	case VarCustomRootHash:
		if h, err := parseCustomRootHash(e.Value); err == nil {
			return h.String()
		}
		return hex.EncodeToString(e.Value)
	case VarProvisioningServerAddress:
		return addrFromWire(e.Value).String()
	case VarStaticIPv4:
		return staticIPv4FromWire(e.Value).String()
	}
	switch i.kind {
	case kindSecret:
		return amt.Redacted
	case kindString:
		return strconv.Quote(string(e.Value))
	case kindU8, kindU16, kindU32:
		n := int(leUint(e.Value))
		s := strconv.Itoa(n)
		if name, ok := valueName(e.Var, n); ok {
			s += " (" + name + ")"
		}
		if e.Var == VarRedirection {
			s += " (" + Redirection(n).String() + ")"
		}
		return s
	case kindGUID:
		u, _ := amt.UUIDFromWire(e.Value)
		return u.String()
	}
	return hex.EncodeToString(e.Value)
}

// leUint returns the value of a 1-, 2- or 4-byte little-endian variable, or 0
// for any other length.
func leUint(b []byte) uint64 {
	r := wire.NewReader(b)
	switch len(b) {
	case 1:
		var v uint8
		r.ReadU8(&v)
		return uint64(v)
	case 2:
		var v uint16
		r.ReadU16(&v)
		return uint64(v)
	case 4:
		var v uint32
		r.ReadU32(&v)
		return uint64(v)
	}
	return 0
}

// CustomRootHash is a user-defined trusted root certificate hash (variable 2/8):
// the algorithm, the digest of the root certificate's DER encoding, and a
// friendly name of at most 32 ASCII characters (the whole value may not exceed 81
// bytes, so a SHA-384 hash leaves 31 characters for the name).
type CustomRootHash struct {
	Hash amt.CertHash
	Name string
}

// String returns "SHA-256:<hex> \"name\"".
func (h CustomRootHash) String() string { return h.Hash.String() + " " + strconv.Quote(h.Name) }

func (h CustomRootHash) marshal() ([]byte, error) {
	switch h.Hash.Alg {
	case amt.HashSHA1, amt.HashSHA256, amt.HashSHA384:
	default:
		return nil, fmt.Errorf("%w: custom root hash algorithm %v (setup.bin carries SHA-1, SHA-256 or SHA-384)", ErrVarValue, h.Hash.Alg)
	}
	if len(h.Hash.Sum) != h.Hash.Alg.Size() {
		return nil, fmt.Errorf("%w: %v digest must be %d bytes, got %d", ErrVarValue, h.Hash.Alg, h.Hash.Alg.Size(), len(h.Hash.Sum))
	}
	if len(h.Name) > 32 || !printableASCII(h.Name) {
		return nil, fmt.Errorf("%w: custom root hash name must be at most 32 printable ASCII characters, got %d", ErrVarValue, len(h.Name))
	}
	b := make([]byte, 0, 2+len(h.Hash.Sum)+len(h.Name))
	b = append(b, byte(h.Hash.Alg))
	b = append(b, h.Hash.Sum...)
	b = append(b, byte(len(h.Name)))
	b = append(b, h.Name...)
	if len(b) > 81 {
		return nil, fmt.Errorf("%w: custom root hash value is %d bytes, firmware takes at most 81 (shorten the name to %d characters)", ErrVarValue, len(b), 81-2-len(h.Hash.Sum))
	}
	return b, nil
}

func parseCustomRootHash(b []byte) (CustomRootHash, error) {
	h, p := readCustomRootHash(b)
	if p != "" {
		return CustomRootHash{}, fmt.Errorf("%w: %s", ErrVarLength, p)
	}
	h.Hash.Sum = bytes.Clone(h.Hash.Sum)
	return h, nil
}

// customRootHashProblem describes what is wrong with the layout of a 2/8 value,
// or returns "".
func customRootHashProblem(b []byte) string {
	_, p := readCustomRootHash(b)
	return p
}

// readCustomRootHash reads a 2/8 value: the algorithm (u8), its digest, the
// name's length (u8) and the name, nothing more, 22–81 bytes in all. The digest
// aliases b. On a layout problem it returns a description of it.
func readCustomRootHash(b []byte) (CustomRootHash, string) {
	if len(b) < 22 || len(b) > 81 {
		return CustomRootHash{}, fmt.Sprintf("expected 22–81 bytes, got %d", len(b))
	}
	r := wire.NewReader(b)
	var a, nameLen uint8
	r.ReadU8(&a) // at least 22 bytes
	alg := amt.HashAlgorithm(a)
	switch alg {
	case amt.HashSHA1, amt.HashSHA256, amt.HashSHA384:
	default:
		return CustomRootHash{}, fmt.Sprintf("hash algorithm must be 1, 2 or 3, got %d", a)
	}
	sum, ok := r.Bytes(alg.Size())
	if !ok || !r.ReadU8(&nameLen) {
		return CustomRootHash{}, fmt.Sprintf("%v digest does not fit in %d bytes", alg, len(b))
	}
	name, ok := r.Bytes(int(nameLen))
	if !ok || !r.Empty() {
		return CustomRootHash{}, fmt.Sprintf("%v hash with a %d-character name takes %d bytes, value has %d", alg, nameLen, 2+alg.Size()+int(nameLen), len(b))
	}
	return CustomRootHash{Hash: amt.CertHash{Alg: alg, Sum: sum}, Name: string(name)}, ""
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// addrToWire and addrFromWire convert the byte-reversed address the firmware
// stores (a.b.c.d is d,c,b,a; IPv6 likewise reversed).
func addrToWire(a netip.Addr) []byte {
	var b []byte
	if a.Is4() || a.Is4In6() {
		v := a.Unmap().As4()
		b = v[:]
	} else {
		v := a.As16()
		b = v[:]
	}
	reverse(b)
	return b
}

func addrFromWire(w []byte) netip.Addr {
	b := make([]byte, len(w))
	copy(b, w)
	reverse(b)
	a, _ := netip.AddrFromSlice(b)
	return a
}

func reverse(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}

// DHCPMode is variable 2/13.
type DHCPMode uint8

// DHCP modes.
const (
	DHCPDisabled DHCPMode = 1 // static addressing
	DHCPEnabled  DHCPMode = 2
)

// Redirection is variable 2/10, a bit set.
type Redirection uint8

// Redirection bits.
const (
	RedirectSOL     Redirection = 1 << 0 // serial-over-LAN
	RedirectStorage Redirection = 1 << 1 // IDE-R / storage redirection
	// RedirectUserPasswordAuth (user/password authentication for redirection) is
	// deprecated; modern MEBx shows a deprecation message.
	RedirectUserPasswordAuth Redirection = 1 << 2
)

// String lists the bits set, e.g. "SOL+storage".
func (r Redirection) String() string {
	var parts []string
	if r&RedirectSOL != 0 {
		parts = append(parts, "SOL")
	}
	if r&RedirectStorage != 0 {
		parts = append(parts, "storage")
	}
	if r&RedirectUserPasswordAuth != 0 {
		parts = append(parts, "user/password auth")
	}
	if rest := r &^ 7; rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(rest), 16))
	}
	if parts == nil {
		return "none"
	}
	return strings.Join(parts, "+")
}

// ConsentPolicy is variable 2/26, the user-consent (opt-in) requirement.
type ConsentPolicy uint8

// Consent policies.
const (
	ConsentNone ConsentPolicy = 0    // no user consent
	ConsentKVM  ConsentPolicy = 1    // consent for KVM sessions
	ConsentAll  ConsentPolicy = 0xff // consent for all redirection and boot control
)

// ProvisioningAction is variable 2/28: halt or start provisioning (remote
// configuration) after the record is applied.
type ProvisioningAction uint8

// Provisioning actions.
const (
	ProvisioningHalt  ProvisioningAction = 0
	ProvisioningStart ProvisioningAction = 1
)

// UserCertsConfig is variable 2/7, what to do with existing user-defined hashes.
type UserCertsConfig uint8

// User-defined certificate hash configurations.
const (
	UserCertsDisable UserCertsConfig = 0
	UserCertsEnable  UserCertsConfig = 1
	UserCertsDelete  UserCertsConfig = 2
)

// StaticIPv4 is variable 2/19. The firmware copies the 20 bytes into its TCP/IP
// parameters starting at the local address; the order below (address, mask,
// gateway, primary and secondary DNS) is inferred from Intel's description and
// not confirmed. Addresses are stored byte-reversed like variable 2/17.
type StaticIPv4 struct {
	Address, Mask, Gateway, DNS1, DNS2 netip.Addr
}

// String returns the five addresses.
func (s StaticIPv4) String() string {
	return fmt.Sprintf("address %v mask %v gateway %v dns %v, %v", s.Address, s.Mask, s.Gateway, s.DNS1, s.DNS2)
}

func staticIPv4FromWire(b []byte) StaticIPv4 {
	a := func(i int) netip.Addr { return addrFromWire(b[i*4 : i*4+4]) }
	return StaticIPv4{Address: a(0), Mask: a(1), Gateway: a(2), DNS1: a(3), DNS2: a(4)}
}

func (s StaticIPv4) marshal() ([]byte, error) {
	out := make([]byte, 0, 20)
	for _, a := range []netip.Addr{s.Address, s.Mask, s.Gateway, s.DNS1, s.DNS2} {
		if !a.IsValid() {
			a = netip.IPv4Unspecified()
		}
		if !a.Unmap().Is4() {
			return nil, fmt.Errorf("%w: static IPv4 parameters need IPv4 addresses, got %v", ErrVarValue, a)
		}
		out = append(out, addrToWire(a)...)
	}
	return out, nil
}
