package provisioning

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/wsman"
)

// deviceConn is one WS-Management connection to a device with what its TLS
// handshake learnt about the device. The handshake runs on the transport's
// dial goroutine, so the peer is kept under a lock.
type deviceConn struct {
	dev    *amt.Device
	client *wsman.Client
	tr     *http.Transport

	mu   sync.Mutex
	seen devicePeer
	bad  *untrustedPeer
}

func (c *deviceConn) peer() devicePeer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen
}

func (c *deviceConn) untrusted() *untrustedPeer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bad
}

func (c *deviceConn) close() {
	if c != nil && c.tr != nil {
		c.tr.CloseIdleConnections()
	}
}

// errUntrusted marks a connection refused because the device's certificate
// failed the policy.
var errUntrusted = errors.New("provisioning: device certificate refused")

type untrustedError struct{ err error }

func (e *untrustedError) Error() string { return e.err.Error() }
func (e *untrustedError) Unwrap() error { return e.err }
func (e *untrustedError) Is(t error) bool {
	return t == errUntrusted
}

func isUntrusted(err error) bool { return errors.Is(err, errUntrusted) }

// isRemoteAlert reports whether the device aborted the TLS handshake with an
// alert (it refused our certificate chain).
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// provisioningDial describes the connection of a provisioning session.
type provisioningDial struct {
	addr   string
	bundle *certs.Bundle // PKI: the client certificate chain
	pid    string        // PSK: the pair to use
	legacy bool          // TLS 1.0/1.1 and RSA key exchange (AMT before 12)
	// check applies the session's trust policy to the device's chain.
	check func(chain []*x509.Certificate) (devicePeer, *untrustedPeer)
	// user and password answer a digest challenge until newAdmin; then the
	// admin account set by the session.
	user, password string
	newAdmin       bool
	adminUser      string
	adminPassword  amt.Secret
}

func (p *Provisioner) dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if p.cfg.Dial != nil {
		return p.cfg.Dial
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return d.DialContext
}

// dialProvisioning builds the mutual-TLS (or TLS-PSK) client of a
// provisioning session.
func (p *Provisioner) dialProvisioning(_ context.Context, d provisioningDial) (*deviceConn, error) {
	dial := p.dialer()
	conn := &deviceConn{}
	conn.tr = &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	if d.pid != "" {
		conn.tr.DialTLSContext = func(ctx context.Context, network, a string) (net.Conn, error) {
			return p.dialPSK(ctx, dial, d.pid, network, a)
		}
	} else {
		tc := &tls.Config{
			Rand:                 p.rand,
			Time:                 p.now,
			MinVersion:           tls.VersionTLS12,
			GetClientCertificate: d.bundle.GetClientCertificate(),
			// The device's certificate is self-signed or On-Die-CA issued without
			// a host name; VerifyConnection applies the session's policy.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return &untrustedError{errors.New("device presented no certificate")}
				}
				peer, bad := d.check(cs.PeerCertificates)
				conn.mu.Lock()
				conn.seen, conn.bad = peer, bad
				conn.mu.Unlock()
				if bad != nil {
					return &untrustedError{bad.err}
				}
				return nil
			},
		}
		if d.legacy {
			tc.MinVersion = tls.VersionTLS10
			tc.CipherSuites = legacyCipherSuites()
		}
		conn.tr.DialTLSContext = func(ctx context.Context, network, a string) (net.Conn, error) {
			raw, err := dial(ctx, network, a)
			if err != nil {
				return nil, err
			}
			c := tls.Client(raw, tc)
			if err := c.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return c, nil
		}
	}
	user, password := d.user, d.password
	if d.newAdmin && d.adminUser != "" {
		user, password = d.adminUser, d.adminPassword.Reveal()
	}
	opts := []wsman.Option{
		wsman.WithHTTPClient(&http.Client{Transport: conn.tr, Timeout: p.callTimeout()}),
		wsman.WithDigestAuth(user, password),
		wsman.WithRand(p.rand),
	}
	if p.log != nil {
		opts = append(opts, wsman.WithLogger(p.log))
	}
	c, err := wsman.New("https://"+d.addr+"/wsman", opts...)
	if err != nil {
		return nil, err
	}
	conn.client = c
	conn.dev = amt.NewDevice(c)
	return conn, nil
}

// dialPSK opens TLS-PSK to the device with the pair of its PID.
func (p *Provisioner) dialPSK(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), pidText, network, addr string) (net.Conn, error) {
	pid, err := pskx.ParsePID(pidText)
	if err != nil {
		return nil, err
	}
	pair, err := p.cfg.PSK.Lookup(ctx, pid)
	if err != nil {
		return nil, err
	}
	cfg := p.cfg.PSKDerivation.ClientConfig(pair.PID, pair.PPS)
	cfg.Rand = p.rand
	raw, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := pskx.ClientPSK(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS-PSK handshake: %w", err)
	}
	return c, nil
}

// authorizePSK checks a version 2 hello's PID against the PSK store.
func (s *Session) authorizePSK(ctx context.Context) (pskx.PID, error) {
	store := s.p.cfg.PSK
	if store == nil {
		return pskx.PID{}, Reject(ReasonPSKNotConfigured, "PSK hello from %s but no PSK store is configured", s.hello.Hello.UUID)
	}
	pid, err := pskx.ParsePID(s.hello.Hello.PIDString())
	if err != nil {
		return pskx.PID{}, Reject(ReasonUnknownPID, "hello carries an invalid PID: %v", err)
	}
	pair, err := store.Lookup(ctx, pid)
	if errors.Is(err, pskx.ErrPairNotFound) {
		return pskx.PID{}, Reject(ReasonUnknownPID, "PID %s is not in the PSK store", pid)
	}
	if err != nil {
		return pskx.PID{}, &SessionError{Reason: ReasonStoreFailed, Err: err}
	}
	if pair.Used && pair.UsedBy != s.hello.Hello.UUID {
		return pskx.PID{}, Reject(ReasonPIDUsed, "PID %s was used by device %s", pid, pair.UsedBy)
	}
	return pid, nil
}

// markPSKUsed records that the device used its pair.
func (p *Provisioner) markPSKUsed(ctx context.Context, pidText string, u amt.UUID) error {
	if pidText == "" || p.cfg.PSK == nil {
		return nil
	}
	pid, err := pskx.ParsePID(pidText)
	if err != nil {
		return err
	}
	return p.cfg.PSK.MarkUsed(ctx, pid, u)
}

// deviceAccess is what opening an admin connection to a provisioned device
// takes: where, as whom, and how its TLS certificate is checked.
type deviceAccess struct {
	uuid        amt.UUID
	hello       ReceivedHello // for Config.DeviceAddress
	inv         Inventory
	user        string
	password    amt.Secret
	tlsCert     []byte // the TLS certificate amtkit installed and enabled; nil: none
	pin         []byte // SHA-256 of the device's own certificate seen while provisioning
	firmware    amt.Version
	allowLegacy bool
}

// accessFor returns how to reach a device: with the credentials and
// certificates of prog (a session's progress, while it verifies its commit) or,
// when prog is nil, of the record's verified provisioning.
func (p *Provisioner) accessFor(rec *DeviceRecord, prog *SessionRecord, allowLegacy bool) deviceAccess {
	h := ReceivedHello{Source: rec.Source}
	acc := deviceAccess{uuid: rec.UUID, inv: rec.Inventory, allowLegacy: allowLegacy}
	done, certsIn := rec.Done, rec.Certificates
	acc.user, acc.password, acc.pin, acc.firmware = rec.AdminUser, rec.AdminPassword, rec.DeviceCertPin, rec.Firmware
	if prog != nil {
		done, certsIn = prog.Done, prog.Certificates
		acc.user, acc.password, acc.pin, acc.firmware = prog.AdminUser, prog.AdminPassword, prog.DeviceCertPin, prog.Firmware
	}
	acc.hello = h
	if cur, ok := currentCertificate(certsIn, PurposeTLS); ok && done.Has(DoneTLSEnabled) {
		acc.tlsCert = cur.DER
	}
	return acc
}

// dialAdmin opens a WS-Management connection to a provisioned device, signed
// in as the admin account amtkit set: over TLS with the certificate amtkit
// installed (verified against DeviceRoots and the inventory FQDN, or pinned to
// the one installed); on CSME 16.1 and later without an installed certificate,
// over TLS pinned to the device's own certificate seen while provisioning;
// before 16.1 without one, over the non-TLS port.
func (p *Provisioner) dialAdmin(acc deviceAccess) (*deviceConn, string, error) {
	dial := p.dialer()
	conn := &deviceConn{}
	conn.tr = &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, IdleConnTimeout: 30 * time.Second,
		DisableCompression: true, TLSHandshakeTimeout: p.callTimeout()}
	fw := firmwareFor(acc.firmware)
	var url, how string
	pinned := func(want []byte, what string) *tls.Config {
		return &tls.Config{Rand: p.rand, Time: p.now, MinVersion: tls.VersionTLS12, InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return &untrustedError{errors.New("device presented no certificate")}
				}
				got := sha256.Sum256(cs.PeerCertificates[0].Raw)
				if string(got[:]) != string(want) {
					return &untrustedError{fmt.Errorf("device presented a certificate other than %s", what)}
				}
				return nil
			}}
	}
	switch {
	case acc.tlsCert != nil:
		var tc *tls.Config
		if p.cfg.DeviceRoots != nil {
			tc = &tls.Config{Rand: p.rand, Time: p.now, MinVersion: tls.VersionTLS12, RootCAs: p.cfg.DeviceRoots, ServerName: acc.inv.FQDN}
			how = "over TLS, certificate verified for " + acc.inv.FQDN
		} else {
			sum := sha256.Sum256(acc.tlsCert)
			tc = pinned(sum[:], "the one amtkit installed")
			how = "over TLS, certificate pinned to the one installed"
		}
		if !acc.firmware.IsZero() && !fw.TLS12 {
			if !acc.allowLegacy {
				return nil, "", &SessionError{Reason: ReasonConnectFailed, Err: fmt.Errorf("AMT %s speaks only TLS 1.0/1.1: set Profile.AllowLegacyTLS to manage it", acc.firmware)}
			}
			tc.MinVersion = tls.VersionTLS10
			tc.CipherSuites = legacyCipherSuites()
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
					return &untrustedError{errors.New("device presented no certificate")}
				}
				ctx, cancel := context.WithTimeout(context.Background(), p.callTimeout())
				defer cancel()
				if err := p.cfg.CheckRevocation(ctx, cs.PeerCertificates[0]); err != nil {
					return &untrustedError{err}
				}
				return nil
			}
			how += ", revocation checked"
		}
		conn.tr.TLSClientConfig = tc
		url = "https://" + p.deviceAddr(acc.hello, acc.inv, p.tlsPort()) + "/wsman"
	case !acc.firmware.IsZero() && !fw.RemoteNonTLSPort:
		// CSME 16.1 and later accept no remote non-TLS connection; provisioned
		// without a TLS certificate, AMT serves 16993 with its own certificate
		// (Intel AMT SDK, "Intel AMT and Security Considerations"): the one the
		// provisioning session pinned.
		if len(acc.pin) == 0 {
			return nil, "", &SessionError{Reason: ReasonDeviceUntrusted, Rejected: true, Err: errors.New("no certificate of the device was recorded to verify it by")}
		}
		conn.tr.TLSClientConfig = pinned(acc.pin, "the one it showed while provisioning")
		url = "https://" + p.deviceAddr(acc.hello, acc.inv, p.tlsPort()) + "/wsman"
		how = "over TLS, pinned to the device's own certificate seen while provisioning"
	default:
		url = "http://" + p.deviceAddr(acc.hello, acc.inv, p.httpPort()) + "/wsman"
		how = "over the non-TLS port"
	}
	opts := []wsman.Option{wsman.WithHTTPClient(&http.Client{Transport: conn.tr, Timeout: p.callTimeout()}),
		wsman.WithDigestAuth(acc.user, acc.password.Reveal()), wsman.WithRand(p.rand)}
	if p.log != nil {
		opts = append(opts, wsman.WithLogger(p.log))
	}
	c, err := wsman.New(url, opts...)
	if err != nil {
		return nil, "", err
	}
	conn.client = c
	conn.dev = amt.NewDevice(c)
	return conn, how, nil
}

func legacyCipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
}

// checkChainRevocation applies Config.CheckRevocation to every certificate of
// a chain (a provisioning bundle).
func (p *Provisioner) checkChainRevocation(ctx context.Context, chain []*x509.Certificate) error {
	if p.cfg.CheckRevocation == nil {
		return nil
	}
	for _, c := range chain {
		if err := p.cfg.CheckRevocation(ctx, c); err != nil {
			return fmt.Errorf("%s: %w", certs.Describe(c), err)
		}
	}
	return nil
}

// issueForAMTKey has AMT generate a key, the Issuer certify it, and AMT store
// the certificate. keyAttempts and keyDelay bound GenerateKeyPair retries
// (zero: 20 attempts, 10 s apart).
func (p *Provisioner) issueForAMTKey(ctx context.Context, dev *amt.Device, inv Inventory, fw firmwareFacts, purpose CertificatePurpose, keyAttempts int, keyDelay time.Duration) (DeviceCertificate, error) {
	if p.cfg.Issuer == nil {
		return DeviceCertificate{}, &SessionError{Reason: ReasonIssueFailed, Err: errors.New("no Issuer configured")}
	}
	keyID, err := p.generateKey(ctx, dev, fw, keyAttempts, keyDelay)
	if err != nil {
		return DeviceCertificate{}, err
	}
	kp, err := dev.KeyPair(ctx, keyID)
	if err != nil {
		return DeviceCertificate{}, callFailed(ctx, err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return DeviceCertificate{}, &SessionError{Reason: ReasonDeviceError, Err: err}
	}
	var tmpl *x509.Certificate
	copts := certs.CertOptions{Rand: p.rand, Now: p.now}
	switch purpose {
	case PurposeTLS:
		tmpl, err = certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{CertOptions: copts, FQDN: inv.FQDN})
	case PurposeIEEE8021X:
		tmpl, err = certs.IEEE8021XTemplate(certs.IEEE8021XTemplateOptions{CertOptions: copts, FQDN: inv.FQDN})
	}
	if err != nil {
		return DeviceCertificate{}, &SessionError{Reason: ReasonIssueFailed, Err: err}
	}
	chain, err := p.cfg.Issuer.Issue(ctx, IssueRequest{Device: inv, Purpose: purpose, PublicKey: pub, Template: tmpl})
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
	certID, err := dev.AddCertificate(ctx, leaf)
	if err != nil {
		return DeviceCertificate{}, callFailed(ctx, fmt.Errorf("AddCertificate: %w", err))
	}
	return DeviceCertificate{Purpose: purpose, DER: leaf.Raw, Handle: certID, KeyHandle: keyID, NotAfter: leaf.NotAfter}, nil
}

// generateKey asks AMT for a key pair — RSA-2048, or ECC P-384 on AMT 22, which
// accepts RSA keys but refuses to bind them to TLS (RPS amtCertificatePolicy) —
// retrying while the firmware is busy (MeshCentral: "Intel AMT is not always in
// a good spot to generate a key pair").
func (p *Provisioner) generateKey(ctx context.Context, dev *amt.Device, fw firmwareFacts, attempts int, delay time.Duration) (string, error) {
	if attempts <= 0 {
		attempts = 20
	}
	if delay <= 0 {
		delay = 10 * time.Second
	}
	alg, bits := amt.KeyAlgorithmRSA, uint32(2048)
	if fw.ECCTLSKey {
		alg, bits = amt.KeyAlgorithmECC384, 384
	}
	var last error
	for i := 0; i < attempts; i++ {
		id, err := dev.GenerateKeyPair(ctx, alg, bits)
		if err == nil {
			return id, nil
		}
		var st amt.Status
		if !errors.As(err, &st) || !keyGenTransient(st) {
			// A transport error, or a status that repeating cannot change
			// (a full key store, an unsupported algorithm …).
			return "", callFailed(ctx, fmt.Errorf("GenerateKeyPair: %w", err))
		}
		last = err
		if i == attempts-1 {
			break
		}
		if err := p.sleep(ctx, delay); err != nil {
			return "", &SessionError{Reason: reasonForCtx(err), Err: err}
		}
	}
	return "", &SessionError{Reason: ReasonDeviceError, Err: fmt.Errorf("GenerateKeyPair failed %d times: %w", attempts, last)}
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

// revokeReplaced asks the Issuer to revoke the record's certificates that
// those a session installed replaced (the same purpose, older), and marks
// them. A revocation that fails is reported and retried by the Maintainer.
func (p *Provisioner) revokeReplaced(ctx context.Context, rec *DeviceRecord, installed []DeviceCertificate) int {
	if p.cfg.Issuer == nil {
		return 0
	}
	n := 0
	for i := range rec.Certificates {
		dc := &rec.Certificates[i]
		if dc.Revoked || dc.Pending || containsCert(installed, dc.DER) {
			continue
		}
		if cur, ok := currentCertificate(rec.Certificates, dc.Purpose); ok && string(cur.DER) == string(dc.DER) {
			continue // still the one in use
		}
		if err := p.revoke(ctx, rec.UUID, dc); err == nil {
			n++
		}
	}
	if n > 0 {
		if err := p.save(ctx, rec); err != nil {
			p.emit(Event{Time: p.now(), Device: rec.UUID, Step: StepRevoke, Reason: ReasonStoreFailed, Err: err,
				Detail: "revocations recorded by the Issuer but not saved; the next Maintainer run repeats them"})
		}
	}
	return n
}

func containsCert(list []DeviceCertificate, der []byte) bool {
	for _, dc := range list {
		if string(dc.DER) == string(der) {
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
