package provisioning

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
)

// Audit rules: the codes of [Audit]'s findings, typed [amt.FindingCode]. Codes
// are stable; docs/troubleshooting.md lists each with its guidance.
const (
	// AuditNoBundles (error): no provisioning certificate is configured.
	AuditNoBundles amt.FindingCode = "no-bundles"
	// AuditBundle (severity of the underlying check): a provisioning bundle fails
	// a certs.CheckProvisioning rule; the finding's Detail holds the certs code,
	// its Index the certificate's position in the bundle's chain.
	AuditBundle amt.FindingCode = "bundle-check"
	// AuditBundleExpiring (warning): a provisioning certificate is within the
	// warning window (Configuration Manager status 7210, 40 days).
	AuditBundleExpiring amt.FindingCode = "bundle-expiring"
	// AuditBundleExpiringSoon (error): less than the error window remains
	// (Configuration Manager status 7211, 15 days).
	AuditBundleExpiringSoon amt.FindingCode = "bundle-expiring-soon"
	// AuditBundleExpired (error): a provisioning certificate has expired.
	AuditBundleExpired amt.FindingCode = "bundle-expired"
	// AuditBundleRevoked (error): a provisioning certificate is revoked, or its
	// revocation status cannot be read.
	AuditBundleRevoked amt.FindingCode = "bundle-revoked"
	// AuditDefaultServerName (warning): devices find the server by the default
	// name ProvisionServer, which anyone who can register a DNS name can claim.
	AuditDefaultServerName amt.FindingCode = "default-server-name"
	// AuditDefaultPort (info): the hello listener uses the well-known port 9971.
	AuditDefaultPort amt.FindingCode = "default-port"
	// AuditDefaultMEBxPassword (error): a profile keeps the factory MEBx password.
	AuditDefaultMEBxPassword amt.FindingCode = "default-mebx-password"
	// AuditFleetAdminPassword (warning): a profile sets one admin password for
	// every device, so one compromised device exposes all.
	AuditFleetAdminPassword amt.FindingCode = "fleet-admin-password"
	// AuditFleetMEBxPassword (warning): likewise for the MEBx password.
	AuditFleetMEBxPassword amt.FindingCode = "fleet-mebx-password"
	// AuditFixedUserPassword (warning): a profile fixes a user account's
	// password, so every device of the profile shares it and any one of them —
	// or an impostor provisioned in its place, which learns the account's
	// digest for a realm it chooses — yields a credential for all.
	AuditFixedUserPassword amt.FindingCode = "fixed-user-password"
	// AuditBroadRealm (warning): a user account is granted Redirection or PT
	// Administration (media redirection and full control), or access from both
	// network and host.
	AuditBroadRealm amt.FindingCode = "broad-realm"
	// AuditManyRealmUsers (warning): more than three accounts hold Redirection or
	// PT Administration.
	AuditManyRealmUsers amt.FindingCode = "many-privileged-users"
	// AuditManyProvisioningAccounts (warning): more than three provisioning
	// accounts are configured.
	AuditManyProvisioningAccounts amt.FindingCode = "many-provisioning-accounts"
	// AuditUUIDOnly (warning): a profile approves devices by UUID alone (no OTP,
	// no On-Die verification); a rogue machine that knows a UUID is provisioned.
	AuditUUIDOnly amt.FindingCode = "uuid-only-approval"
	// AuditLegacyTLS (warning): a profile allows TLS 1.0/1.1 and RSA key exchange.
	AuditLegacyTLS amt.FindingCode = "legacy-tls"
	// AuditNoTLS (warning): a profile leaves AMT without a TLS certificate, so
	// management traffic (and digest authentication) is in clear text.
	AuditNoTLS amt.FindingCode = "no-tls"
	// AuditNonTLSPort (warning): a profile keeps the non-TLS port open.
	AuditNonTLSPort amt.FindingCode = "non-tls-port"
	// AuditStandAloneCA (error): the Issuer's CA approves every request
	// automatically without access control.
	AuditStandAloneCA amt.FindingCode = "standalone-ca-autoapprove"
	// AuditV3Template (error): the Issuer's certificate template is a version 3
	// Microsoft template, which Configuration Manager does not support.
	AuditV3Template amt.FindingCode = "v3-template"
	// AuditNoIssuer (error): a profile needs certificates but no Issuer is set.
	AuditNoIssuer amt.FindingCode = "no-issuer"
	// AuditProfileInvalid (error): a profile breaks an AMT rule (Profile.Validate).
	AuditProfileInvalid amt.FindingCode = "profile-invalid"
	// AuditNoAuthorizer (error): no Authorizer is configured.
	AuditNoAuthorizer amt.FindingCode = "no-authorizer"
	// AuditOnDieNoRoots (error): a profile requires On-Die verification but
	// Config.OnDieRoots is not set, so every device of that profile is refused.
	AuditOnDieNoRoots amt.FindingCode = "ondie-no-roots"
	// AuditWeakWiFiPassphrase (warning for WPA2-Personal, info for
	// WPA3-Personal): a Wi-Fi network's passphrase is shorter than
	// MinWiFiPassphrase. A WPA2 passphrase can be guessed offline from one
	// captured handshake; WPA3's SAE resists that, not online guessing.
	AuditWeakWiFiPassphrase amt.FindingCode = "wifi-weak-passphrase"
	// AuditNoServerValidation (warning for EAP-TLS, error for PEAP-MSCHAPv2):
	// an 802.1X configuration, wired or Wi-Fi, has no RADIUS server root or
	// no server name, so the device authenticates to any server that answers —
	// with PEAP handing it an MSCHAPv2 response to crack.
	AuditNoServerValidation amt.FindingCode = "8021x-no-server-validation"
	// AuditOnDieUnbound (warning): Config.OnDieBinding is
	// TrustAnyOnDieDevice: a genuine On-Die chain is accepted without being tied
	// to the platform, and the device's identity rests on the UUID its firmware
	// reports.
	AuditOnDieUnbound amt.FindingCode = "ondie-unbound"
	// AuditOnDieDefaultBinding (warning): Config.OnDieRoots is set and
	// Config.OnDieBinding is not, so the default [BindOnDieUUID] decides: it
	// needs the device's certificate to name the hello's UUID, which Intel's
	// real On-Die certificates do not — every real device is refused.
	AuditOnDieDefaultBinding amt.FindingCode = "ondie-default-binding"
	// AuditCIRAPasswordAuth (info; warning with a password fixed for the
	// fleet): a profile's CIRA devices authenticate to their MPS with a user
	// name and password, not with a client certificate (set
	// RemoteAccessProfile.AuthMethod to amt.MPSMutualAuth, for which this
	// finding is not reported): whoever learns the password can impersonate
	// the device to the MPS.
	AuditCIRAPasswordAuth amt.FindingCode = "cira-password-auth"
	// AuditCIRAFleetPassword (warning): a profile gives every device the
	// same MPS password, so one device exposes the credentials of all.
	AuditCIRAFleetPassword amt.FindingCode = "cira-fleet-password"
	// AuditConsentOff (warning; info for Features.Unattended): a profile
	// enables KVM or redirection without user consent (or storage
	// redirection with consent for KVM only): a remote operator can see and
	// control a machine someone is using without their knowledge.
	AuditConsentOff amt.FindingCode = "user-consent-off"
)

// MinWiFiPassphrase is the shortest personal Wi-Fi passphrase Audit accepts
// without a finding.
const MinWiFiPassphrase = 12

const (
	guideWiFi  = "IEEE 802.11i-2004 (PSK derived from the passphrase; offline guessing from a captured handshake); Wi-Fi Alliance WPA3 (SAE)"
	guide8021X = "RFC 5216 §5.3 and Microsoft PEAP guidance: the supplicant must validate the server's certificate and name"
	guideCM    = "Configuration Manager out-of-band management guidance"
	guideIntel = "Intel AMT Implementation and Reference Guide, security best practices"
	guideCerts = "Intel AMT SDK, Acquiring an Intel vPro Certificate; Configuration Manager PKI certificate requirements"
)

// Audit checks an integrator's configuration against the security best
// practices of the Configuration Manager and Intel guidance, and every
// provisioning bundle against the certificate rules (certs.CheckProvisioning) and
// the expiry policy. It returns findings sorted by severity (errors first), then
// code. Each finding names its Subject (the configuration, a bundle, a profile,
// a user) and its Guidance; Index is -1 except for bundle-check. The context
// bounds revocation checks.
func Audit(ctx context.Context, cfg Config) amt.Findings {
	var out amt.Findings
	add := func(code amt.FindingCode, sev amt.Severity, subject, guidance, format string, args ...any) {
		out = append(out, amt.Finding{Code: code, Severity: sev, Subject: subject, Guidance: guidance, Message: fmt.Sprintf(format, args...), Index: -1})
	}
	now := time.Now()
	if cfg.Now != nil {
		now = cfg.Now()
	}

	if cfg.Authorizer == nil {
		add(AuditNoAuthorizer, amt.SeverityError, "configuration", guideCM, "no Authorizer: no device can be approved")
	}

	// Provisioning bundles.
	if len(cfg.Bundles) == 0 {
		add(AuditNoBundles, amt.SeverityError, "configuration", guideCerts, "no provisioning certificate bundle is configured")
	}
	for _, b := range cfg.Bundles {
		name := bundleName(b)
		for _, f := range certs.CheckProvisioning(b.Chain, b.Key, certs.ProvisioningOptions{Now: func() time.Time { return now }}) {
			if f.Severity < amt.SeverityWarning {
				continue
			}
			msg := f.Message
			if f.Subject != "" {
				msg = f.Subject + ": " + msg
			}
			out = append(out, amt.Finding{Code: AuditBundle, Severity: f.Severity, Subject: name, Guidance: guideCerts,
				Message: msg, Detail: string(f.Code), Index: f.Index, Err: f.Err})
		}
		leaf := b.Leaf()
		if leaf == nil {
			continue
		}
		switch st := cfg.ExpiryPolicy.ProvisioningChain(b.Chain, now); st {
		case certs.ExpiryWarning:
			add(AuditBundleExpiring, amt.SeverityWarning, name, guideCM, "expires %s (%d days): renew it (status %d)", b.NotAfter().Format(time.DateOnly), daysLeft(b.NotAfter(), now), st.StatusMessageID())
		case certs.ExpiryError:
			add(AuditBundleExpiringSoon, amt.SeverityError, name, guideCM, "expires %s (%d days): renew it now (status %d)", b.NotAfter().Format(time.DateOnly), daysLeft(b.NotAfter(), now), st.StatusMessageID())
		case certs.ExpiryExpired:
			add(AuditBundleExpired, amt.SeverityError, name, guideCM, "expired %s: devices will refuse it", b.NotAfter().Format(time.DateOnly))
		}
		if cfg.CheckRevocation != nil {
			for i := 0; i+1 < len(b.Chain); i++ {
				c := b.Chain[i]
				if err := cfg.CheckRevocation(ctx, c, b.Chain[i+1]); err != nil {
					msg := "revocation status cannot be read: " + err.Error()
					if errors.Is(err, certs.ErrRevoked) {
						msg = "revoked: " + err.Error()
					}
					add(AuditBundleRevoked, amt.SeverityError, name, guideCM, "%s: %s", certs.Describe(c), msg)
					break
				}
			}
		}
	}

	// Deployment.
	if cfg.ServerName == "" || strings.EqualFold(strings.SplitN(cfg.ServerName, ".", 2)[0], "ProvisionServer") {
		add(AuditDefaultServerName, amt.SeverityWarning, "configuration", guideCM,
			"devices find the server by the default name ProvisionServer; configure an alternative name or an address in MEBx or setup.bin, or secure the DNS record")
	}
	if port := listenPort(cfg.ListenAddr); port == "9971" {
		add(AuditDefaultPort, amt.SeverityInfo, "configuration", guideCM, "the hello listener uses the default port 9971")
	}
	if cfg.OnDieRoots != nil && cfg.OnDieBinding != nil &&
		reflect.ValueOf(cfg.OnDieBinding).Pointer() == reflect.ValueOf(TrustAnyOnDieDevice).Pointer() {
		add(AuditOnDieUnbound, amt.SeverityWarning, "configuration", guideIntel,
			"On-Die chains are accepted without a platform binding (TrustAnyOnDieDevice); bind them to the platform (for example its UPID) where your inventory knows it")
	}
	if cfg.OnDieRoots != nil && cfg.OnDieBinding == nil {
		add(AuditOnDieDefaultBinding, amt.SeverityWarning, "configuration", guideIntel,
			"On-Die chains are bound by the default BindOnDieUUID, which needs the certificate to name the device's UUID; Intel's real On-Die certificates do not, so every real device is refused: set Config.OnDieBinding")
	}
	if n := len(cfg.ProvisioningAccounts); n > 3 {
		add(AuditManyProvisioningAccounts, amt.SeverityWarning, "configuration", guideCM,
			"%d provisioning accounts are configured; keep only the few in use", n)
	}

	// Issuer.
	needIssuer := false
	if rep, ok := cfg.Issuer.(IssuerPolicyReporter); ok {
		pol := rep.IssuerPolicy()
		if pol.StandAloneAutoApprove {
			add(AuditStandAloneCA, amt.SeverityError, "issuer", guideCM, "the CA approves every request automatically; use an enterprise CA whose template controls who may enrol")
		}
		if pol.TemplateVersion == 3 {
			add(AuditV3Template, amt.SeverityError, "issuer", guideCM, "certificates come from a version 3 template, which Configuration Manager does not support; use a version 2 template")
		}
	}

	// Profiles.
	profiles := cfg.Profiles
	if len(profiles) == 0 {
		profiles = map[string]Profile{DefaultProfileName: {Name: DefaultProfileName}}
	}
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p := profiles[n]
		subj := "profile " + n
		if err := p.Validate(); err != nil {
			add(AuditProfileInvalid, amt.SeverityError, subj, guideIntel, "%v", err)
		}
		if p.MEBxPassword.Reveal() == "admin" {
			add(AuditDefaultMEBxPassword, amt.SeverityError, subj, guideIntel, "the factory MEBx password is kept")
		}
		if !p.AdminPassword.IsZero() {
			add(AuditFleetAdminPassword, amt.SeverityWarning, subj, guideIntel, "one admin password for every device; leave it empty for a random password per device")
		}
		if !p.MEBxPassword.IsZero() {
			add(AuditFleetMEBxPassword, amt.SeverityWarning, subj, guideIntel, "one MEBx password for every device; leave it empty for a random password per device")
		}
		if !p.RequireOTP && !p.RequireOnDie {
			add(AuditUUIDOnly, amt.SeverityWarning, subj, guideCM,
				"devices without an agent request are approved by UUID alone; a machine that sends a known UUID is provisioned (require an OTP or On-Die verification)")
		}
		if p.RequireOnDie && cfg.OnDieRoots == nil {
			add(AuditOnDieNoRoots, amt.SeverityError, subj, guideIntel, "On-Die verification is required but Config.OnDieRoots is not set: every device is refused")
		}
		if p.AllowLegacyTLS {
			add(AuditLegacyTLS, amt.SeverityWarning, subj, guideIntel, "TLS 1.0/1.1 and RSA key exchange are allowed for old firmware")
		}
		if p.TLS == nil {
			add(AuditNoTLS, amt.SeverityWarning, subj, guideIntel, "AMT gets no TLS certificate: management traffic is not encrypted")
		} else if p.TLS.AllowNonTLS {
			add(AuditNonTLSPort, amt.SeverityWarning, subj, guideIntel, "the non-TLS port 16992 stays open")
		}
		if p.TLS != nil || p.network().needsIssuer() || p.RemoteAccess != nil && p.RemoteAccess.mutual() {
			needIssuer = true
		}
		auditNetwork(p.network(), subj, add)
		auditRemote(p, subj, add) // remoteaccess.go
		privileged := 0
		for _, u := range p.Users {
			if !u.Password.IsZero() {
				add(AuditFixedUserPassword, amt.SeverityWarning, subj+" user "+u.Name, guideIntel,
					"one password for this account on every device; leave it empty for a random password per device (kept in the device's record)")
			}
			if slices.Contains(u.Realms, amt.RealmRedirection) || slices.Contains(u.Realms, amt.RealmPTAdministration) {
				privileged++
				add(AuditBroadRealm, amt.SeverityWarning, subj+" user "+u.Name, guideCM,
					"granted %s; grant media redirection and PT administration only to the few who need them", realmList(u.Realms))
			} else if u.Access == amt.AccessAny {
				add(AuditBroadRealm, amt.SeverityInfo, subj+" user "+u.Name, guideIntel, "may sign in from both the network and the host")
			}
		}
		if privileged > 3 {
			add(AuditManyRealmUsers, amt.SeverityWarning, subj, guideCM, "%d accounts hold Redirection or PT Administration", privileged)
		}
	}
	if needIssuer && cfg.Issuer == nil {
		add(AuditNoIssuer, amt.SeverityError, "configuration", guideCM, "a profile asks for TLS, 802.1X or MPS client certificates but no Issuer is configured")
	}

	slices.SortStableFunc(out, func(a, b amt.Finding) int {
		if a.Severity != b.Severity {
			return int(b.Severity) - int(a.Severity)
		}
		return strings.Compare(string(a.Code), string(b.Code))
	})
	return out
}

func bundleName(b certs.Bundle) string {
	if l := b.Leaf(); l != nil {
		return "bundle " + l.Subject.CommonName
	}
	return "bundle (empty)"
}

func daysLeft(t, now time.Time) int { return int(t.Sub(now).Hours() / 24) }

func listenPort(addr string) string {
	if addr == "" {
		return "9971"
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}

func realmList(rs []amt.Realm) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

// auditNetwork reports the weak choices of a network profile.
func auditNetwork(n *NetworkProfile, subj string, add func(code amt.FindingCode, sev amt.Severity, subject, guidance, format string, args ...any)) {
	if n == nil {
		return
	}
	check8021X := func(c *IEEE8021XConfig, what string) {
		if c == nil || c.validates() {
			return
		}
		sev := amt.SeverityWarning
		if c.Method == PEAPMSCHAPv2 {
			sev = amt.SeverityError
		}
		missing := "the RADIUS server's root and name"
		switch {
		case c.ServerRoot != nil:
			missing = "the RADIUS server's name"
		case c.ServerName != "":
			missing = "the RADIUS server's root"
		}
		add(AuditNoServerValidation, sev, subj+" "+what, guide8021X,
			"%s without %s: the device authenticates to any server that answers (set ServerRoot and ServerName)", c.Method, missing)
	}
	check8021X(n.Wired8021X, "wired 802.1X")
	if n.WiFi == nil {
		return
	}
	for _, nw := range n.WiFi.Networks {
		what := fmt.Sprintf("Wi-Fi %q", nw.Name)
		if nw.Security.Enterprise() {
			check8021X(nw.IEEE8021X, what)
			continue
		}
		if l := nw.Passphrase.Len(); l < MinWiFiPassphrase {
			sev := amt.SeverityWarning
			if nw.Security == WPA3Personal {
				sev = amt.SeverityInfo
			}
			add(AuditWeakWiFiPassphrase, sev, subj+" "+what, guideWiFi,
				"%s passphrase of %d characters; use at least %d (random) or an 802.1X network", nw.Security, l, MinWiFiPassphrase)
		}
	}
}
