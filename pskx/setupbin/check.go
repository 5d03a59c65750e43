package setupbin

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
)

// Finding codes reported by [File.Check], typed [amt.FindingCode]. Codes are
// stable; docs/pskx.md lists them with their severities. A BIOS or MEBx would
// refuse a file with an error finding, or abort on it, and the encoder refuses
// it; with a warning the file encodes, but something will not work as hoped.
const (
	FindingFileVersion          amt.FindingCode = "file-version"           // version is not one a BIOS accepts
	FindingFlagsVersion         amt.FindingCode = "flags-version"          // do-not-consume set on a 1.0 file
	FindingFlagsReserved        amt.FindingCode = "flags-reserved"         // reserved file flag bits set
	FindingConsumedCount        amt.FindingCode = "consumed-count"         // consumed counter beyond the record count
	FindingRecordSize           amt.FindingCode = "record-size"            // entries do not fit the record size
	FindingLayoutTolerated      amt.FindingCode = "layout-tolerated"       // DecodeLenient: a departure from the layout the firmware ignores
	FindingRecordNotValid       amt.FindingCode = "record-not-valid"       // next record lacks the Valid flag: the BIOS stops there
	FindingVarLength            amt.FindingCode = "var-length"             // illegal value length
	FindingVarValue             amt.FindingCode = "var-value"              // illegal value
	FindingVarVersion           amt.FindingCode = "var-version"            // variable not carried by this file version
	FindingVarVersionAssumed    amt.FindingCode = "var-version-assumed"    // probably not carried by this file version
	FindingVarDuplicate         amt.FindingCode = "var-duplicate"          // a non-repeatable variable appears twice
	FindingVarUnknown           amt.FindingCode = "var-unknown"            // not in the catalogue; modern MEBx aborts
	FindingModernAborts         amt.FindingCode = "modern-mebx-aborts"     // the UEFI MEBx stops provisioning at this variable
	FindingModernIgnores        amt.FindingCode = "modern-mebx-ignores"    // the UEFI MEBx skips this variable
	FindingDeprecatedValue      amt.FindingCode = "deprecated-value"       // value accepted but deprecated
	FindingCurrentPassword      amt.FindingCode = "current-password"       // a valid record without the current MEBx password
	FindingNewPassword          amt.FindingCode = "new-password"           // factory password without a new one
	FindingWeakPassword         amt.FindingCode = "weak-mebx-password"     // new MEBx password fails AMT's rule
	FindingPairIncomplete       amt.FindingCode = "pair-incomplete"        // PID without PPS or PPS without PID
	FindingTooManyRootHashes    amt.FindingCode = "too-many-root-hashes"   // more than 3 user-defined hashes
	FindingRootHashNeedsV3      amt.FindingCode = "root-hash-needs-v3"     // SHA-256/384 hash in a file before 3.0
	FindingPSKRemoved           amt.FindingCode = "psk-removed"            // PID/PPS in a file for AMT 11 or later (an error)
	FindingSHA1RootHashRemoved  amt.FindingCode = "sha1-root-hash-removed" // SHA-1 custom hash for ME 15 or later
	FindingIdleTimeoutTruncated amt.FindingCode = "idle-timeout-truncated" // only the low 16 bits are used
	FindingTooManyModules       amt.FindingCode = "too-many-modules"       // the header's module list holds 235 modules
	FindingServerPortMissing    amt.FindingCode = "server-port-missing"    // a provisioning server FQDN or address without its port
	FindingServerPortIgnored    amt.FindingCode = "server-port-ignored"    // a provisioning server port without an FQDN or address
	FindingStaticIPv4DHCP       amt.FindingCode = "static-ipv4-dhcp"       // static IPv4 settings without DHCP disabled
)

// Errors carried by error-severity findings (amt.Finding.Err), for errors.Is through
// [*EncodeError].
var (
	ErrVarValue       = errors.New("illegal value for the variable")
	ErrVarVersion     = errors.New("variable not carried by this file version")
	ErrVarDuplicate   = errors.New("variable appears more than once")
	ErrMissingVar     = errors.New("required variable missing")
	ErrRecordTooLarge = errors.New("entries do not fit in the record")
	ErrFileLayout     = errors.New("file header fields inconsistent")
	// ErrNotForTarget: the variable makes the target release's MEBx abort
	// the record (CheckOptions.Target).
	ErrNotForTarget = errors.New("variable not accepted by the target AMT release")
)

// CheckOptions tune [File.Check].
type CheckOptions struct {
	// Target is the AMT release the file is meant for. The zero value means
	// unknown, and target-specific findings (PSK removed in AMT 11, SHA-1 custom
	// hashes removed in ME 15) are skipped.
	Target amt.Version
}

// Check applies what is known of the BIOS and MEBx rules to the file and returns
// every finding, errors first in file order and then warnings. The encoder
// refuses a file with any error-severity finding of Check without a target;
// check with [CheckOptions.Target] before writing a file for a known release.
func (f *File) Check(opts CheckOptions) amt.Findings {
	var out amt.Findings
	add := func(rec int, v Var, code amt.FindingCode, sev amt.Severity, err error, format string, args ...any) {
		out = append(out, newFinding(rec, v, code, sev, err, fmt.Sprintf(format, args...)))
	}
	if !f.Version.Known() {
		add(0, 0, FindingFileVersion, amt.SeverityError, ErrFileLayout, "file version %v is not 1.0, 2.0, 2.1, 3.0 or 4.0", f.Version)
		return out
	}
	if f.Flags&FlagDontConsume != 0 && f.Version == FileVersion10 {
		add(0, 0, FindingFlagsVersion, amt.SeverityError, ErrFileLayout, "do-not-consume needs file version 2.0 or later; a 1.0 file is always consumed")
	}
	if rest := f.Flags &^ FlagDontConsume; rest != 0 {
		add(0, 0, FindingFlagsReserved, amt.SeverityWarning, nil, "reserved file flag bits 0x%x are set", uint16(rest))
	}
	if int64(f.Consumed) > int64(len(f.Records)) {
		add(0, 0, FindingConsumedCount, amt.SeverityError, ErrFileLayout, "%d records consumed of %d", f.Consumed, len(f.Records))
	}
	if f.RecordChunks > maxRecordChunks {
		add(0, 0, FindingRecordSize, amt.SeverityError, ErrRecordTooLarge, "records of %d chunks: the MEBx takes at most %d", f.RecordChunks, maxRecordChunks)
	}
	if n := len(f.Modules()); n > maxModules {
		add(0, 0, FindingTooManyModules, amt.SeverityError, ErrFileLayout, "entries use %d modules; the header's module list holds %d", n, maxModules)
	}
	for i, r := range f.Records {
		f.checkRecord(i, r, opts, add)
	}
	// Errors first, keeping order within each severity.
	sorted := make(amt.Findings, 0, len(out))
	for _, sev := range []amt.Severity{amt.SeverityError, amt.SeverityWarning} {
		for _, fd := range out {
			if fd.Severity == sev {
				sorted = append(sorted, fd)
			}
		}
	}
	return sorted
}

// newFinding makes the finding about variable v (0 for none) of data record rec
// (1-based; 0 for the file as a whole). Subject says "file" or "record 2", then
// the variable; Index is the record's index in File.Records, or -1.
func newFinding(rec int, v Var, code amt.FindingCode, sev amt.Severity, err error, msg string) amt.Finding {
	subject := "file"
	if rec > 0 {
		subject = "record " + strconv.Itoa(rec)
	}
	if v != 0 {
		subject += ", " + v.String()
	}
	return amt.Finding{Code: code, Severity: sev, Subject: subject, Message: msg, Index: rec - 1, Err: err}
}

type addFunc func(rec int, v Var, code amt.FindingCode, sev amt.Severity, err error, format string, args ...any)

func (f *File) checkRecord(i int, r *DataRecord, opts CheckOptions, add addFunc) {
	rec := i + 1
	if r == nil {
		add(rec, 0, FindingRecordSize, amt.SeverityError, ErrFileLayout, "record is nil")
		return
	}
	if r.cleared() {
		return // a consumed record: nothing left to check
	}
	if need := recordChunksNeeded(r); need > maxRecordChunks {
		add(rec, 0, FindingRecordSize, amt.SeverityError, ErrRecordTooLarge, "entries need %d chunks, the MEBx takes at most %d", need, maxRecordChunks)
	} else if f.RecordChunks != 0 && need > int(f.RecordChunks) {
		add(rec, 0, FindingRecordSize, amt.SeverityError, ErrRecordTooLarge, "entries need %d chunks, records are %d", need, f.RecordChunks)
	}
	if !r.Valid() && i == int(f.Consumed) {
		add(rec, 0, FindingRecordNotValid, amt.SeverityWarning, nil, "the next record to be applied lacks the Valid flag: the BIOS applies nothing")
	}
	seen := map[Var]int{}
	hashes := 0
	for _, e := range r.Entries {
		v := e.Var
		seen[v]++
		info, known := catalogue(v)
		if v.Module() == 0 || v.ID() == 0 {
			add(rec, v, FindingVarValue, amt.SeverityError, ErrVarValue, "module and variable identifiers must be non-zero")
			continue
		}
		if len(e.Value) > 0xffff {
			add(rec, v, FindingVarLength, amt.SeverityError, ErrVarLength, "value of %d bytes does not fit a 16-bit length", len(e.Value))
			continue
		}
		if !known {
			add(rec, v, FindingVarUnknown, amt.SeverityWarning, nil, "variable not in the catalogue; the UEFI MEBx aborts on variables it does not know")
			continue
		}
		if !lengthOK(v, len(e.Value)) {
			add(rec, v, FindingVarLength, amt.SeverityError, ErrVarLength, "expected %s, got %d", lengthRule(v), len(e.Value))
			continue
		}
		if info.since > f.Version {
			if info.sinceSure {
				add(rec, v, FindingVarVersion, amt.SeverityError, ErrVarVersion, "first carried by file version %v, file is %v", info.since, f.Version)
			} else {
				add(rec, v, FindingVarVersionAssumed, amt.SeverityWarning, nil, "probably first carried by file version %v (assumed from the AMT release that introduced the feature), file is %v", info.since, f.Version)
			}
		}
		if seen[v] == 2 && !info.repeatable {
			add(rec, v, FindingVarDuplicate, amt.SeverityError, ErrVarDuplicate, "appears more than once")
		}
		switch info.modern {
		case modernAborts:
			if v != VarPID && v != VarPPS { // PID/PPS have their own finding
				add(rec, v, FindingModernAborts, amt.SeverityWarning, nil, "the UEFI MEBx of current platforms stops provisioning at this variable")
			}
		case modernIgnored:
			add(rec, v, FindingModernIgnores, amt.SeverityWarning, nil, "the UEFI MEBx of current platforms ignores this variable")
		}
		if enumerated(v) {
			n := int(e.Value[0])
			if _, ok := valueName(v, n); !ok {
				add(rec, v, FindingVarValue, amt.SeverityError, ErrVarValue, "value %d is not one of the legal values", n)
				continue
			}
		}
		checkValue(rec, e, f.Version, opts, add)
		if v == VarCustomRootHash {
			hashes++
		}
	}
	if hashes > 3 {
		add(rec, VarCustomRootHash, FindingTooManyRootHashes, amt.SeverityError, ErrVarValue, "%d user-defined hashes; the firmware takes at most 3", hashes)
	}
	if r.Valid() {
		cur, hasCur := r.Get(VarCurrentMEBxPassword)
		_, hasNew := r.Get(VarNewMEBxPassword)
		if !hasCur {
			add(rec, VarCurrentMEBxPassword, FindingCurrentPassword, amt.SeverityError, ErrMissingVar, "every record needs the current MEBx password to log in to the MEBx")
		} else if string(cur) == "admin" && !hasNew {
			add(rec, VarNewMEBxPassword, FindingNewPassword, amt.SeverityError, ErrMissingVar, "the factory MEBx password must be followed by a new one")
		}
	}
	// The provisioning server is named by FQDN and address with their port
	// (MeshCentral's bare-metal file, certoperations.js
	// GetBareMetalSetupBinFile, writes 2/4, 2/17 and 2/18 together); a port
	// alone names nothing.
	server := seen[VarConfigServerFQDN] > 0 || seen[VarProvisioningServerAddress] > 0
	switch {
	case server && seen[VarProvisioningServerPort] == 0:
		add(rec, VarProvisioningServerPort, FindingServerPortMissing, amt.SeverityWarning, nil, "the provisioning server is named without its port; write 2/18 (9971 is AMT's hello port)")
	case !server && seen[VarProvisioningServerPort] > 0:
		add(rec, VarProvisioningServerPort, FindingServerPortIgnored, amt.SeverityWarning, nil, "a port without a provisioning server FQDN (2/4) or address (2/17) names nothing")
	}
	// Static addresses with DHCP enabled or unset: 2/13 is 1 (disabled) or 2
	// (enabled), and static settings only mean something with 1.
	if seen[VarStaticIPv4] > 0 {
		if dhcp, ok := r.Uint8(VarDHCP); !ok || dhcp != 1 {
			add(rec, VarStaticIPv4, FindingStaticIPv4DHCP, amt.SeverityWarning, nil, "static IPv4 settings need DHCP disabled (2/13 = 1) in the same record")
		}
	}
	if (seen[VarPID] > 0) != (seen[VarPPS] > 0) {
		add(rec, VarPID, FindingPairIncomplete, amt.SeverityError, ErrMissingVar, "PID and PPS must be given together")
	}
	if (seen[VarPID] > 0 || seen[VarPPS] > 0) && !opts.Target.IsZero() && opts.Target.Major >= 11 {
		// An error, not a warning: the MEBx stops at the PID and the whole
		// record is lost, its new MEBx password included (Intel's UEFI MEBx,
		// MebxUsbProvision.c: the default branch of the variable switch
		// leaves the record unapplied and unconsumed).
		add(rec, VarPID, FindingPSKRemoved, amt.SeverityError, ErrNotForTarget, "PSK provisioning was removed in AMT 11.0: the MEBx of AMT %v stops at the PID/PPS and applies nothing of the record", opts.Target)
	}
}

func checkValue(rec int, e Entry, ver FileVersion, opts CheckOptions, add addFunc) {
	v := e.Var
	switch v {
	case VarCurrentMEBxPassword:
		if !printableASCII(string(e.Value)) {
			add(rec, v, FindingVarValue, amt.SeverityError, ErrVarValue, "password must be printable ASCII")
		}
	case VarNewMEBxPassword:
		if err := amt.CheckPassword(string(e.Value)); err != nil {
			add(rec, v, FindingWeakPassword, amt.SeverityError, errors.Join(ErrVarValue, err), "new MEBx password fails AMT's rule: %v", err)
		}
	case VarManageabilitySelection:
		// only value 1 is legal: handled by the enumeration.
	case VarFirmwareLocalUpdate:
		if e.Value[0] == 2 {
			add(rec, v, FindingDeprecatedValue, amt.SeverityWarning, nil, "value 2 (password protected) is deprecated; the MEBx treats it as 0")
		}
	case VarPID:
		// The MEBx checks the characters as stored: the value must already be
		// the canonical form (upper case, no dashes) that ParsePID accepts.
		if p, err := pskx.ParsePID(string(e.Value)); err != nil {
			add(rec, v, FindingVarValue, amt.SeverityError, errors.Join(ErrVarValue, err), "%v", err)
		} else if p.Compact() != string(e.Value) {
			add(rec, v, FindingVarValue, amt.SeverityError, ErrVarValue, "PID must be stored as 8 upper-case characters without dashes")
		}
	case VarPPS:
		if p, err := pskx.ParsePPS(string(e.Value)); err != nil {
			add(rec, v, FindingVarValue, amt.SeverityError, errors.Join(ErrVarValue, err), "%v", err)
		} else if subtle.ConstantTimeCompare([]byte(p.Reveal()), e.Value) != 1 {
			add(rec, v, FindingVarValue, amt.SeverityError, ErrVarValue, "PPS must be stored as 32 upper-case characters without dashes")
		}
	case VarPKIDNSSuffix, VarConfigServerFQDN, VarHostname, VarDomainName:
		if !printableASCII(string(e.Value)) {
			add(rec, v, FindingVarValue, amt.SeverityError, ErrVarValue, "name must be printable ASCII")
		}
	case VarCustomRootHash:
		h, err := parseCustomRootHash(e.Value)
		if err != nil {
			add(rec, v, FindingVarLength, amt.SeverityError, ErrVarLength, "%v", err)
			return
		}
		if h.Hash.Alg != amt.HashSHA1 && ver < FileVersion30 {
			add(rec, v, FindingRootHashNeedsV3, amt.SeverityError, ErrVarVersion, "%v hashes need file version 3.0 or later, file is %v", h.Hash.Alg, ver)
		}
		if h.Hash.Alg == amt.HashSHA1 && !opts.Target.IsZero() && opts.Target.Major >= 15 {
			add(rec, v, FindingSHA1RootHashRemoved, amt.SeverityWarning, nil, "SHA-1 custom root hashes are not accepted from ME 15 on (Intel KB 000090051); use SHA-256 or SHA-384")
		}
		if !printableASCII(h.Name) {
			add(rec, v, FindingVarValue, amt.SeverityError, ErrVarValue, "friendly name must be printable ASCII")
		}
	case VarRedirection:
		if e.Value[0] > 7 {
			add(rec, v, FindingVarValue, amt.SeverityError, ErrVarValue, "only bits 0–2 are defined, got 0x%02x", e.Value[0])
		} else if Redirection(e.Value[0])&RedirectUserPasswordAuth != 0 {
			add(rec, v, FindingDeprecatedValue, amt.SeverityWarning, nil, "user/password authentication for redirection is deprecated")
		}
	case VarIdleTimeout:
		if n := leUint(e.Value); n > 0xffff {
			add(rec, v, FindingIdleTimeoutTruncated, amt.SeverityWarning, nil, "idle timeout %d: the firmware uses only the low 16 bits", n)
		}
	case VarIPv6:
		if len(e.Value) != 84 {
			add(rec, v, FindingVarLength, amt.SeverityWarning, nil, "the UEFI MEBx reads 84-byte IPv6 settings; this %d-byte form is older", len(e.Value))
		}
	case VarManualSetup:
		if e.Value[0] == 1 {
			add(rec, v, FindingDeprecatedValue, amt.SeverityWarning, nil, "manual setup is not supported by recent firmware")
		}
	}
}
