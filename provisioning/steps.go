package provisioning

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/wsman"
)

// ---- identify ----

func (s *Session) identify(ctx context.Context) (string, error) {
	v, err := s.dev.Version(ctx)
	if err != nil {
		return "", err
	}
	s.firmware, s.rec.Firmware = v, v
	if err := checkFirmware(v, s.agent != nil, s.psk()); err != nil {
		return "", err
	}
	if err := checkProfileFirmware(s.profile, v); err != nil {
		return "", err
	}
	sc, err := s.dev.SetupAndConfiguration(ctx)
	if err != nil {
		return "", err
	}
	s.devState = sc.ProvisioningState
	u, err := s.dev.UUID(ctx)
	if err != nil {
		return "", err
	}
	if u != s.hello.Hello.UUID {
		return "", Reject(ReasonUUIDMismatch, "the device reports UUID %s but its hello said %s", u, s.hello.Hello.UUID)
	}
	switch sc.ProvisioningState {
	case amt.InProvisioning:
	case amt.PostProvisioning:
		if !(s.resumed && s.rec.Done.Has(DoneCommitSent)) {
			return "", Reject(ReasonWrongState, "the device is already provisioned")
		}
	default:
		return "", Reject(ReasonWrongState, "the device is in %s-provisioning, expected In", sc.ProvisioningState)
	}
	cert := "device certificate pinned"
	if s.rec.OnDieVerified {
		cert = "On-Die certificate verified"
	}
	if s.psk() {
		cert = "PSK session"
	}
	return fmt.Sprintf("AMT %s, %s-provisioning, UUID confirmed, %s", v, sc.ProvisioningState, cert), nil
}

// checkProfileFirmware refuses a profile the firmware cannot serve: TLS needs
// GenerateKeyPair, which firmware before 6.2 lacks (reference/certs.md §3.5).
func checkProfileFirmware(p Profile, v amt.Version) error {
	if p.TLS != nil && (v.Major < 6 || (v.Major == 6 && v.Minor < 2)) {
		return Reject(ReasonProfile, "AMT %s cannot generate a key pair for TLS (from 6.2): use a profile without TLS", v)
	}
	return nil
}

// checkFirmware refuses firmware below the remote-configuration minimums:
// PKI remote configuration exists from AMT 2.2 (agent-initiated only on
// 2.2.20+ and 2.6) and bare-metal from 3.0, with 3.2.2 the first 3.x release
// Configuration Manager supported; PSK hellos come only from firmware before 11.
func checkFirmware(v amt.Version, agent, psk bool) error {
	tooOld := func(why string) error { return Reject(ReasonFirmwareTooOld, "AMT %s: %s", v, why) }
	if psk {
		if v.Major >= 11 {
			return tooOld("PSK provisioning was removed in AMT 11")
		}
		return nil
	}
	switch {
	case v.Major < 2 || (v.Major == 2 && v.Minor < 2):
		return tooOld("remote configuration needs AMT 2.2 or later")
	case v.Major == 2:
		if v.Minor != 2 && v.Minor != 6 {
			return tooOld("remote configuration on AMT 2.x exists only in 2.2 and 2.6")
		}
		if v.Minor == 2 && v.Build < 20 {
			return tooOld("AMT 2.2 needs 2.2.20 or later")
		}
		if !agent {
			return tooOld("AMT 2.x supports only agent-initiated remote configuration (bare metal from 3.0)")
		}
	case v.Major == 3 && (v.Minor < 2 || (v.Minor == 2 && v.Build < 2)):
		return tooOld("AMT 3.x needs 3.2.2 or later")
	}
	return nil
}

// ---- OTP ----

func (s *Session) checkOTP(ctx context.Context) (string, error) {
	if s.agent == nil && !s.profile.RequireOTP {
		return "OTP not required", nil
	}
	if s.devState == amt.PostProvisioning {
		return "OTP verified before the restart", nil
	}
	if s.agent == nil {
		return "", Reject(ReasonOTPMissing, "an OTP is required but no agent request is registered")
	}
	sc, err := s.dev.SetupAndConfiguration(ctx)
	if err != nil {
		return "", err
	}
	have := sc.OTP
	if have.IsZero() || isZeroOTP([]byte(have.Reveal())) {
		s.closeWindow(ctx)
		return "", Reject(ReasonOTPMissing, "the device holds no OTP")
	}
	if !have.Equal(s.agent.OTP) {
		s.rec.Agent = nil // spent: a new attempt needs a new OTP
		werr := s.closeWindow(ctx)
		detail := "provisioning window closed"
		if werr != nil {
			detail = "closing the provisioning window failed: " + werr.Error()
		}
		return detail, Reject(ReasonOTPMismatch, "the device's OTP differs from the agent's")
	}
	hours := uint32((s.profile.window() + time.Hour - 1) / time.Hour)
	if err := s.dev.ExtendProvisioningPeriod(ctx, hours); err != nil {
		return "", err
	}
	s.rec.Done |= DoneOTPExtended
	return fmt.Sprintf("OTP verified; provisioning window extended by %dh", hours), nil
}

// closeWindow ends the device's provisioning period (ExtendProvisioningPeriod 0).
func (s *Session) closeWindow(ctx context.Context) error {
	return s.dev.ExtendProvisioningPeriod(ctx, 0)
}

// ---- configure ----

func (s *Session) configure(ctx context.Context) (string, error) {
	rec, prof := s.rec, s.profile
	// Secrets are generated and recorded before they are sent, so a session that
	// dies after the device took them still knows them.
	prevMEBx := s.prevMEBx
	var err error
	if rec.MEBxPassword.IsZero() || (!s.resumed && !rec.Done.Has(DoneMEBxPassword)) {
		if rec.MEBxPassword, err = s.secret(prof.MEBxPassword); err != nil {
			return "", err
		}
	}
	if rec.AdminPassword.IsZero() {
		if rec.AdminPassword, err = s.secret(prof.AdminPassword); err != nil {
			return "", err
		}
	}
	rec.AdminUser = prof.adminUser()
	if err := s.save(ctx); err != nil {
		return "", &SessionError{Reason: ReasonStoreFailed, Err: err}
	}
	var did []string
	mark := func(d Done, what string) error {
		rec.Done |= d
		did = append(did, what)
		if err := s.save(ctx); err != nil {
			return &SessionError{Reason: ReasonStoreFailed, Err: err}
		}
		return nil
	}

	if !rec.Done.Has(DoneMEBxPassword) {
		what := "MEBx password"
		err := s.dev.SetMEBxPassword(ctx, rec.MEBxPassword)
		switch {
		case err == nil:
		case errors.Is(err, amt.StatusNotPermitted) && s.resumed:
			// An earlier attempt of this session set it (the default policy
			// allows one change from the factory default): the recorded
			// password is the one.
			what = "MEBx password (set by the earlier attempt)"
		case errors.Is(err, amt.StatusNotPermitted):
			// The MEBx password is no longer the factory default (set in MEBx,
			// by setup.bin or an earlier provisioning) and the policy allows no
			// change. CommitChanges only needs it changed from the default.
			rec.MEBxPassword = prevMEBx
			what = "MEBx password already changed from the default; left as it is"
		default:
			return strings.Join(did, ", "), fmt.Errorf("SetMEBxPassword: %w", err)
		}
		if err := mark(DoneMEBxPassword, what); err != nil {
			return "", err
		}
	}
	if !rec.Done.Has(DoneAdminACL) {
		if err := s.dev.SetAdminACLEntryEx(ctx, rec.AdminUser, rec.AdminPassword, s.realm); err != nil {
			return strings.Join(did, ", "), fmt.Errorf("SetAdminAclEntryEx: %w", err)
		}
		// Any later challenge in this session is for the new account.
		s.client.SetCredentials(rec.AdminUser, rec.AdminPassword.Reveal())
		if err := mark(DoneAdminACL, "admin account"); err != nil {
			return "", err
		}
	}
	if !prof.SkipHostName && !rec.Done.Has(DoneHostName) {
		host, domain := s.inv.HostDomain()
		if host != "" {
			// The settings read at connect are echoed back with the new names
			// (one exchange instead of SetHostName's Get and Put).
			var err error
			if gs := s.general; gs != nil {
				gs.HostName, gs.DomainName = host, domain
				_, err = s.dev.PutGeneralSettings(ctx, gs)
			} else {
				_, err = s.dev.SetHostName(ctx, host, domain)
			}
			if err != nil {
				return strings.Join(did, ", "), fmt.Errorf("host name: %w", err)
			}
			if err := mark(DoneHostName, "host name "+s.inv.FQDN); err != nil {
				return "", err
			}
		}
	}
	if !prof.SkipClockSync {
		if _, err := s.dev.SyncClock(ctx, s.p.now); err != nil {
			return strings.Join(did, ", "), fmt.Errorf("clock: %w", err)
		}
		if err := mark(DoneClock, "clock"); err != nil {
			return "", err
		}
	}
	if prof.TLS != nil {
		if err := s.configureTLS(ctx, mark); err != nil {
			return strings.Join(did, ", "), err
		}
	}
	if len(prof.Users) > 0 && !rec.Done.Has(DoneUsers) {
		if err := s.configureUsers(ctx); err != nil {
			return strings.Join(did, ", "), err
		}
		if err := mark(DoneUsers, fmt.Sprintf("%d user accounts", len(prof.Users))); err != nil {
			return "", err
		}
	}
	if prof.IEEE8021X != nil && !rec.Done.Has(DoneIEEE8021X) {
		if err := s.configure8021X(ctx); err != nil {
			return strings.Join(did, ", "), err
		}
		if err := mark(DoneIEEE8021X, "802.1X certificate"); err != nil {
			return "", err
		}
	}
	return strings.Join(did, ", "), nil
}

func (s *Session) secret(fixed amt.Secret) (amt.Secret, error) {
	if !fixed.IsZero() {
		return fixed, nil
	}
	return amt.GeneratePassword(s.p.rand)
}

// generateKey asks AMT for an RSA-2048 key pair, retrying while the firmware is
// busy (MeshCentral: "Intel AMT is not always in a good spot to generate a key
// pair").
func (s *Session) generateKey(ctx context.Context) (string, error) {
	attempts, delay := 20, 10*time.Second
	if t := s.profile.TLS; t != nil {
		if t.KeyAttempts > 0 {
			attempts = t.KeyAttempts
		}
		if t.KeyRetryDelay > 0 {
			delay = t.KeyRetryDelay
		}
	}
	// AMT 22 accepts RSA keys but refuses to bind them to TLS; it generates
	// ECC P-384 keys instead (RPS amtCertificatePolicy.ts).
	alg, bits := amt.KeyAlgorithmRSA, uint32(2048)
	if s.rec.Firmware.Major >= 22 {
		alg, bits = amt.KeyAlgorithmECC384, 384
	}
	var last error
	for i := 0; i < attempts; i++ {
		id, err := s.dev.GenerateKeyPair(ctx, alg, bits)
		if err == nil {
			return id, nil
		}
		var st amt.Status
		if !errors.As(err, &st) || !keyGenTransient(st) {
			// A transport error, or a status that repeating cannot change
			// (a full key store, an unsupported algorithm …).
			return "", fmt.Errorf("GenerateKeyPair: %w", err)
		}
		last = err
		if i == attempts-1 {
			break
		}
		if err := s.p.sleep(ctx, delay); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("GenerateKeyPair failed %d times: %w", attempts, last)
}

// keyGenTransient reports whether a GenerateKeyPair status may clear by
// itself: the firmware is busy or still generating keys.
func keyGenTransient(st amt.Status) bool {
	switch st {
	case amt.StatusInternalError, amt.StatusPKIGeneratingKeys, amt.StatusOperationInProgress:
		return true
	}
	return false
}

// issueForAMTKey has AMT generate a key, the Issuer certify it, and AMT store the
// certificate. It records the certificate before returning.
func (s *Session) issueForAMTKey(ctx context.Context, purpose CertificatePurpose) (DeviceCertificate, error) {
	keyID, err := s.generateKey(ctx)
	if err != nil {
		return DeviceCertificate{}, err
	}
	kp, err := s.dev.KeyPair(ctx, keyID)
	if err != nil {
		return DeviceCertificate{}, err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return DeviceCertificate{}, err
	}
	var tmpl *x509.Certificate
	copts := certs.CertOptions{Rand: s.p.rand, Now: s.p.now}
	switch purpose {
	case PurposeTLS:
		tmpl, err = certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{CertOptions: copts, FQDN: s.inv.FQDN})
	case PurposeIEEE8021X:
		tmpl, err = certs.IEEE8021XTemplate(certs.IEEE8021XTemplateOptions{CertOptions: copts, FQDN: s.inv.FQDN})
	}
	if err != nil {
		return DeviceCertificate{}, &SessionError{Reason: ReasonIssueFailed, Err: err}
	}
	chain, err := s.p.cfg.Issuer.Issue(ctx, IssueRequest{Device: s.inv, Purpose: purpose, PublicKey: pub, Template: tmpl})
	if err != nil {
		return DeviceCertificate{}, &SessionError{Reason: ReasonIssueFailed, Err: err}
	}
	if len(chain) == 0 || chain[0] == nil {
		return DeviceCertificate{}, &SessionError{Reason: ReasonIssueFailed, Err: errors.New("the Issuer returned no certificate")}
	}
	leaf := chain[0]
	if k, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(pub) {
		return DeviceCertificate{}, &SessionError{Reason: ReasonIssueFailed, Err: errors.New("the Issuer's certificate is not for AMT's key")}
	}
	certID, err := s.dev.AddCertificate(ctx, leaf)
	if err != nil {
		return DeviceCertificate{}, fmt.Errorf("AddCertificate: %w", err)
	}
	dc := DeviceCertificate{Purpose: purpose, DER: leaf.Raw, Handle: certID, KeyHandle: keyID, NotAfter: leaf.NotAfter}
	s.rec.Certificates = append(s.rec.Certificates, dc)
	return dc, nil
}

func (s *Session) configureTLS(ctx context.Context, mark func(Done, string) error) error {
	rec, prof := s.rec, s.profile
	if !rec.Done.Has(DoneTLSCertificate) {
		dc, err := s.issueForAMTKey(ctx, PurposeTLS)
		if err != nil {
			return err
		}
		s.installed = append(s.installed, dc.DER)
		if err := mark(DoneKeyPair|DoneTLSCertificate, "TLS certificate"); err != nil {
			return err
		}
	}
	cur, ok := rec.CurrentCertificate(PurposeTLS)
	if !ok {
		return &SessionError{Reason: ReasonInternal, Err: errors.New("no TLS certificate recorded")}
	}
	if !rec.Done.Has(DoneTLSBound) {
		if _, err := s.dev.BindTLSCertificate(ctx, cur.Handle); err != nil {
			return fmt.Errorf("binding the TLS certificate: %w", err)
		}
		if err := mark(DoneTLSBound, "TLS bound"); err != nil {
			return err
		}
	}
	if !rec.Done.Has(DoneTLSEnabled) {
		settings, err := s.dev.TLSSettings(ctx)
		if err != nil {
			return err
		}
		// The remote (network) interface only: during remote configuration the
		// firmware accepts a commit that also enables TLS on the local (LMS)
		// interface but ignores it, leaving the device In-provisioning
		// (MeshCentral's bare-metal server, reference/hello-rcfg.md §2.4).
		// Local TLS is configured after provisioning, as RPS does.
		enabled := false
		for _, st := range settings {
			if !st.Remote() {
				continue
			}
			st.Enabled = true
			st.MutualAuthentication = false
			st.AcceptNonSecureConnections = prof.TLS.AllowNonTLS
			if _, err := s.dev.PutTLSSettings(ctx, st); err != nil {
				return fmt.Errorf("enabling TLS (%s): %w", st.InstanceID, err)
			}
			enabled = true
		}
		if !enabled {
			return fmt.Errorf("enabling TLS: the device lists no TLS settings for its network interface")
		}
		if err := mark(DoneTLSEnabled, "TLS enabled"); err != nil {
			return err
		}
	}
	return nil
}

func (s *Session) configureUsers(ctx context.Context) error {
	existing, err := s.dev.UserACLEntries(ctx)
	if err != nil {
		return err
	}
	byName := make(map[string]uint32, len(existing))
	for _, e := range existing {
		byName[e.Username] = e.Handle
	}
	for _, u := range s.profile.Users {
		req := amt.UserACLEntryRequest{Username: u.Name, Password: u.Password, DigestRealm: s.realm, Access: u.Access, Realms: u.Realms}
		if h, ok := byName[u.Name]; ok {
			if err := s.dev.UpdateUserACLEntryEx(ctx, h, req); err != nil {
				return fmt.Errorf("user %s: %w", u.Name, err)
			}
			continue
		}
		if _, err := s.dev.AddUserACLEntryEx(ctx, req); err != nil {
			return fmt.Errorf("user %s: %w", u.Name, err)
		}
	}
	return nil
}

func (s *Session) configure8021X(ctx context.Context) error {
	x := s.profile.IEEE8021X
	dc, err := s.issueForAMTKey(ctx, PurposeIEEE8021X)
	if err != nil {
		return err
	}
	s.installed = append(s.installed, dc.DER)
	st, err := s.dev.IEEE8021xSettings(ctx)
	if err != nil {
		return err
	}
	st.Enabled = amt.IEEE8021xEnabledWithCertificates
	st.AuthenticationProtocol = amt.EAPTLS
	st.AvailableInS0 = true
	st.Username = x.Username
	if st.Username == "" {
		st.Username = s.inv.FQDN
	}
	st.PxeTimeout = 120
	if x.PxeTimeout > 0 {
		st.PxeTimeout = uint32(x.PxeTimeout / time.Second)
	}
	if _, err := s.dev.PutIEEE8021xSettings(ctx, st); err != nil {
		return fmt.Errorf("802.1X settings: %w", err)
	}
	if err := s.dev.SetIEEE8021xCertificates(ctx, "", dc.Handle); err != nil {
		return fmt.Errorf("802.1X SetCertificates: %w", err)
	}
	return nil
}

// ---- commit ----

func (s *Session) commit(ctx context.Context) (string, error) {
	s.rec.Done |= DoneCommitSent
	if err := s.save(ctx); err != nil {
		return "", &SessionError{Reason: ReasonStoreFailed, Err: err}
	}
	err := s.dev.CommitChanges(ctx)
	if err == nil {
		s.rec.Done |= DoneCommitted
		return "CommitChanges succeeded", nil
	}
	var te *wsman.TransportError
	if errors.As(err, &te) && te.Phase != wsman.PhaseConnect {
		// AMT 19+ restarts its network stack on commit and the reply is lost;
		// verify decides whether the commit landed.
		s.commitErr = err
		return "CommitChanges sent; connection dropped (firmware restarting its network stack)", nil
	}
	return "", err
}

// ---- verify ----

func (s *Session) verify(ctx context.Context) (string, error) {
	s.close()
	attempts, delay := s.p.cfg.CommitVerifyAttempts, s.p.cfg.CommitVerifyDelay
	if attempts <= 0 {
		attempts = 12
	}
	if delay <= 0 {
		delay = 5 * time.Second
	}
	var how string
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if werr := s.p.sleep(ctx, delay); werr != nil {
				err = errors.Join(err, werr)
				break
			}
		}
		how, err = s.readBack(ctx)
		if err == nil || errors.Is(err, wsman.ErrUnauthorized) || errors.Is(err, errNotProvisioned) {
			break
		}
	}
	if err != nil {
		// The state could not be read at all (the device still restarting, or
		// gone): whether the commit took effect is unknown, whether its reply
		// was lost or not. A state read back wrong, or refused credentials, is
		// a verify failure.
		if !errors.Is(err, errNotProvisioned) && !errors.Is(err, wsman.ErrUnauthorized) {
			return "", &CommitUnconfirmedError{CommitErr: s.commitErr, VerifyErr: err}
		}
		return "", &SessionError{Reason: ReasonVerifyFailed, Err: err}
	}
	s.rec.Done |= DoneCommitted
	s.rec.ControlMode = amt.ControlModeACM
	if err := s.markPSKUsed(ctx); err != nil {
		return "", &SessionError{Reason: ReasonStoreFailed, Err: err}
	}
	s.rec.Agent = nil
	revoked := s.revokeSuperseded(ctx)
	if revoked > 0 {
		how += fmt.Sprintf("; %d superseded certificate(s) revoked", revoked)
	}
	return how, nil
}

var errNotProvisioned = errors.New("device is not in post-provisioning admin control mode")

// readBack connects as the new admin and reads the post-provisioning state.
func (s *Session) readBack(ctx context.Context) (string, error) {
	c, tr, how, err := s.p.adminClient(s.hello, s.rec, s.profile.AllowLegacyTLS)
	if err != nil {
		return "", err
	}
	defer tr.CloseIdleConnections()
	dev := amt.NewDevice(c)
	sc, err := dev.SetupAndConfiguration(ctx)
	if err != nil {
		return "", err
	}
	if v := s.rec.Firmware; !v.IsZero() && (v.Major < 6 || (v.Major == 6 && v.Minor < 1)) {
		// IPS_HostBasedSetupService, which reports the control mode, arrived
		// in AMT 6.1 (reference/amt-classes.md §2.4); remote configuration
		// before it always ends in admin control.
		if sc.ProvisioningState != amt.PostProvisioning {
			return "", fmt.Errorf("%w: state %s", errNotProvisioned, sc.ProvisioningState)
		}
		return "Post-provisioning, read back " + how, nil
	}
	hb, err := dev.HostBasedSetup(ctx)
	if err != nil {
		return "", err
	}
	if sc.ProvisioningState != amt.PostProvisioning || hb.CurrentControlMode != amt.ControlModeACM {
		return "", fmt.Errorf("%w: state %s, control mode %s", errNotProvisioned, sc.ProvisioningState, hb.CurrentControlMode)
	}
	return fmt.Sprintf("Post-provisioning, %s, read back %s", hb.CurrentControlMode, how), nil
}

// adminClient returns a WS-Management client for a provisioned device, signed in
// as the admin account amtkit set: over TLS with the certificate amtkit had
// issued (verified against DeviceRoots and the inventory FQDN, or pinned), or
// over the non-TLS port when the profile configured no TLS.
func (p *Provisioner) adminClient(h ReceivedHello, rec *DeviceRecord, allowLegacy bool) (*wsman.Client, *http.Transport, string, error) {
	dial := p.cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
	}
	tr := &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, IdleConnTimeout: 30 * time.Second, DisableCompression: true, TLSHandshakeTimeout: p.callTimeout()}
	var url, how string
	if cur, ok := rec.CurrentCertificate(PurposeTLS); ok && rec.Done.Has(DoneTLSEnabled) {
		tc := &tls.Config{Rand: p.rand, Time: p.now, MinVersion: tls.VersionTLS12}
		if !rec.Firmware.IsZero() && rec.Firmware.Major < 12 {
			// TLS 1.2 arrived in AMT 12.
			if !allowLegacy {
				return nil, nil, "", &SessionError{Reason: ReasonConnectFailed, Err: fmt.Errorf("AMT %s speaks only TLS 1.0/1.1: set Profile.AllowLegacyTLS to manage it", rec.Firmware)}
			}
			tc.MinVersion = tls.VersionTLS10
			tc.CipherSuites = legacyCipherSuites()
		}
		if p.cfg.DeviceRoots != nil {
			tc.RootCAs = p.cfg.DeviceRoots
			tc.ServerName = rec.Inventory.FQDN
			how = "over TLS, certificate verified for " + rec.Inventory.FQDN
		} else {
			want := sha256.Sum256(cur.DER)
			tc.InsecureSkipVerify = true
			tc.VerifyConnection = func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("device presented no certificate")
				}
				got := sha256.Sum256(cs.PeerCertificates[0].Raw)
				if !bytes.Equal(got[:], want[:]) {
					return errors.New("device presented a certificate other than the one amtkit installed")
				}
				return nil
			}
			how = "over TLS, certificate pinned to the one installed"
		}
		if p.cfg.CheckRevocation != nil {
			// Fail closed: a certificate whose status cannot be read is refused.
			prev := tc.VerifyConnection
			tc.VerifyConnection = func(cs tls.ConnectionState) error {
				if prev != nil {
					if err := prev(cs); err != nil {
						return err
					}
				}
				if len(cs.PeerCertificates) == 0 {
					return errors.New("device presented no certificate")
				}
				ctx, cancel := context.WithTimeout(context.Background(), p.callTimeout())
				defer cancel()
				return p.cfg.CheckRevocation(ctx, cs.PeerCertificates[0])
			}
			how += ", revocation checked"
		}
		tr.TLSClientConfig = tc
		url = "https://" + p.deviceAddr(h, rec.Inventory, p.tlsPort()) + "/wsman"
	} else if v := rec.Firmware; v.Major > 16 || (v.Major == 16 && v.Minor >= 1) {
		// CSME 16.1 and later accept no remote non-TLS connection; provisioned
		// without a TLS certificate, AMT serves 16993 with its own self-signed
		// one (Intel SDK, "Intel AMT and Security Considerations"). amtkit
		// installed nothing it could verify that certificate against: the
		// connection is encrypted but the device is not authenticated (Audit
		// reports profiles without TLS).
		tr.TLSClientConfig = &tls.Config{Rand: p.rand, Time: p.now, MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
		url = "https://" + p.deviceAddr(h, rec.Inventory, p.tlsPort()) + "/wsman"
		how = "over TLS with AMT's own certificate (not verified: the profile installs none)"
	} else {
		url = "http://" + p.deviceAddr(h, rec.Inventory, p.httpPort()) + "/wsman"
		how = "over the non-TLS port"
	}
	opts := []wsman.Option{wsman.WithHTTPClient(&http.Client{Transport: tr, Timeout: p.callTimeout()}), wsman.WithDigestAuth(rec.AdminUser, rec.AdminPassword.Reveal()), wsman.WithRand(p.rand)}
	if p.log != nil {
		opts = append(opts, wsman.WithLogger(p.log))
	}
	c, err := wsman.New(url, opts...)
	if err != nil {
		return nil, nil, "", err
	}
	return c, tr, how, nil
}

// revokeSuperseded asks the Issuer to revoke certificates of earlier
// provisionings that this session replaced.
func (s *Session) revokeSuperseded(ctx context.Context) int {
	if s.p.cfg.Issuer == nil {
		return 0
	}
	n := 0
	for i := range s.rec.Certificates {
		dc := &s.rec.Certificates[i]
		if dc.Revoked || s.isInstalled(dc.DER) {
			continue
		}
		if cur, ok := s.rec.CurrentCertificate(dc.Purpose); ok && bytes.Equal(cur.DER, dc.DER) && !s.replaced(dc.Purpose) {
			continue
		}
		if err := s.p.revoke(ctx, s.rec.UUID, dc); err == nil {
			n++
		}
	}
	_ = s.save(ctx)
	return n
}

func (s *Session) isInstalled(der []byte) bool {
	for _, d := range s.installed {
		if bytes.Equal(d, der) {
			return true
		}
	}
	return false
}

// replaced reports whether this session installed a new certificate for p.
func (s *Session) replaced(p CertificatePurpose) bool {
	for _, dc := range s.rec.Certificates {
		if dc.Purpose == p && s.isInstalled(dc.DER) {
			return true
		}
	}
	return false
}

// revoke asks the Issuer to revoke dc (reason Superseded) and marks it.
func (p *Provisioner) revoke(ctx context.Context, u amt.UUID, dc *DeviceCertificate) error {
	c, err := x509.ParseCertificate(dc.DER)
	if err != nil {
		return err
	}
	start := p.now()
	err = p.cfg.Issuer.Revoke(ctx, RevokeRequest{Device: u, Certificate: c, Reason: certs.RevocationSuperseded})
	e := Event{Time: p.now(), Device: u, Step: StepRevoke, Duration: p.now().Sub(start),
		Detail: fmt.Sprintf("%s certificate serial %x revoked (superseded)", dc.Purpose, c.SerialNumber)}
	if err != nil {
		e.Err, e.Reason, e.Detail = err, ReasonIssueFailed, fmt.Sprintf("revoking %s certificate serial %x failed", dc.Purpose, c.SerialNumber)
	} else {
		dc.Revoked = true
	}
	p.emit(e)
	return err
}
