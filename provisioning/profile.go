package provisioning

import (
	"crypto/x509"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// DefaultProfileName is the profile used when an inventory record names none.
const DefaultProfileName = "default"

// Profile is the configuration applied to a device. The zero value is usable:
// random per-device admin and MEBx passwords, user "admin", host and domain name
// from the inventory, clock synchronised, no TLS certificate, no extra users.
// Every password a profile leaves empty is generated per device.
type Profile struct {
	// Name names the profile in errors and events. Empty: its key in
	// Config.Profiles.
	Name string

	// AdminUser is the digest user of the admin ACL entry. Empty: "admin".
	AdminUser string
	// AdminPassword and MEBxPassword are set on the device. Empty (recommended):
	// a new random password per device, handed to the Store. A fixed value is
	// applied to every device with this profile, which Audit reports. The
	// MEBx password is left alone on a device in client control mode, whose
	// firmware refuses to set it.
	AdminPassword amt.Secret
	MEBxPassword  amt.Secret

	// RequireOTP makes every session need the device's OTP to match an agent
	// request, even for hellos without one (they are then rejected).
	RequireOTP bool
	// RequireOnDie rejects devices whose TLS certificate does not chain to a
	// configured On-Die CA root.
	RequireOnDie bool
	// ProvisioningWindow is passed to ExtendProvisioningPeriod after a matching
	// OTP. Zero: 6 hours.
	ProvisioningWindow time.Duration

	// SkipHostName leaves AMT's host and domain name alone.
	SkipHostName bool
	// SkipClockSync leaves AMT's clock alone (not recommended: TLS needs it).
	// Without it, a session reads the clock and sets it when it is more than
	// 10 s off; a device that refuses the set does not fail the session. The
	// Maintainer does the same before each certificate renewal.
	SkipClockSync bool

	// TLS, when set, has AMT generate a key, has the Issuer certify it and enables
	// TLS on AMT's network interface.
	TLS *TLSProfile

	// Users are extra digest accounts. A session sets them; the reconcile
	// area "users" keeps devices provisioned earlier in line with changes
	// (adds, updates and removes the accounts amtkit created).
	Users []UserAccount

	// IEEE8021X, when set, installs an 802.1X client certificate for the wired
	// interface.
	//
	// Deprecated: use Network.Wired8021X, which adds the RADIUS server's root,
	// the server name and PEAP-MSCHAPv2. IEEE8021X is read as a Wired8021X
	// with EAP-TLS and no server validation (which Audit reports) when
	// Network.Wired8021X is not set, and like it is applied after activation.
	IEEE8021X *IEEE8021XProfile

	// Network configures wired 802.1X, Wi-Fi profiles and the wired IPv4
	// settings, applied after activation and kept in line by reconcile (see
	// [NetworkProfile]). Nil: the device's network settings are left alone.
	Network *NetworkProfile

	// RemoteAccess configures Client Initiated Remote Access (CIRA): the
	// Management Presence Server AMT calls, its root certificate, the
	// policies that open the tunnel, the home domains and the user-initiated
	// connection (see [RemoteAccessProfile]). Applied after activation and
	// kept in line by reconcile. Nil: the device's CIRA settings are left
	// alone.
	RemoteAccess *RemoteAccessProfile
	// Features configures redirection (SOL, IDE redirection, KVM), the
	// user-consent policy and the ping responses (see [FeaturesProfile]).
	// Applied after activation and kept in line by reconcile. Nil: left
	// alone.
	Features *FeaturesProfile

	// AllowLegacyTLS lets the engine retry with TLS 1.0/1.1 and RSA key exchange
	// for firmware older than AMT 12 that refuses TLS 1.2. Audit reports it.
	AllowLegacyTLS bool
}

// TLSProfile configures AMT's own TLS certificate and settings: RPS's four
// modes are server authentication with or without the non-TLS port
// (AllowNonTLS) and mutual authentication with or without it
// (MutualAuthentication), see [TLSProfile.Mode]. The configure step enables
// server authentication on the network interface before the commit; mutual
// authentication, the trusted client roots and the local interface are the
// reconcile area "tls", applied after activation (as RPS and rpc-go do) and
// kept in line later (docs/remote-access.md).
type TLSProfile struct {
	// AllowNonTLS keeps the non-TLS port 16992 open (not recommended).
	AllowNonTLS bool
	// KeyAttempts bounds GenerateKeyPair attempts (firmware is not always ready).
	// Zero: 20.
	KeyAttempts int
	// KeyRetryDelay is the pause between attempts. Zero: 10 seconds.
	KeyRetryDelay time.Duration

	// MutualAuthentication makes AMT's network interface require a client
	// certificate issued under TrustedClientRoots (RPS modes 3 and 4). Every
	// later connection of the engine — read-back, reconcile, the Maintainer,
	// OpenDevice — then presents Config.ClientCertificate, which New requires.
	MutualAuthentication bool
	// TrustedClientRoots are installed with AddTrustedRootCertificate before
	// mutual authentication is enabled (AMT refuses new trusted roots while
	// either interface is in mutual mode). Required with MutualAuthentication.
	TrustedClientRoots []*x509.Certificate
	// TrustedCN limits the client certificates AMT accepts to these common
	// names (AMT_TLSSettingData.TrustedCN). Empty: any certificate issued
	// under TrustedClientRoots.
	TrustedCN []string
	// LocalTLS enables TLS on the local (LMS) interface too, after
	// activation (enabling it during remote configuration makes the commit be
	// ignored: MeshCentral amtprovisioningserver.js). Server authentication
	// only: AMT refuses mutual authentication on the local interface. False
	// leaves the local interface as it is — amtkit never switches its TLS off:
	// host software may use it, RPS, rpc-go and MeshCentral enable it with
	// the network interface, and platforms from AMT 19 enforce it.
	LocalTLS bool
}

// UserAccount is a digest user ACL entry (AMT_AuthorizationService
// AddUserAclEntryEx) that sessions create and reconcile keeps in line with
// the profile.
type UserAccount struct {
	// Name is the digest user name: unique on the device, not the admin
	// account's (amt.CheckUsername says what AMT accepts). Required.
	Name string
	// Password empty (recommended): a new random password per device, kept in
	// the device's record (DeviceRecord.Users). A fixed password is applied to
	// every device of the profile, which Audit reports: no secret that works on
	// one device should be given to another. A fixed password later cleared
	// is replaced by a random one per device at the next reconcile (area
	// "users"); a record written before this rule keeps the fixed one until
	// the profile fixes another.
	Password amt.Secret
	// Realms are what the user may do (amt.RealmRedirection for SOL and
	// IDE-R/USB-R, amt.RealmPTAdministration for settings, …); at least one,
	// each assignable (amt.Realm.Assignable).
	Realms []amt.Realm
	// Access is where the user may connect from. The zero value is
	// amt.AccessLocal — the host interface only — as in AMT's own enum: set
	// amt.AccessNetwork or amt.AccessAny for a console on the network.
	Access amt.AccessPermission
}

// IEEE8021XProfile configures wired 802.1X with EAP-TLS.
//
// Deprecated: use [IEEE8021XConfig] in Profile.Network.Wired8021X.
type IEEE8021XProfile struct {
	// Username is the EAP identity. Empty: the device FQDN.
	Username string
	// PxeTimeout is how long AMT holds the 802.1X session for PXE. Zero: 120 s.
	PxeTimeout time.Duration
}

func (p *Profile) adminUser() string {
	if p.AdminUser != "" {
		return p.AdminUser
	}
	return "admin"
}

func (p *Profile) window() time.Duration {
	if p.ProvisioningWindow > 0 {
		return p.ProvisioningWindow
	}
	return 6 * time.Hour
}

// Validate checks the profile's fixed values against AMT's rules.
func (p *Profile) Validate() error {
	if err := amt.CheckUsername(p.adminUser()); err != nil {
		return &ConfigError{Field: "Profile " + p.Name + " AdminUser", Problem: err.Error()}
	}
	for _, pw := range []struct {
		name string
		s    amt.Secret
	}{{"AdminPassword", p.AdminPassword}, {"MEBxPassword", p.MEBxPassword}} {
		if !pw.s.IsZero() {
			if err := amt.CheckPassword(pw.s.Reveal()); err != nil {
				return &ConfigError{Field: "Profile " + p.Name + " " + pw.name, Problem: err.Error()}
			}
		}
	}
	if p.MEBxPassword.Reveal() == "admin" {
		return &ConfigError{Field: "Profile " + p.Name + " MEBxPassword", Problem: "must not be the factory default"}
	}
	seen := map[string]bool{p.adminUser(): true}
	for _, u := range p.Users {
		if err := amt.CheckUsername(u.Name); err != nil {
			return &ConfigError{Field: "Profile " + p.Name + " user", Problem: err.Error()}
		}
		// Digest user names are unique on the device (AddUserAclEntryEx
		// answers PT_STATUS_DUPLICATE, 2058): a profile naming one twice, or
		// the admin account's, would fail every session.
		if seen[u.Name] {
			return &ConfigError{Field: "Profile " + p.Name + " user " + u.Name, Problem: "named twice (or as the admin account): digest user names are unique on the device"}
		}
		seen[u.Name] = true
		if !u.Password.IsZero() {
			if err := amt.CheckPassword(u.Password.Reveal()); err != nil {
				return &ConfigError{Field: "Profile " + p.Name + " user " + u.Name, Problem: err.Error()}
			}
		}
		if len(u.Realms) == 0 {
			return &ConfigError{Field: "Profile " + p.Name + " user " + u.Name, Problem: "no realms"}
		}
		for _, r := range u.Realms {
			if !r.Assignable() {
				return &ConfigError{Field: "Profile " + p.Name + " user " + u.Name, Problem: "realm " + r.String() + " cannot be granted"}
			}
		}
	}
	if p.ProvisioningWindow > 24*time.Hour {
		return &ConfigError{Field: "Profile " + p.Name + " ProvisioningWindow", Problem: "AMT extends the window by at most 24 hours"}
	}
	if err := p.network().Validate(); err != nil {
		if ce, ok := err.(*ConfigError); ok {
			ce.Field = "Profile " + p.Name + " " + ce.Field
		}
		return err
	}
	if err := p.validateRemote(); err != nil { // remoteaccess.go: RemoteAccess, Features, TLS modes
		return err
	}
	return nil
}
