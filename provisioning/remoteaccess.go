package provisioning

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
)

// RemoteAccessProfile configures Client Initiated Remote Access (CIRA): AMT
// opens a TLS tunnel to a Management Presence Server (MPS), through which a
// console reaches it from outside the firewall. The reconcile area "cira"
// applies it after activation and keeps it in line, in the order RPS's
// ciraConfiguration.ts and MeshCentral's amtmanager.js use: the MPS's root
// trusted, the MPS added, the policies that open the tunnel, the home domains,
// the user-initiated connection service (docs/remote-access.md).
//
// The zero values of the optional fields are RPS's choices: a periodic policy
// every 25 seconds with a tunnel that stays open, a user-initiated policy of
// 300 seconds, the user-initiated connection enabled from BIOS and OS, a
// random home domain (so that the device is never "inside" and always calls),
// and per-device random MPS passwords. AuthMethod amt.MPSMutualAuth has the
// device present a client certificate instead (what the Intel AMT SDK offers
// besides passwords, and what [Audit] recommends).
type RemoteAccessProfile struct {
	// MPS is the server the devices call. Required.
	MPS MPSServer
	// Backup is a second MPS the policies name after MPS (the SDK's "used as
	// a backup if it is not possible to establish a connection with the
	// first"). The device presents MPS's credentials to both: leave the
	// backup's Username and Password empty.
	Backup *MPSServer
	// Root is the certificate the MPS's chain leads to (a root; an
	// intermediate from AMT 11.8), installed with AddTrustedRootCertificate:
	// AMT verifies the MPS's certificate against it. Required.
	Root *x509.Certificate
	// Periodic is how often the device calls while no tunnel is up (a
	// periodic policy whose tunnel stays open). Zero: 25 seconds (RPS, and
	// the SDK's example); negative: no periodic policy. Sub-second parts are
	// dropped.
	Periodic time.Duration
	// UserInitiatedLifetime is how long a tunnel the user asks for stays
	// open (a user-initiated policy). Zero: 300 seconds (RPS); negative: no
	// user-initiated policy.
	UserInitiatedLifetime time.Duration
	// AlertLifetime, when positive, adds an alert policy: the device calls
	// on an alert, for that long.
	AlertLifetime time.Duration
	// UserInitiated is where a user may start a connection. Zero: BIOS and
	// OS (amt.UserInitiatedBIOSAndOS, what RPS and MeshCentral set).
	UserInitiated amt.UserInitiatedState
	// HomeDomains are the DNS suffixes that tell the device it is inside the
	// home network, where it does not call an external MPS
	// (AMT_EnvironmentDetectionSettingData). Empty: one random
	// "<hex>.invalid" name per device — never a real DHCP suffix (RFC 6761),
	// so the device always calls; RPS writes a random "<uuid>.com" for the
	// same purpose.
	HomeDomains []string
	// InsideToo makes the device call the MPS from inside the home network
	// as well (MpsType both, which RPS sets). Default: only from outside.
	InsideToo bool
	// KeepOthers leaves MPSs and policies the profile does not name on the
	// device. Default: they are removed (MeshCentral removes them).
	KeepOthers bool
	// AuthMethod is how the device authenticates to its MPSs. Zero or
	// amt.MPSPasswordAuth: a user name and password in the APF
	// USERAUTH_REQUEST (MPSServer.Username and Password; what RPS and
	// MeshCentral configure). amt.MPSMutualAuth: a TLS client certificate
	// for a key AMT generates (it never leaves the device), certified by
	// Config.Issuer (IssueRequest.Purpose [PurposeMPS]), recorded in
	// DeviceRecord.Certificates and renewed by the Maintainer, which adds
	// the MPS entries again with the new one (AddMpServer names the
	// certificate; the firmware has no call to change it in place). The MPS
	// then verifies the device's certificate against the Issuer's CA; leave
	// MPSServer.Username and Password empty. Needs firmware that generates
	// keys (amt.Firmware.GenerateKeyPair).
	AuthMethod amt.MPSAuthMethod
}

func (r *RemoteAccessProfile) mutual() bool { return r.AuthMethod == amt.MPSMutualAuth }

// MPSServer is one Management Presence Server.
type MPSServer struct {
	// Address is the MPS's FQDN or IP address (AddMpServer AccessInfo).
	Address string
	// Port is its CIRA port. Zero: 4433 (RPS and MeshCentral).
	Port uint16
	// CommonName is the name in the MPS's certificate; required when
	// Address is an IP address (AddMpServer CN), since AMT checks the name.
	CommonName string
	// Username is the user name AMT presents in the APF user authentication
	// (1 to 16 letters and digits: [amt.CheckMPSUsername]). Empty: the first
	// 16 hexadecimal digits of the device's UUID, recorded in
	// DeviceRecord.MPSUser.
	Username string
	// Password empty (recommended): a random password per device, of 16
	// characters by AMT's strong-password rule, recorded before it is sent in
	// DeviceRecord.MPSPassword, where the MPS looks it up by the UUID or user
	// name the device presents. A fixed password is given to every device
	// of the profile (an audit finding); cleared later, it is replaced by a
	// random one per device at the next reconcile (area "cira"), which the
	// MPS must then read from the record.
	Password amt.Secret
}

const (
	defaultMPSPort           = 4433
	defaultPeriodic          = 25 * time.Second
	defaultUserInitiatedLife = 300 * time.Second
	homeDomainSuffix         = ".invalid"
)

func (s *MPSServer) port() uint16 {
	if s.Port == 0 {
		return defaultMPSPort
	}
	return s.Port
}

// addr is "address:port".
func (s *MPSServer) addr() string {
	return net.JoinHostPort(s.Address, strconv.Itoa(int(s.port())))
}

func (s *MPSServer) check(field string) error {
	if s.Address == "" || len(s.Address) > 256 {
		return &ConfigError{Field: field + ".Address", Problem: "an FQDN or IP address of 1 to 256 characters is required"}
	}
	if amt.InfoFormatOf(s.Address) != amt.MPSFQDN && s.CommonName == "" {
		return &ConfigError{Field: field + ".CommonName", Problem: "an IP address needs the name in the MPS's certificate (AddMpServer CN)"}
	}
	if s.Username != "" {
		if err := amt.CheckMPSUsername(s.Username); err != nil {
			return &ConfigError{Field: field + ".Username", Problem: err.Error()}
		}
	}
	if !s.Password.IsZero() {
		if err := amt.CheckMPSPassword(s.Password); err != nil {
			return &ConfigError{Field: field + ".Password", Problem: err.Error()}
		}
	}
	return nil
}

// Validate checks the profile against the firmware's documented rules.
func (r *RemoteAccessProfile) Validate() error {
	if r == nil {
		return nil
	}
	if err := r.MPS.check("RemoteAccess.MPS"); err != nil {
		return err
	}
	if r.Backup != nil {
		if err := r.Backup.check("RemoteAccess.Backup"); err != nil {
			return err
		}
		if r.Backup.Username != "" || !r.Backup.Password.IsZero() {
			return &ConfigError{Field: "RemoteAccess.Backup", Problem: "the device presents MPS's credentials to the backup too: set them on MPS"}
		}
		if strings.EqualFold(r.Backup.addr(), r.MPS.addr()) {
			return &ConfigError{Field: "RemoteAccess.Backup", Problem: "the backup MPS is the MPS"}
		}
	}
	switch r.AuthMethod {
	case 0, amt.MPSPasswordAuth:
	case amt.MPSMutualAuth:
		if r.MPS.Username != "" || !r.MPS.Password.IsZero() {
			return &ConfigError{Field: "RemoteAccess.MPS", Problem: "certificate authentication (AuthMethod amt.MPSMutualAuth) sends no user name or password: leave them empty"}
		}
	default:
		return &ConfigError{Field: "RemoteAccess.AuthMethod", Problem: fmt.Sprintf("method %d (expected amt.MPSPasswordAuth or amt.MPSMutualAuth)", r.AuthMethod)}
	}
	if r.Root == nil {
		return &ConfigError{Field: "RemoteAccess.Root", Problem: "the MPS's root certificate is required: AMT verifies the MPS against it"}
	}
	if r.Periodic < 0 && r.UserInitiatedLifetime < 0 && r.AlertLifetime <= 0 {
		return &ConfigError{Field: "RemoteAccess", Problem: "no policy: the device would never call"}
	}
	if r.Periodic > 0 && r.Periodic < time.Second {
		return &ConfigError{Field: "RemoteAccess.Periodic", Problem: "at least one second"}
	}
	if r.UserInitiated != 0 && (r.UserInitiated < amt.UserInitiatedDisabled || r.UserInitiated > amt.UserInitiatedBIOSAndOS) {
		return &ConfigError{Field: "RemoteAccess.UserInitiated", Problem: fmt.Sprintf("state %d (expected 32768 to 32771)", r.UserInitiated)}
	}
	for _, d := range r.HomeDomains {
		if d == "" || len(d) > 190 {
			return &ConfigError{Field: "RemoteAccess.HomeDomains", Problem: "each domain has 1 to 190 characters (Intel AMT SDK, Configuring Environment Detection)"}
		}
	}
	return nil
}

// validateRemote checks RemoteAccess, Features and the TLS modes of p.
func (p *Profile) validateRemote() error {
	prefix := func(err error) error {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.Field = "Profile " + p.Name + " " + ce.Field
		}
		return err
	}
	if err := p.RemoteAccess.Validate(); err != nil {
		return prefix(err)
	}
	if err := p.Features.Validate(); err != nil {
		return prefix(err)
	}
	if err := p.TLS.validateModes(); err != nil {
		return prefix(err)
	}
	return nil
}

// policy is one remote-access policy the profile asks for.
type policy struct {
	trigger  amt.RemoteAccessTrigger
	lifetime uint32
	ext      []byte
}

// policies lists the profile's policies (periodic, user-initiated, alert).
func (r *RemoteAccessProfile) policies() []policy {
	var out []policy
	switch {
	case r.Periodic == 0:
		out = append(out, policy{trigger: amt.TriggerPeriodic, ext: amt.PeriodicInterval(uint32(defaultPeriodic / time.Second))})
	case r.Periodic > 0:
		out = append(out, policy{trigger: amt.TriggerPeriodic, ext: amt.PeriodicInterval(uint32(r.Periodic / time.Second))})
	}
	switch {
	case r.UserInitiatedLifetime == 0:
		out = append(out, policy{trigger: amt.TriggerUserInitiated, lifetime: uint32(defaultUserInitiatedLife / time.Second)})
	case r.UserInitiatedLifetime > 0:
		out = append(out, policy{trigger: amt.TriggerUserInitiated, lifetime: uint32(r.UserInitiatedLifetime / time.Second)})
	}
	if r.AlertLifetime > 0 {
		out = append(out, policy{trigger: amt.TriggerAlert, lifetime: uint32(r.AlertLifetime / time.Second)})
	}
	return out
}

func (r *RemoteAccessProfile) userInitiated() amt.UserInitiatedState {
	if r.UserInitiated == 0 {
		return amt.UserInitiatedBIOSAndOS
	}
	return r.UserInitiated
}

func (r *RemoteAccessProfile) servers() []*MPSServer {
	out := []*MPSServer{&r.MPS}
	if r.Backup != nil {
		out = append(out, r.Backup)
	}
	return out
}

// defaultMPSUser is the user name of a device whose profile names none: the
// first 16 hex digits of its UUID.
func defaultMPSUser(u amt.UUID) string {
	return strings.ReplaceAll(u.String(), "-", "")[:16]
}

// randomHomeDomain is a detection string no DHCP server hands out.
func randomHomeDomain(r io.Reader) (string, error) {
	b := make([]byte, 8)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b) + homeDomainSuffix, nil
}

// generateMPSPassword draws a password AMT takes for an MPS: 16 characters
// (the most it allows) by the strong-password rule.
func generateMPSPassword(r io.Reader) (amt.Secret, error) {
	for range 64 {
		pw, err := amt.GeneratePassword(r)
		if err != nil {
			return amt.Secret{}, err
		}
		if s := pw.Reveal(); len(s) >= 16 {
			if c := amt.NewSecret(s[:16]); amt.CheckMPSPassword(c) == nil {
				return c, nil
			}
		}
	}
	return amt.Secret{}, errors.New("no MPS password could be drawn")
}

// ---- the reconcile area "cira" ----

// ciraState is shared by the changes of one CIRA plan: a later change uses
// what an earlier one created.
type ciraState struct {
	want  *RemoteAccessProfile
	names map[string]string // MPS address:port → the SAP Name on the device
	cert  []byte            // with certificate authentication: the MPS client certificate the entries name
	// mpsFailed: an MPS change of this plan failed, so an entry may still
	// name a client certificate the profile no longer uses.
	mpsFailed bool
	// addedNew are the MPS entries (address:port, lower case) this plan
	// added naming the new client certificate: it becomes current, and the
	// one it replaces is revoked, once every entry of the profile names it.
	addedNew map[string]bool
}

// planCIRA keeps the device's CIRA configuration in line with
// Profile.RemoteAccess (RPS ciraConfiguration.ts; MeshCentral amtmanager.js
// attemptCiraSync, which also removes what is not its own).
func planCIRA(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	want := rc.profile.RemoteAccess
	if want == nil {
		return nil, nil
	}
	dev := rc.dev
	certList, err := dev.Certificates(ctx)
	if err != nil {
		return nil, err
	}
	mps, err := dev.MPServers(ctx)
	if err != nil {
		return nil, err
	}
	rules, err := dev.RemoteAccessPolicyRules(ctx)
	if err != nil {
		return nil, err
	}
	links, err := dev.RemoteAccessPolicyAppliesToMPS(ctx)
	if err != nil {
		return nil, err
	}
	env, err := dev.EnvironmentDetection(ctx)
	if err != nil {
		return nil, err
	}
	uic, err := dev.UserInitiatedConnection(ctx)
	if err != nil {
		return nil, err
	}
	st := &ciraState{want: want, names: map[string]string{}}
	var out []Change

	// 1. The MPS's root.
	if err := rc.claimRoot(ctx, want.Root.Raw, "cira"); err != nil {
		return nil, err
	}
	if certOnDevice(certList, want.Root.Raw, true) == "" && rc.addsRoot(want.Root.Raw) {
		out = append(out, Change{Area: "cira", Action: ChangeAdd, Target: "trusted root", To: certName(want.Root),
			apply: func(ctx context.Context) error { _, err := rc.trustRoot(ctx, want.Root, "cira"); return err }})
	}

	// 2. Credentials: the user name and the password last sent, or the
	// client certificate.
	user := want.MPS.Username
	if user == "" {
		user = defaultMPSUser(rc.rec.UUID)
	}
	credsInLine := rc.rec.MPSUser == user && !rc.rec.MPSPassword.IsZero() &&
		(want.MPS.Password.IsZero() && !rc.rec.mpsPasswordFixed() || want.MPS.Password.Equal(rc.rec.MPSPassword)) &&
		len(rc.rec.mpsRemaking(want)) == 0 // an earlier change of them reached every entry
	how := fmt.Sprintf("user %s, password authentication", user)
	if want.mutual() {
		if !rc.fw.GenerateKeyPair {
			return nil, fmt.Errorf("AMT %s cannot generate a key pair (from 6.2) for MPS certificate authentication: use password authentication", rc.fw.Version)
		}
		credsInLine, how = rc.mpsCertInLine(certList), "certificate authentication"
		if _, pending := pendingCertificate(rc.rec.Certificates, certSlot{purpose: PurposeMPS}); pending {
			how += " (the renewed certificate)"
		}
	}

	// 3. The MPSs: present with these credentials, or (re)added.
	byAddr := map[string]amt.MPServer{}
	for _, m := range mps {
		byAddr[strings.ToLower(net.JoinHostPort(m.AccessInfo, strconv.Itoa(int(m.Port))))] = m
	}
	remade := false
	deleted := map[string]bool{} // the SAP names of the MPSs this plan deletes
	var mpsChanges []Change
	for _, s := range want.servers() {
		key := strings.ToLower(s.addr())
		cur, ok := byAddr[key]
		delete(byAddr, key)
		if ok && credsInLine && (s.CommonName == "" || cur.CN == s.CommonName) {
			st.names[key] = cur.Name
			continue
		}
		remade = true
		c := Change{Area: "cira", Action: ChangeAdd, Target: "MPS " + s.addr(), To: how}
		if ok {
			c.Action, c.From = ChangeUpdate, "credentials or name not in line"
			deleted[cur.Name] = true
		}
		c.apply = func(ctx context.Context) error { return rc.addMPS(ctx, st, s, user, cur.Name, ok) }
		mpsChanges = append(mpsChanges, c)
	}
	if !want.KeepOthers {
		for _, m := range byAddr {
			deleted[m.Name] = true
			mpsChanges = append(mpsChanges, Change{Area: "cira", Action: ChangeRemove, Target: "MPS " + net.JoinHostPort(m.AccessInfo, strconv.Itoa(int(m.Port))),
				apply: func(ctx context.Context) error { return dev.DeleteMPServer(ctx, m.Name) }})
		}
	}

	// 4. The policies: each linked to the profile's MPSs in order; a policy
	// that differs, or whose MPS is (re)added, is removed and added again.
	// Removals come before the MPS changes: firmware does not delete an MPS
	// a policy links to ("not permitted": Intel AMT SDK, Remove a Management
	// Presence Server), and rpc-go (clearCIRA) and MeshCentral
	// (attemptCiraSyncResponse) remove policies first. A policy linked to an
	// MPS this plan deletes is therefore removed first, even one KeepOthers
	// would keep, and the profile's are added again after the MPSs.
	have := map[amt.RemoteAccessTrigger]amt.RemoteAccessPolicyRule{}
	for _, r := range rules {
		have[r.Trigger] = r
	}
	linked := func(trigger amt.RemoteAccessTrigger) []string {
		if cur, ok := have[trigger]; ok {
			return linkedMPS(cur.PolicyRuleName, links)
		}
		return nil
	}
	var policyRemovals, policyAdds []Change
	removed := map[string]bool{} // policy rule names removed before the MPS changes
	for _, l := range links {
		name := l.PolicyRuleName()
		if !deleted[l.MPServerName()] || removed[name] {
			continue
		}
		removed[name] = true
		c := Change{Area: "cira", Action: ChangeRemove, Target: name + " policy",
			apply: func(ctx context.Context) error { return dev.DeleteRemoteAccessPolicyRule(ctx, name) }}
		if i := slices.IndexFunc(rules, func(r amt.RemoteAccessPolicyRule) bool { return r.PolicyRuleName == name }); i >= 0 {
			r := rules[i]
			c.From = describePolicy(policy{trigger: r.Trigger, lifetime: r.TunnelLifeTime, ext: r.ExtendedData})
		}
		policyRemovals = append(policyRemovals, c)
	}
	wantTriggers := map[amt.RemoteAccessTrigger]bool{}
	for _, pol := range want.policies() {
		wantTriggers[pol.trigger] = true
		cur, ok := have[pol.trigger]
		ok = ok && !removed[cur.PolicyRuleName]
		inLine := ok && !remade && cur.TunnelLifeTime == pol.lifetime && string(cur.ExtendedData) == string(pol.ext)
		if inLine {
			var names []string
			for _, s := range want.servers() {
				names = append(names, st.names[strings.ToLower(s.addr())])
			}
			inLine = slices.Equal(linked(pol.trigger), names)
		}
		if inLine {
			continue
		}
		c := Change{Area: "cira", Action: ChangeAdd, Target: pol.trigger.String() + " policy", To: describePolicy(pol)}
		if ok {
			c.Action, c.From = ChangeUpdate, describePolicy(policy{trigger: cur.Trigger, lifetime: cur.TunnelLifeTime, ext: cur.ExtendedData})
		}
		pol, replace := pol, ""
		if ok {
			replace = cur.PolicyRuleName
		}
		c.apply = func(ctx context.Context) error { return rc.addPolicy(ctx, st, pol, replace) }
		policyAdds = append(policyAdds, c)
	}
	if !want.KeepOthers {
		for t, r := range have {
			if !wantTriggers[t] && !removed[r.PolicyRuleName] {
				name := r.PolicyRuleName
				policyRemovals = append(policyRemovals, Change{Area: "cira", Action: ChangeRemove, Target: name + " policy",
					apply: func(ctx context.Context) error { return dev.DeleteRemoteAccessPolicyRule(ctx, name) }})
			}
		}
	}
	out = append(out, policyRemovals...)
	for i := range mpsChanges {
		apply := mpsChanges[i].apply
		mpsChanges[i].apply = func(ctx context.Context) error {
			err := apply(ctx)
			st.mpsFailed = st.mpsFailed || err != nil
			return err
		}
	}
	out = append(out, mpsChanges...)
	out = append(out, policyAdds...)

	if !want.mutual() {
		// Password authentication: an MPS client certificate no entry
		// names any more (the profile went back to passwords; the entries
		// were just added again with them) is revoked, then deleted from
		// the device by the Maintainer.
		for _, dc := range rc.rec.Certificates {
			if dc.Purpose != PurposeMPS || dc.Revoked {
				continue
			}
			from := "serial unknown"
			if c, err := dc.Certificate(); err == nil {
				from = fmt.Sprintf("%s, serial %x", certName(c), c.SerialNumber)
			}
			der := dc.DER
			out = append(out, Change{Area: "cira", Action: ChangeRemove, Target: "MPS client certificate", From: from,
				apply: func(ctx context.Context) error {
					if st.mpsFailed {
						// An entry whose replacement failed (its Delete lost,
						// say) may still name it: revoking it now would cut
						// the device off its MPS (found by review).
						return errors.New("skipped: an MPS entry may still name it (an MPS change failed); the next reconcile retires it")
					}
					return rc.retireMPSCert(ctx, der)
				}})
		}
	}

	// 5. Where the MPS is called: outside only, or inside too (MpsType).
	wantType := amt.MPSExternal
	if want.InsideToo {
		wantType = amt.MPSBoth
	}
	var typeOff bool
	var haveTypes []string
	for _, l := range links {
		if l.MpsType != wantType {
			typeOff = true
		}
		if t := l.MpsType.String(); !slices.Contains(haveTypes, t) {
			haveTypes = append(haveTypes, t)
		}
	}
	// A policy added (or replaced) gets new links at the firmware's default,
	// outside only (go-wsman-messages remoteaccess types.go, MpsType): RPS
	// (ciraConfiguration.ts) and rpc-go (configure cira) put every link to
	// Both after their policy adds, and so does this step when the profile
	// wants inside too (setMPSType reads the links again when it runs).
	newLinks := remade || len(policyAdds) > 0
	if typeOff || (newLinks && want.InsideToo) {
		from := strings.Join(haveTypes, ", ")
		if newLinks && !typeOff {
			from = "" // the links are made anew
		}
		out = append(out, Change{Area: "cira", Action: ChangeUpdate, Target: "MPS type", From: from, To: wantType.String(),
			apply: func(ctx context.Context) error { return rc.setMPSType(ctx, wantType) }})
	}

	// 6. Home domains.
	if to, ok := homeDomainsInLine(want, env.DetectionStrings); !ok {
		from := strings.Join(env.DetectionStrings, ", ")
		out = append(out, Change{Area: "cira", Action: ChangeUpdate, Target: "home domains", From: from, To: to,
			apply: func(ctx context.Context) error {
				strs := want.HomeDomains
				if len(strs) == 0 {
					d, err := randomHomeDomain(rc.p.rand)
					if err != nil {
						return err
					}
					strs = []string{d}
				}
				env.DetectionStrings = slices.Clone(strs)
				_, err := dev.PutEnvironmentDetection(ctx, env)
				return err
			}})
	}

	// 7. The user-initiated connection service.
	if w := want.userInitiated(); uic != w {
		out = append(out, Change{Area: "cira", Action: ChangeUpdate, Target: "user-initiated connection", From: uic.String(), To: w.String(),
			apply: func(ctx context.Context) error { return dev.SetUserInitiatedConnection(ctx, w) }})
	}
	return out, nil
}

// homeDomainsInLine compares the device's detection strings with the
// profile's; with none in the profile, one "<hex>.invalid" name is in line.
func homeDomainsInLine(want *RemoteAccessProfile, have []string) (string, bool) {
	if len(want.HomeDomains) == 0 {
		return "a random " + homeDomainSuffix + " name (always outside)",
			len(have) == 1 && strings.HasSuffix(strings.ToLower(have[0]), homeDomainSuffix)
	}
	a := slices.Clone(want.HomeDomains)
	b := slices.Clone(have)
	for i := range a {
		a[i] = strings.ToLower(a[i])
	}
	for i := range b {
		b[i] = strings.ToLower(b[i])
	}
	slices.Sort(a)
	slices.Sort(b)
	return strings.Join(want.HomeDomains, ", "), slices.Equal(a, b)
}

func describePolicy(p policy) string {
	switch p.trigger {
	case amt.TriggerPeriodic:
		if per, err := amt.ParsePeriodic(p.ext); err == nil {
			if p.lifetime == 0 {
				return per.String() + ", tunnel kept open"
			}
			return fmt.Sprintf("%s, tunnel %ds", per, p.lifetime)
		}
		return "periodic"
	}
	return fmt.Sprintf("tunnel %ds", p.lifetime)
}

// addMPS records the credentials (before they are sent) — a user name and
// password, or with certificate authentication none and the certificate
// (mpsCert) — removes the entry it replaces, adds the MPS, and makes a new
// certificate current once an entry names it (the one it replaced is
// revoked).
func (rc *reconcileContext) addMPS(ctx context.Context, st *ciraState, s *MPSServer, user, oldName string, replace bool) error {
	rec := rc.rec
	req := amt.AddMPServerRequest{AccessInfo: s.Address, Port: s.port(), CN: s.CommonName}
	var pw amt.Secret
	var confirm []byte
	fixed := false // pw is the profile's, every device's
	if st.want.mutual() {
		dc, err := rc.mpsCert(ctx, st)
		if err != nil {
			return err
		}
		if dc == nil {
			return errors.New("the MPS client certificate is missing from the record")
		}
		req.AuthMethod, req.Certificate, user = amt.MPSMutualAuth, dc.Handle, ""
		if dc.Pending {
			confirm = dc.DER
		}
	} else {
		pw = st.want.MPS.Password // the backup gets the same credentials
		fixed = !pw.IsZero()
		if pw.IsZero() {
			if rec.MPSUser == user && !rec.MPSPassword.IsZero() && !rec.mpsPasswordFixed() {
				pw = rec.MPSPassword // the random password this device was given: every MPS entry shares it
			} else {
				var err error
				if pw, err = generateMPSPassword(rc.p.rand); err != nil {
					return err
				}
			}
		}
		req.AuthMethod, req.Username, req.Password = amt.MPSPasswordAuth, user, pw
	}
	if rec.MPSUser != user || !rec.MPSPassword.Equal(pw) || rec.mpsPasswordFixed() != fixed {
		// Recorded before they are sent, with the entries still to be
		// made with them: until every one is, the next run remakes them
		// instead of taking the record's credentials for the device's.
		rec.MPSUser, rec.MPSPassword = user, pw
		rec.setMPSPasswordFixed(fixed)
		var addrs []string
		for _, w := range st.want.servers() {
			addrs = append(addrs, strings.ToLower(w.addr()))
		}
		rec.setMPSRemaking(addrs)
		if err := rc.save(ctx); err != nil {
			return err
		}
	}
	if replace {
		if err := rc.dev.DeleteMPServer(ctx, oldName); err != nil {
			return err
		}
	}
	name, err := rc.dev.AddMPServer(ctx, req)
	if err != nil {
		return err
	}
	st.names[strings.ToLower(s.addr())] = name
	if confirm != nil {
		if st.addedNew == nil {
			st.addedNew = map[string]bool{}
		}
		st.addedNew[strings.ToLower(s.addr())] = true
		for _, w := range st.want.servers() {
			if !st.addedNew[strings.ToLower(w.addr())] {
				// Another entry (the backup) still names the old
				// certificate: it stays current and unrevoked until that
				// entry is made too.
				confirm = nil
				break
			}
		}
	}
	if !rec.networkSecret(mpsRemakingKey).IsZero() {
		rec.setMPSRemaking(slices.DeleteFunc(rec.mpsRemaking(st.want), func(a string) bool { return a == strings.ToLower(s.addr()) }))
		if err := rc.save(ctx); err != nil {
			return err
		}
	}
	if confirm != nil {
		return rc.confirm(ctx, confirm)
	}
	return nil
}

// linkedMPS returns the MPSs the rule named rule links to, by the rule's name
// as the device gives it (the class allows "<type> <handle>" from AMT 6:
// go-wsman-messages amt/remoteaccess types.go), in their OrderOfAccess (lower
// first; RPS and rpc-go set 0 on every link, and equal ones keep the
// device's order).
func linkedMPS(rule string, links []*amt.PolicyAppliesToMPS) []string {
	var ls []*amt.PolicyAppliesToMPS
	for _, l := range links {
		if l.PolicyRuleName() == rule {
			ls = append(ls, l)
		}
	}
	slices.SortStableFunc(ls, func(a, b *amt.PolicyAppliesToMPS) int { return cmp.Compare(a.OrderOfAccess, b.OrderOfAccess) })
	names := make([]string, 0, len(ls))
	for _, l := range ls {
		names = append(names, l.MPServerName())
	}
	return names
}

// addPolicy (re)adds a policy linked to the profile's MPSs in order; replace
// names the rule of the same trigger to delete first ("" for none). Every MPS
// is resolved before anything is deleted. An MPS whose change failed (not on
// the device) is left out, so that the device keeps a policy to call the
// others with, and the change fails saying so: the next reconcile links it.
func (rc *reconcileContext) addPolicy(ctx context.Context, st *ciraState, pol policy, replace string) error {
	var names, missing []string
	for _, s := range st.want.servers() {
		n, ok := st.names[strings.ToLower(s.addr())]
		if !ok {
			missing = append(missing, s.addr())
			continue
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return fmt.Errorf("no MPS of the profile is on the device (%s: their changes failed)", strings.Join(missing, ", "))
	}
	if replace != "" {
		if err := rc.dev.DeleteRemoteAccessPolicyRule(ctx, replace); err != nil {
			return err
		}
	}
	_, err := rc.dev.AddRemoteAccessPolicyRule(ctx, amt.RemoteAccessPolicy{Trigger: pol.trigger, TunnelLifeTime: pol.lifetime, ExtendedData: pol.ext}, names...)
	if err == nil && len(missing) > 0 {
		err = fmt.Errorf("added linked to %d of the profile's MPSs: %s is not on the device (its change failed); the next reconcile links it", len(names), strings.Join(missing, ", "))
	}
	return err
}

// setMPSType puts every policy link's MpsType (RPS puts each link in turn).
func (rc *reconcileContext) setMPSType(ctx context.Context, t amt.MPSType) error {
	links, err := rc.dev.RemoteAccessPolicyAppliesToMPS(ctx)
	if err != nil {
		return err
	}
	for _, l := range links {
		if l.MpsType == t {
			continue
		}
		l.MpsType = t
		if err := rc.dev.PutRemoteAccessPolicyAppliesToMPS(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// guideCIRA and guideConsent are the sources the remote-access findings cite.
const (
	guideCIRA    = "Intel AMT SDK, Add a Management Presence Server (mutual authentication or user name and password)"
	guideConsent = "Intel AMT SDK, User Consent; RPS and rpc-go consent policies"
)

// auditRemote reports the weak choices of a profile's remote access and
// features (Audit calls it for every profile).
func auditRemote(p Profile, subj string, add func(code amt.FindingCode, sev amt.Severity, subject, guidance, format string, args ...any)) {
	if ra := p.RemoteAccess; ra != nil && !ra.mutual() {
		if ra.MPS.Password.IsZero() {
			add(AuditCIRAPasswordAuth, amt.SeverityInfo, subj, guideCIRA,
				"devices authenticate to the MPS %s with a user name and a per-device random password, not a client certificate", ra.MPS.addr())
		} else {
			add(AuditCIRAPasswordAuth, amt.SeverityWarning, subj, guideCIRA,
				"devices authenticate to the MPS %s with a user name and password, not a client certificate", ra.MPS.addr())
			add(AuditCIRAFleetPassword, amt.SeverityWarning, subj, guideCIRA,
				"every device gets the same MPS password: one device exposes the credentials of all; leave it empty for a random password per device")
		}
	}
	if f := p.Features; f != nil {
		sev := amt.SeverityWarning
		if f.Unattended {
			sev = amt.SeverityInfo
		}
		switch c := f.UserConsent; {
		case c == ConsentNone && (f.KVM || f.SOL || f.IDER):
			add(AuditConsentOff, sev, subj, guideConsent,
				"KVM or redirection without user consent: a remote operator can see or control a machine in use without its user knowing (set Unattended for machines without a user)")
		case c == ConsentKVM && f.IDER:
			add(AuditConsentOff, sev, subj, guideConsent,
				"storage redirection and boot options without user consent (consent for KVM only)")
		}
	}
}

// ---- MPS certificate authentication ----

// mpsCertInLine reports whether the device authenticates to its MPSs with
// the current PurposeMPS certificate: recorded, on the device, no renewal
// waiting, and no password recorded (one would mean the entries were added
// with password authentication). The firmware does not say which credential
// an MPS entry uses, so the record is the witness.
func (rc *reconcileContext) mpsCertInLine(list []amt.PublicKeyCertificate) bool {
	rec := rc.rec
	if rec.MPSUser != "" || !rec.MPSPassword.IsZero() {
		return false
	}
	if _, pending := pendingCertificate(rec.Certificates, certSlot{purpose: PurposeMPS}); pending {
		return false
	}
	cur, ok := rec.CurrentCertificateFor(PurposeMPS, "")
	return ok && cur.Handle != "" && certOnDevice(list, cur.DER, false) == cur.Handle
}

// mpsCert returns the certificate the MPS entries are to name: the one st
// already chose, a renewal waiting (pending), the current one still on the
// device, or a new one (rc.issue: recorded pending before it is used).
func (rc *reconcileContext) mpsCert(ctx context.Context, st *ciraState) (*DeviceCertificate, error) {
	if st.cert != nil {
		if dc := rc.pending(st.cert); dc != nil {
			return dc, nil
		}
	}
	slot := certSlot{purpose: PurposeMPS}
	if dc, ok := pendingCertificate(rc.rec.Certificates, slot); ok {
		st.cert = dc.DER
		return dc, nil
	}
	if cur, ok := rc.rec.CurrentCertificateFor(PurposeMPS, ""); ok && cur.Handle != "" {
		list, err := rc.dev.Certificates(ctx)
		if err != nil {
			return nil, err
		}
		if certOnDevice(list, cur.DER, false) == cur.Handle {
			st.cert = cur.DER
			return rc.pending(cur.DER), nil
		}
	}
	dc, err := rc.issue(ctx, PurposeMPS, "")
	if err != nil {
		return nil, err
	}
	if dc == nil {
		return nil, errors.New("the new MPS client certificate is missing from the record")
	}
	st.cert = dc.DER
	return dc, nil
}

// retireMPSCert revokes the MPS client certificate no entry names any more
// (the profile went back to passwords); the Maintainer deletes it from the
// device with its key.
func (rc *reconcileContext) retireMPSCert(ctx context.Context, der []byte) error {
	dc := rc.pending(der)
	if dc == nil || dc.Revoked {
		return nil
	}
	if rc.p.cfg.Issuer == nil {
		return errors.New("no Issuer configured to revoke the MPS client certificate")
	}
	if err := rc.p.revoke(ctx, rc.rec.UUID, dc, certs.RevocationCessationOfOperation); err != nil {
		return err // the next reconcile tries again
	}
	dc.Pending = false // a renewal it was for is abandoned; the Maintainer deletes it
	return rc.save(ctx)
}

// mpsFixedKey marks, among the record's network secrets, a recorded MPS
// password that was the profile's (every device's) rather than one drawn for
// this device: a profile that then leaves the password empty asks for a
// random one per device, which the fleet password is not (before, it was
// kept; found by review). A record from before the mark has none: its
// password is taken for a random one.
const mpsFixedKey = "cira: MPS password fixed by the profile"

func (r *DeviceRecord) mpsPasswordFixed() bool { return !r.networkSecret(mpsFixedKey).IsZero() }

func (r *DeviceRecord) setMPSPasswordFixed(fixed bool) {
	v := amt.Secret{}
	if fixed {
		v = amt.NewSecret("fixed")
	}
	r.setNetworkSecret(mpsFixedKey, v)
}

// mpsRemakingKey names, among the record's network secrets, the MPS entries
// still to be made with the credentials the record holds (see addMPS).
const mpsRemakingKey = "cira: MPS entries to remake"

// mpsRemaking returns the addresses of the MPS entries still to be made with
// the recorded credentials that want still names (an address the profile
// dropped or moved meanwhile is not waited for).
func (r *DeviceRecord) mpsRemaking(want *RemoteAccessProfile) []string {
	v := r.networkSecret(mpsRemakingKey)
	if v.IsZero() {
		return nil
	}
	var out []string
	for _, a := range strings.Split(v.Reveal(), "\n") {
		if slices.ContainsFunc(want.servers(), func(s *MPSServer) bool { return strings.ToLower(s.addr()) == a }) {
			out = append(out, a)
		}
	}
	return out
}

func (r *DeviceRecord) setMPSRemaking(addrs []string) {
	r.setNetworkSecret(mpsRemakingKey, amt.NewSecret(strings.Join(addrs, "\n")))
}
