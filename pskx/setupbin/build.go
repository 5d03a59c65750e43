package setupbin

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
)

// FactoryMEBxPassword is the MEBx password devices ship with.
const FactoryMEBxPassword = "admin"

// PSKBatchOptions configure [NewPSKBatchFile]. The zero value writes a version
// 1.0 file whose records log in with the factory MEBx password and are
// scrambled and consumable.
type PSKBatchOptions struct {
	// Version is the file version; zero means 1.0, the format every PSK-capable
	// MEBx reads (AMT 2.x–10.x).
	Version FileVersion
	// CurrentMEBxPassword is the password each record logs in with; zero means
	// [FactoryMEBxPassword].
	CurrentMEBxPassword amt.Secret
	// NewMEBxPassword is used for pairs that carry no MEBxPassword of their own.
	// Giving every device its own password (as [pskx.GenerateBatch] does) is better.
	NewMEBxPassword amt.Secret
	// Plain writes the records unscrambled. Scrambling (+17 per byte, as Intel's
	// ACU writes) is obfuscation only: a stick holding PPS values must be
	// protected like the passwords on it.
	Plain bool
}

// ErrEmptyBatch is returned by [NewPSKBatchFile] for no pairs.
var ErrEmptyBatch = errors.New("setupbin: empty batch")

// NewPSKBatchFile builds a consumable setup.bin with one record per pair: current
// and new MEBx password, PID and PPS (stored without dashes). Each machine the
// stick is used on consumes the next record. PSK provisioning ended with AMT 10;
// run [File.Check] with the target release to be warned.
func NewPSKBatchFile(pairs []pskx.Pair, opts PSKBatchOptions) (*File, error) {
	if len(pairs) == 0 {
		return nil, ErrEmptyBatch
	}
	ver := opts.Version
	if ver == 0 {
		ver = FileVersion10
	}
	if !ver.Known() {
		return nil, fmt.Errorf("%w: file version %v", ErrFileLayout, ver)
	}
	cur := opts.CurrentMEBxPassword
	if cur.IsZero() {
		cur = amt.NewSecret(FactoryMEBxPassword)
	}
	flags := RecordValid | RecordScrambled
	if opts.Plain {
		flags = RecordValid
	}
	f := &File{Version: ver}
	seen := make(map[pskx.PID]bool, len(pairs))
	for i, p := range pairs {
		if seen[p.PID] {
			return nil, fmt.Errorf("setupbin: pair %d repeats PID %v", i+1, p.PID)
		}
		seen[p.PID] = true
		r := &DataRecord{Flags: flags}
		if err := r.SetCurrentMEBxPassword(cur); err != nil {
			return nil, fmt.Errorf("setupbin: current MEBx password: %w", err)
		}
		if p.MEBxPassword.IsZero() {
			p.MEBxPassword = opts.NewMEBxPassword
		}
		if p.MEBxPassword.IsZero() {
			return nil, fmt.Errorf("%w: pair %d (PID %v) has no new MEBx password and none is set in the options", ErrMissingVar, i+1, p.PID)
		}
		if err := r.SetPair(p); err != nil {
			return nil, fmt.Errorf("setupbin: pair %d (PID %v): %w", i+1, p.PID, err)
		}
		if err := selectAMT(r, ver); err != nil {
			return nil, err
		}
		f.Records = append(f.Records, r)
	}
	if err := firstError(f.Check(CheckOptions{})); err != nil {
		return nil, err
	}
	return f, nil
}

// PKIOptions configure [NewPKIPreconfigFile], the file that points a PKI
// (remote configuration) device at its provisioning server and trusts a custom
// root.
type PKIOptions struct {
	// Version is the file version; zero means 4.0 (what ACU and USBFile write).
	// SHA-256/384 root hashes need 3.0 or later.
	Version FileVersion
	// CurrentMEBxPassword is the password to log in with; zero means
	// [FactoryMEBxPassword].
	CurrentMEBxPassword amt.Secret
	// NewMEBxPassword is the MEBx password to set. Required when the current
	// password is the factory one.
	NewMEBxPassword amt.Secret
	// DNSSuffix is the PKI DNS suffix (2/3); the device looks for
	// ProvisionServer.<suffix> and checks the provisioning certificate against it.
	DNSSuffix string
	// ConfigServerFQDN (2/4), ServerAddress (2/17) and ServerPort (2/18) name the
	// provisioning server directly. Zero values are left out, except the
	// port: with an FQDN or an address it defaults to 9971, AMT's hello port,
	// as MeshCentral's bare-metal setup.bin (certoperations.js
	// GetBareMetalSetupBinFile) always writes FQDN, address and port together.
	ConfigServerFQDN string
	ServerAddress    netip.Addr
	ServerPort       uint16
	// RootHashes are user-defined trusted root hashes (2/8), at most 3.
	RootHashes []CustomRootHash
	// Start writes "provisioning: start" (2/28 = 1) so the device starts remote
	// configuration after the record is applied; otherwise the variable is omitted.
	Start bool
	// Consumable makes the BIOS consume the record (one machine per record);
	// by default the file carries do-not-consume, so one stick serves a fleet.
	Consumable bool
	// Plain writes the record unscrambled.
	Plain bool
}

// NewPKIPreconfigFile builds a one-record setup.bin that pre-configures a PKI
// device: MEBx passwords, PKI DNS suffix, provisioning server and custom root
// hashes, and optionally the start of remote configuration.
func NewPKIPreconfigFile(opts PKIOptions) (*File, error) {
	ver := opts.Version
	if ver == 0 {
		ver = FileVersion40
	}
	if !ver.Known() {
		return nil, fmt.Errorf("%w: file version %v", ErrFileLayout, ver)
	}
	f := &File{Version: ver}
	if !opts.Consumable {
		f.Flags |= FlagDontConsume
	}
	r := &DataRecord{Flags: RecordValid | RecordScrambled}
	if opts.Plain {
		r.Flags = RecordValid
	}
	cur := opts.CurrentMEBxPassword
	if cur.IsZero() {
		cur = amt.NewSecret(FactoryMEBxPassword)
	}
	if err := r.SetCurrentMEBxPassword(cur); err != nil {
		return nil, fmt.Errorf("setupbin: current MEBx password: %w", err)
	}
	if !opts.NewMEBxPassword.IsZero() {
		if err := r.SetNewMEBxPassword(opts.NewMEBxPassword); err != nil {
			return nil, err
		}
	}
	if opts.DNSSuffix != "" {
		if err := r.SetPKIDNSSuffix(opts.DNSSuffix); err != nil {
			return nil, err
		}
	}
	if opts.ConfigServerFQDN != "" {
		if err := r.SetConfigServerFQDN(opts.ConfigServerFQDN); err != nil {
			return nil, err
		}
	}
	if opts.ServerAddress.IsValid() {
		if err := r.SetProvisioningServerAddress(opts.ServerAddress); err != nil {
			return nil, err
		}
	}
	port := opts.ServerPort
	if port == 0 && (opts.ConfigServerFQDN != "" || opts.ServerAddress.IsValid()) {
		port = DefaultProvisioningServerPort
	}
	if port != 0 {
		if err := r.SetProvisioningServerPort(port); err != nil {
			return nil, err
		}
	}
	for _, h := range opts.RootHashes {
		if err := r.AddCustomRootHash(h); err != nil {
			return nil, err
		}
	}
	if opts.Start {
		if err := r.SetProvisioningAction(ProvisioningStart); err != nil {
			return nil, err
		}
	}
	if err := selectAMT(r, ver); err != nil {
		return nil, err
	}
	f.Records = []*DataRecord{r}
	if err := firstError(f.Check(CheckOptions{})); err != nil {
		return nil, err
	}
	return f, nil
}

// DefaultProvisioningServerPort is the port [NewPKIPreconfigFile] writes
// with a provisioning server FQDN or address when none is given: 9971, where
// AMT sends its hello by default.
const DefaultProvisioningServerPort = 9971

// selectAMT writes the manageability feature selection (1/3 = Intel AMT) in
// files of version 2.0 and later, which carry it: the option that enables
// the Intel AMT capability (Intel AMT SDK, "Intel AMT and USB Versions"), so
// that a platform shipped with AMT disabled takes the record's AMT settings.
// The working file of rgl/intel-amt-notes (ACU's default with MeshCommander's
// edits) carries it.
func selectAMT(r *DataRecord, ver FileVersion) error {
	if ver < FileVersion20 {
		return nil
	}
	return r.SetUint8(VarManageabilitySelection, 1)
}

// firstError returns an [*EncodeError] for the first error finding, or nil.
func firstError(fs amt.Findings) error {
	for _, fd := range fs {
		if fd.Severity == amt.SeverityError {
			return &EncodeError{Finding: fd}
		}
	}
	return nil
}
