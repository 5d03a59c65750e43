package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

// reader is everything the check does to a device: reads. The check holds
// the device only through this interface (and rawReader), so a write does
// not compile; a test checks what reaches a simulated device.
type reader interface {
	SoftwareIdentity(ctx context.Context) (*amt.SoftwareIdentity, error)
	SetupAndConfiguration(ctx context.Context) (*amt.SetupAndConfiguration, error)
	HostBasedSetup(ctx context.Context) (*amt.HostBasedSetup, error)
	GeneralSettings(ctx context.Context) (*amt.GeneralSettings, error)
	UUID(ctx context.Context) (amt.UUID, error)
	TLSSettings(ctx context.Context) ([]*amt.TLSSettingData, error)
	TLSCredentialContexts(ctx context.Context) ([]amt.CredentialContext, error)
	Certificates(ctx context.Context) ([]amt.PublicKeyCertificate, error)
	KeyPairs(ctx context.Context) ([]amt.KeyPair, error)
	AdminACLEntry(ctx context.Context) (string, error)
	UserACLEntries(ctx context.Context) ([]amt.UserACLEntry, error)
	LowAccuracyTimeSynch(ctx context.Context) (time.Time, error)
}

// rawReader is the part of wsman.Client the check uses for what package amt
// does not model.
type rawReader interface {
	Identify(ctx context.Context) (*wsman.Identity, error)
	EnumerateAll(ctx context.Context, resourceURI string, opts ...wsman.CallOption) ([]wsman.Item, error)
}

// uriCertHash is the trusted root-certificate hash table (Intel AMT SDK class
// reference, AMT_ProvisioningCertificateHash; intel/lms
// ProvisioningCertificateHash_WMI_Provider.h lists its properties).
const uriCertHash = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_ProvisioningCertificateHash"

// rootHash is one AMT_ProvisioningCertificateHash instance.
type rootHash struct {
	Name      string
	Hash      amt.CertHash
	HashType  string // as sent
	Default   bool
	Enabled   bool
	KnownName string // the factory root it matches, from amt.DefaultRootHashes
}

// section is one read of the check: what it found or why it could not.
type section struct {
	name string
	err  error
}

// result is what the check read.
type result struct {
	now       time.Time
	tls       *tls.ConnectionState
	identity  *wsman.Identity
	software  *amt.SoftwareIdentity
	firmware  amt.Firmware
	setup     *amt.SetupAndConfiguration
	hostBased *amt.HostBasedSetup
	general   *amt.GeneralSettings
	uuid      amt.UUID
	hashes    []rootHash
	tlsSet    []*amt.TLSSettingData
	contexts  []amt.CredentialContext
	certs     []amt.PublicKeyCertificate
	keys      []amt.KeyPair
	admin     string
	users     []amt.UserACLEntry
	clock     time.Time
	sections  []section
	findings  amt.Findings
	observed  []string // firmware-table comparisons
	// auditApplies: the device is provisioned, so Audit's rules on its
	// configuration apply.
	auditApplies bool
	readsTried   int
}

func (r *result) failed(name string, err error) {
	r.sections = append(r.sections, section{name, err})
}

// retry runs a read, once more after a transport error: AMT 21 may reset the
// first request after a TLS 1.3 handshake (amt.Firmware.FirstRequestMayDrop),
// and a read is safe to repeat.
func retry(r *result, f func() error) error {
	r.readsTried++
	err := f()
	var te *wsman.TransportError
	if errors.As(err, &te) {
		err = f()
	}
	return err
}

// check runs every read against the device and evaluates what it read.
func check(ctx context.Context, dev reader, raw rawReader, now time.Time) *result {
	r := &result{now: now}
	read := func(name string, f func() error) {
		if err := retry(r, f); err != nil {
			r.failed(name, err)
		}
	}
	read("Identify", func() error {
		id, err := raw.Identify(ctx)
		if err == nil {
			r.identity = id
			if id.Response != nil {
				r.tls = id.Response.TLS
			}
		}
		return err
	})
	read("version (CIM_SoftwareIdentity)", func() (err error) { r.software, err = dev.SoftwareIdentity(ctx); return })
	if r.software != nil {
		r.firmware = amt.FirmwareFor(r.software.Version)
	}
	read("provisioning state (AMT_SetupAndConfigurationService)", func() (err error) { r.setup, err = dev.SetupAndConfiguration(ctx); return })
	read("control mode (IPS_HostBasedSetupService)", func() (err error) { r.hostBased, err = dev.HostBasedSetup(ctx); return })
	read("general settings (AMT_GeneralSettings)", func() (err error) { r.general, err = dev.GeneralSettings(ctx); return })
	read("UUID (GetUuid)", func() (err error) { r.uuid, err = dev.UUID(ctx); return })
	read("trusted root hashes (AMT_ProvisioningCertificateHash)", func() error {
		items, err := raw.EnumerateAll(ctx, uriCertHash)
		if err != nil {
			return err
		}
		r.hashes = parseRootHashes(items)
		return nil
	})
	read("TLS settings (AMT_TLSSettingData)", func() (err error) { r.tlsSet, err = dev.TLSSettings(ctx); return })
	read("TLS credential contexts (AMT_TLSCredentialContext)", func() (err error) { r.contexts, err = dev.TLSCredentialContexts(ctx); return })
	read("certificates (AMT_PublicKeyCertificate)", func() (err error) { r.certs, err = dev.Certificates(ctx); return })
	read("key pairs (AMT_PublicPrivateKeyPair)", func() (err error) { r.keys, err = dev.KeyPairs(ctx); return })
	read("admin account (GetAdminAclEntry)", func() (err error) { r.admin, err = dev.AdminACLEntry(ctx); return })
	read("user accounts (EnumerateUserAclEntries, GetUserAclEntryEx)", func() (err error) { r.users, err = dev.UserACLEntries(ctx); return })
	read("clock (GetLowAccuracyTimeSynch)", func() (err error) { r.clock, err = dev.LowAccuracyTimeSynch(ctx); return })
	r.evaluate(ctx)
	return r
}

func parseRootHashes(items []wsman.Item) []rootHash {
	var out []rootHash
	for _, it := range items {
		f := wsman.Fields(it.Object)
		first := func(k string) string {
			if v := f[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		h := rootHash{Name: first("ElementName"), HashType: first("HashType"),
			Default: first("IsDefault") == "true", Enabled: first("Enabled") == "true"}
		if d := first("Description"); d != "" && h.Name == "" {
			h.Name = d
		}
		if sum, err := base64.StdEncoding.DecodeString(first("HashData")); err == nil {
			// The algorithm by the digest's length: the class's HashType
			// numbering is kept as sent.
			switch len(sum) {
			case 20:
				h.Hash = amt.CertHash{Alg: amt.HashSHA1, Sum: sum}
			case 32:
				h.Hash = amt.CertHash{Alg: amt.HashSHA256, Sum: sum}
			case 48:
				h.Hash = amt.CertHash{Alg: amt.HashSHA384, Sum: sum}
			case 64:
				h.Hash = amt.CertHash{Alg: amt.HashSHA512, Sum: sum}
			}
			if info, ok := amt.LookupDefaultRootHash(h.Hash); ok {
				h.KnownName = info.CA
			}
		}
		out = append(out, h)
	}
	return out
}

// evaluate derives the findings (provisioning.Audit's rules that concern a
// device's state) and compares what was read with amt.FirmwareFor.
func (r *result) evaluate(ctx context.Context) {
	// What Audit would say of a profile that configured the device this way:
	// the rules about TLS, the non-TLS port, legacy TLS and user accounts.
	// The configuration-wide rules (bundles, server name, authorizer …) are
	// the integrator's, not the device's, and are left out; so is a device
	// that is not provisioned, which has no configuration to judge.
	r.auditApplies = r.setup != nil && r.setup.ProvisioningState == amt.PostProvisioning
	r.compareTable()
	if !r.auditApplies {
		return
	}
	p := provisioning.Profile{Name: "as configured", RequireOTP: true}
	if remote := r.remoteTLS(); remote != nil && remote.Enabled {
		p.TLS = &provisioning.TLSProfile{AllowNonTLS: remote.AcceptNonSecureConnections}
	} else if r.tlsSet == nil {
		p.TLS = &provisioning.TLSProfile{} // unknown: no finding
	}
	if r.tls != nil && r.tls.Version < tls.VersionTLS12 {
		p.AllowLegacyTLS = true
	}
	for _, u := range r.users {
		p.Users = append(p.Users, provisioning.UserAccount{Name: u.Username, Realms: u.Realms, Access: u.Access})
	}
	applicable := map[amt.FindingCode]bool{
		provisioning.AuditNoTLS: true, provisioning.AuditNonTLSPort: true, provisioning.AuditLegacyTLS: true,
		provisioning.AuditBroadRealm: true, provisioning.AuditManyRealmUsers: true,
	}
	cfg := provisioning.Config{Profiles: map[string]provisioning.Profile{p.Name: p}, Now: func() time.Time { return r.now }}
	for _, f := range provisioning.Audit(ctx, cfg) {
		if applicable[f.Code] {
			f.Subject = strings.Replace(f.Subject, "profile as configured", "device", 1)
			r.findings = append(r.findings, f)
		}
	}
}

// compareTable compares what was read with amt.FirmwareFor.
func (r *result) compareTable() {
	fw := r.firmware
	if !fw.Known() {
		return
	}
	obs := func(ok bool, format string, args ...any) {
		mark := "matches"
		if !ok {
			mark = "DIFFERS"
		}
		r.observed = append(r.observed, mark+": "+fmt.Sprintf(format, args...))
	}
	if r.tls != nil {
		v := r.tls.Version
		lo, hi := fw.TLSRange()
		obs(v >= lo && v <= hi, "negotiated %s; the table gives %s to %s", tls.VersionName(v), tls.VersionName(lo), tls.VersionName(hi))
		if leaf := r.peer(); leaf != nil && r.setup != nil && r.setup.ProvisioningState != amt.PostProvisioning {
			named := len(leaf.DNSNames) > 0 || leaf.Subject.CommonName != ""
			obs(named == fw.DeviceCertHasHostName, "the device certificate names a host: %v; the table (DeviceCertHasHostName): %v", named, fw.DeviceCertHasHostName)
		}
	}
	if remote := r.remoteTLS(); remote != nil {
		has := remote.NonSecureConnectionsSupported != nil
		obs(has == fw.TLSNonSecureProperty, "AMT_TLSSettingData reports NonSecureConnectionsSupported: %v; the table (TLSNonSecureProperty): %v", has, fw.TLSNonSecureProperty)
	}
	if r.software != nil {
		_, core := r.software.Components["AMT FW Core Version"]
		obs(core == fw.CoreVersionIdentity, "CIM_SoftwareIdentity lists \"AMT FW Core Version\": %v; the table (CoreVersionIdentity): %v", core, fw.CoreVersionIdentity)
	}
	if r.hostBased != nil {
		obs(true, "IPS_HostBasedSetupService answers; the table (HostBasedSetupService): %v", fw.HostBasedSetupService)
		if !fw.HostBasedSetupService {
			r.observed[len(r.observed)-1] = strings.Replace(r.observed[len(r.observed)-1], "matches", "DIFFERS", 1)
		}
	}
	if len(r.hashes) > 0 {
		factory := 0
		for _, h := range r.hashes {
			if h.Default {
				factory++
			}
		}
		obs(factory <= fw.FactoryHashSlots, "%d factory root hashes; the table gives %d factory slots", factory, fw.FactoryHashSlots)
	}
}

func (r *result) remoteTLS() *amt.TLSSettingData {
	for _, s := range r.tlsSet {
		if s.Remote() {
			return s
		}
	}
	return nil
}

func (r *result) peer() *x509.Certificate {
	if r.tls == nil || len(r.tls.PeerCertificates) == 0 {
		return nil
	}
	return r.tls.PeerCertificates[0]
}

// flows lists amtkit's flows and whether this firmware supports them, by
// amt.FirmwareFor.
func flows(fw amt.Firmware) [][2]string {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	plat := func(p amt.Platforms, yesText, someText string) string {
		switch p {
		case amt.AllPlatforms:
			return yesText
		case amt.SomePlatforms:
			return someText
		}
		return "no"
	}
	acmLocal := "no"
	if fw.HostBasedSetupService {
		acmLocal = plat(fw.HostBasedAdminSetupRequiresTLS, "no: secure host-based configuration (TLS to the local port) instead",
			"on some platforms only; others need secure host-based configuration (TLS to the local port)")
		if fw.HostBasedAdminSetupRequiresTLS == amt.NoPlatforms {
			acmLocal = "yes"
		}
	}
	lo, hi := fw.TLSRange()
	tlsNote := tls.VersionName(lo) + " to " + tls.VersionName(hi)
	switch {
	case !fw.TLS12.Any():
		tlsNote += " (amtkit: wsman.WithLegacyTLS, Profile.AllowLegacyTLS)"
	case fw.NeedsRSAKeyExchange.Any():
		tlsNote += " (amtkit: wsman.WithRSAKeyExchange on some platforms)"
	}
	keyGen := "no"
	if fw.GenerateKeyPair {
		keyGen = "yes (" + keyAlgName(fw.TLSKeyAlgorithm, fw.TLSKeyLength) + ")"
	}
	return [][2]string{
		{"remote configuration, bare metal (PKI hello)", yes(fw.BareMetalRemoteConfig)},
		{"remote configuration, agent-initiated (OTP)", yes(fw.AgentInitiatedRemoteConfig)},
		{"PSK one-touch (setup.bin PID/PPS)", yes(fw.PSK)},
		{"host-based CCM (Setup)", yes(fw.HostBasedSetupService)},
		{"host-based ACM (AdminSetup over the local port)", acmLocal},
		{"upgrade CCM to ACM (UpgradeClientToAdmin)", yes(fw.HostBasedSetupService)},
		{"AMT-generated TLS key (GenerateKeyPair)", keyGen},
		{"TLS versions", tlsNote},
		{"SHA-384 setup signature (SigningAlgorithm 3)", yes(fw.SigningSHA384) + map[bool]string{true: ", required with a SHA-384 certificate", false: ""}[fw.SigningSHA384Required]},
		{"remote non-TLS port 16992", plat(fw.RemoteNonTLSPort, "yes", "some platforms (NonSecureConnectionsSupported says)")},
		{"commit drops the connection (read back after CommitChanges)", yes(fw.CommitDropsConnection)},
		{"first request after TLS 1.3 may be reset (retry reads)", yes(fw.FirstRequestMayDrop)},
	}
}

func keyAlgName(a amt.KeyAlgorithm, length uint32) string {
	if a == amt.KeyAlgorithmECC384 {
		return "ECC P-384"
	}
	return fmt.Sprintf("RSA %d", length)
}

// print writes the report.
func (r *result) print(w io.Writer, endpoint string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("amtkit device check of %s (%s)", endpoint, r.now.UTC().Format(time.RFC3339))
	p("")
	p("Firmware")
	if r.software != nil {
		p("  AMT version   %s", r.software.Version)
		for _, k := range []string{"Build Number", "Sku", "Flash", "AMT FW Core Version"} {
			if v, ok := r.software.Components[k]; ok {
				p("  %-13s %s", k, v)
			}
		}
	}
	if r.identity != nil {
		p("  Identify      %s %s", r.identity.ProductVendor, r.identity.ProductVersion)
	}
	if r.tls != nil {
		p("  TLS           %s, %s", tls.VersionName(r.tls.Version), tls.CipherSuiteName(r.tls.CipherSuite))
	}
	p("")
	p("Provisioning")
	if r.setup != nil {
		mode := "-"
		if r.setup.ProvisioningState == amt.PostProvisioning {
			mode = r.setup.ProvisioningMode.String()
		}
		p("  state         %s (mode %s), remote configuration %s", r.setup.ProvisioningState, mode, onOff(r.setup.ZeroTouchConfigurationEnabled))
		p("  DNS suffix    trusted (MEBx) %q, DHCP %q", r.setup.TrustedDNSSuffix, r.setup.DhcpDNSSuffix)
		if r.setup.ConfigurationServerFQDN != "" {
			p("  config server %s", r.setup.ConfigurationServerFQDN)
		}
	}
	if r.hostBased != nil {
		p("  control mode  %s (allowed %v)", r.hostBased.CurrentControlMode, r.hostBased.AllowedControlModes)
	}
	if !r.uuid.IsZero() {
		p("  UUID          %s", r.uuid)
	}
	if r.general != nil {
		p("  digest realm  %s", r.general.DigestRealm)
		p("  host name     %q, domain %q", r.general.HostName, r.general.DomainName)
	}
	if r.admin != "" {
		p("  admin account %q, %d user account(s)", r.admin, len(r.users))
	}
	for _, u := range r.users {
		p("    user %q: realms %v, access %v", u.Username, u.Realms, u.Access)
	}
	if !r.clock.IsZero() {
		p("  clock         %s (%s from this host)", r.clock.Format(time.RFC3339), r.clock.Sub(r.now.UTC()).Round(time.Second))
	}
	p("")
	p("Trusted root hashes")
	if r.hashes == nil {
		p("  (not read)")
	}
	for _, h := range r.hashes {
		name := h.Name
		if h.KnownName != "" && h.KnownName != name {
			name += " = " + h.KnownName
		}
		p("  %-3s %-7s %s… %s", yesNo(h.Enabled, "on", "off"), yesNo(h.Default, "factory", "user"), short(h.Hash), name)
	}
	p("")
	p("TLS")
	for _, s := range r.tlsSet {
		iface := "local "
		if s.Remote() {
			iface = "remote"
		}
		ns := ""
		if s.NonSecureConnectionsSupported != nil {
			ns = fmt.Sprintf(", non-secure connections supported %v", *s.NonSecureConnectionsSupported)
		}
		p("  %s TLS %s, mutual %v, accept non-TLS %v%s", iface, onOff(s.Enabled), s.MutualAuthentication, s.AcceptNonSecureConnections, ns)
	}
	bound := map[string]bool{}
	for i := range r.contexts {
		bound[r.contexts[i].CertificateInstanceID()] = true
	}
	if leaf := r.peer(); leaf != nil {
		p("  presented     %s", describeCert(leaf, r.now))
	}
	p("  %d certificate(s), %d key pair(s) stored", len(r.certs), len(r.keys))
	for _, c := range r.certs {
		cert, err := c.Parse()
		if err != nil {
			p("    %s: unreadable: %v", c.InstanceID, err)
			continue
		}
		role := "stored"
		switch {
		case bound[c.InstanceID]:
			role = "bound to TLS"
		case c.TrustedRoot:
			role = "trusted root"
		}
		p("    %-13s %s", role, describeCert(cert, r.now))
	}
	p("")
	p("Findings (provisioning.Audit's rules on the device's state)")
	switch {
	case r.setup == nil:
		p("  unknown: the provisioning state could not be read")
	case !r.auditApplies:
		p("  not applicable: the device is not provisioned")
	case len(r.findings) == 0:
		p("  none")
	}
	for _, f := range r.findings {
		p("  %s", f)
	}
	p("")
	if r.firmware.Known() {
		p("amtkit's flows on AMT %s (amt.FirmwareFor)", r.firmware.Version)
		for _, f := range flows(r.firmware) {
			p("  %-62s %s", f[0], f[1])
		}
		p("")
		p("What the device showed against the firmware table")
		for _, o := range r.observed {
			p("  %s", o)
		}
		p("")
	}
	p("Reads: %d, failed: %d", r.readsTried, len(r.sections))
	for _, s := range r.sections {
		p("  %s: %v", s.name, s.err)
	}
}

func describeCert(c *x509.Certificate, now time.Time) string {
	st := certs.ExpiryPolicy{}.DeviceCert(c, now)
	days := int(c.NotAfter.Sub(now).Hours() / 24)
	name := c.Subject.CommonName
	if name == "" && len(c.DNSNames) > 0 {
		name = c.DNSNames[0]
	}
	if name == "" {
		name = "(no name)"
	}
	sum := sha256.Sum256(c.Raw)
	return fmt.Sprintf("%s, issuer %s, expires %s (%d days, %s), sha256 %s…", name, c.Issuer.CommonName,
		c.NotAfter.Format(time.DateOnly), days, st, hex.EncodeToString(sum[:8]))
}

func short(h amt.CertHash) string {
	if len(h.Sum) == 0 {
		return "(unreadable)        "
	}
	return fmt.Sprintf("%-7s %s", h.Alg, hex.EncodeToString(h.Sum[:min(8, len(h.Sum))]))
}

func onOff(b bool) string { return yesNo(b, "on", "off") }

func yesNo(b bool, y, n string) string {
	if b {
		return y
	}
	return n
}
