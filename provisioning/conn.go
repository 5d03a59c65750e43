package provisioning

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/tlspsk"
	"github.com/amtkit/amtkit/wsman"
)

// deviceConn is one WS-Management connection to a device with what the check
// of its certificate found. The check runs where the client sets up its
// connection (the transport's dial goroutine), so the result is kept under a
// lock.
type deviceConn struct {
	dev    *amt.Device
	client *wsman.Client

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
	if c != nil && c.client != nil {
		c.client.CloseIdleConnections()
	}
}

// isUntrusted reports whether a call failed because the device's certificate
// failed the connection's TLS policy.
func isUntrusted(err error) bool {
	var pe *wsman.TLSPolicyError
	return errors.As(err, &pe)
}

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
	legacy bool          // TLS 1.0/1.1 (AMT before 12)
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

// clientOptions are the options every client of the Provisioner shares (on top
// of AMT's, from amt.NewClient): credentials, clock, randomness, call bound,
// logger.
func (p *Provisioner) clientOptions(user string, password amt.Secret) []wsman.Option {
	opts := []wsman.Option{
		wsman.WithDigestAuth(user, password.Reveal()),
		wsman.WithRand(p.rand),
		wsman.WithClock(p.now),
		wsman.WithCallTimeout(p.callTimeout()),
		// One connection per device, the calls of a session one after the
		// other on it: no reader and writer goroutines per connection, so a
		// session waiting on slow firmware holds little more than its own
		// goroutine (docs/PERFORMANCE.md).
		wsman.WithSerialTransport(),
	}
	if p.log != nil {
		opts = append(opts, wsman.WithLogger(p.log))
	}
	return opts
}

// dialProvisioning builds the client of a provisioning session: mutual TLS with
// the bundle's chain (GetClientCertificate, so it goes out whatever CA list
// AMT sends) under a policy that applies the session's checks of the device,
// or TLS-PSK with the hello's pair. Nothing is sent until the first call.
func (p *Provisioner) dialProvisioning(_ context.Context, d provisioningDial) (*deviceConn, error) {
	conn := &deviceConn{}
	user, password := d.user, amt.NewSecret(d.password)
	if d.newAdmin && d.adminUser != "" {
		user, password = d.adminUser, d.adminPassword
	}
	opts := p.clientOptions(user, password)
	if d.pid != "" {
		dial := p.dialer()
		opts = append(opts, wsman.WithSecureDialer("tls-psk", func(ctx context.Context, network, a string) (net.Conn, error) {
			return p.dialPSK(ctx, dial, d.pid, network, a)
		}))
	} else {
		opts = append(opts,
			wsman.WithDialer(p.dialer()),
			wsman.WithGetClientCertificate(d.bundle.GetClientCertificate()),
			// The firmware version is not known before this connection: the RSA
			// key-exchange suites AMT 11–12 need are offered after Go's own.
			wsman.WithRSAKeyExchange(),
			wsman.WithTLS(wsman.VerifyFunc(func(_ context.Context, cs tls.ConnectionState) error {
				var peer devicePeer
				bad := &untrustedPeer{reason: ReasonDeviceUntrusted, err: errors.New("device presented no certificate")}
				if len(cs.PeerCertificates) > 0 {
					peer, bad = d.check(cs.PeerCertificates)
				}
				conn.mu.Lock()
				conn.seen, conn.bad = peer, bad
				conn.mu.Unlock()
				if bad != nil {
					return bad.err
				}
				return nil
			})))
		if d.legacy {
			opts = append(opts, wsman.WithLegacyTLS())
		}
	}
	c, err := amt.NewClient("https://"+d.addr+"/wsman", opts...)
	if err != nil {
		return nil, err
	}
	conn.client = c
	conn.dev = amt.NewDevice(c)
	return conn, nil
}

// dialPSK opens TLS-PSK to the device with the pair of its PID. It does not
// reserve the pair: the handshake proves that the peer holds the PPS, not
// which device it is (a relay passes the proof on for a hello of its own, with
// another UUID); the session reserves it for the UUID the device reports over
// this connection, before anything is written (reservePSKPair).
func (p *Provisioner) dialPSK(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), pidText string, network, addr string) (net.Conn, error) {
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
	c := tlspsk.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS-PSK handshake: %w", err)
	}
	return c, nil
}

// reservePSKPair reserves the session's PSK pair for device u (MarkUsed), the
// UUID the device reported over the TLS-PSK connection that proved it holds
// the pair: two sessions that passed authorize with the same unused pair
// cannot both go on (the second is refused, pid-used), and a pair is spent
// only for a device that holds its PPS — not at the hello, whose PID anyone
// who saw the stick or the hello can send, nor for the hello's UUID, which a
// relay chooses.
func (s *Session) reservePSKPair(ctx context.Context, pidText string, u amt.UUID) error {
	err := s.p.markPSKUsed(ctx, pidText, u)
	switch {
	case errors.Is(err, pskx.ErrPairUsed):
		return Reject(ReasonPIDUsed, "reserving PSK pair %s for %s: %v", pidText, u, err)
	case err != nil:
		return &SessionError{Reason: ReasonStoreFailed, Err: fmt.Errorf("reserving PSK pair %s for %s: %w", pidText, u, err)}
	}
	return nil
}

// authorizePSK checks a version 2 hello's PID against the PSK store. It also
// reports whether the pair is reserved for this device (MarkUsed by it: the
// pair it was provisioned with, or one RotatePSK gave it).
func (s *Session) authorizePSK(ctx context.Context) (pskx.PID, bool, error) {
	store := s.p.cfg.PSK
	if store == nil {
		return pskx.PID{}, false, Reject(ReasonPSKNotConfigured, "PSK hello from %s but no PSK store is configured", s.hello.Hello.UUID)
	}
	pid, err := pskx.ParsePID(s.hello.Hello.PIDString())
	if err != nil {
		return pskx.PID{}, false, Reject(ReasonUnknownPID, "hello carries an invalid PID: %v", err)
	}
	pair, err := store.Lookup(ctx, pid)
	if errors.Is(err, pskx.ErrPairNotFound) {
		return pskx.PID{}, false, Reject(ReasonUnknownPID, "PID %s is not in the PSK store", pid)
	}
	if err != nil {
		return pskx.PID{}, false, &SessionError{Reason: ReasonStoreFailed, Err: err}
	}
	if pair.Used && pair.UsedBy != s.hello.Hello.UUID {
		return pskx.PID{}, false, Reject(ReasonPIDUsed, "PID %s was used by device %s", pid, pair.UsedBy)
	}
	return pid, pair.Used, nil
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
	uuid      amt.UUID
	hello     ReceivedHello // for Config.DeviceAddress
	inv       Inventory
	user      string
	password  amt.Secret
	tlsCert   []byte // the TLS certificate amtkit installed and enabled; nil: none
	tlsIssuer []byte // the certificate of its issuing CA, when the Issuer returned it
	// pending and pendingIssuer: a renewed TLS certificate bound (perhaps
	// committed) whose read-back has not yet succeeded. The device may present
	// it already; it is amtkit's as much as tlsCert (AMT generated its key),
	// so the pin takes either until the Maintainer settles the renewal.
	pending, pendingIssuer []byte
	pin                    []byte // SHA-256 of the device's own certificate seen while provisioning
	firmware               amt.Version
	allowLegacy            bool
	// exact: tlsCert must be the very certificate the device presents (a
	// renewal's read-back), not merely one that verifies against DeviceRoots.
	exact bool
}

// accessFor returns how to reach a device: with the credentials and
// certificates of prog (a session's progress, while it verifies its commit) or,
// when prog is nil, of the record's verified provisioning.
func (p *Provisioner) accessFor(rec *DeviceRecord, prog *SessionRecord, allowLegacy bool) *deviceAccess {
	h := ReceivedHello{Source: rec.Source}
	acc := &deviceAccess{uuid: rec.UUID, inv: rec.Inventory, allowLegacy: allowLegacy}
	done, certsIn := rec.Done, rec.Certificates
	acc.user, acc.password, acc.pin, acc.firmware = rec.AdminUser, rec.AdminPassword, rec.DeviceCertPin, rec.Firmware
	if prog != nil {
		done, certsIn = prog.Done, prog.Certificates
		acc.user, acc.password, acc.pin, acc.firmware = prog.AdminUser, prog.AdminPassword, prog.DeviceCertPin, prog.Firmware
	}
	acc.hello = h
	if cur, ok := currentCertificate(certsIn, PurposeTLS); ok && done.Has(DoneTLSEnabled) {
		acc.tlsCert, acc.tlsIssuer = cur.DER, cur.IssuerDER
		if pc, ok := pendingCertificate(certsIn, certSlot{purpose: PurposeTLS}); ok && prog == nil {
			acc.pending, acc.pendingIssuer = pc.DER, pc.IssuerDER
		}
	}
	return acc
}

// pinnedCert is a certificate amtkit installed, by its SHA-256, with its
// issuer (nil when the Issuer did not return it).
type pinnedCert struct {
	sum    [32]byte
	issuer *x509.Certificate
}

func newPinnedCert(der, issuerDER []byte) pinnedCert {
	pc := pinnedCert{sum: sha256.Sum256(der)}
	if issuerDER != nil {
		pc.issuer, _ = x509.ParseCertificate(issuerDER)
	}
	return pc
}

// dialAdmin opens a WS-Management client for a provisioned device, signed
// in as the admin account amtkit set: over TLS with the certificate amtkit
// installed (verified against DeviceRoots for the inventory FQDN, or pinned to
// the one installed, and its revocation checked when Config.CheckRevocation is
// set); on CSME 16.1 and later without an installed certificate, over TLS
// pinned to the device's own certificate seen while provisioning; before 16.1
// without one, over the non-TLS port. Nothing is sent until the first call.
func (p *Provisioner) dialAdmin(acc *deviceAccess) (*deviceConn, string, error) {
	fw := amt.FirmwareFor(acc.firmware)
	opts := append(p.clientOptions(acc.user, acc.password), wsman.WithDialer(p.dialer()))
	// The first request of a new client is answered with a digest challenge
	// and "Connection: close" (real captures: schnoddelbotz/amtc issue 2,
	// device-management-toolkit/rps issue 779), so the authenticated one
	// needs a second connection. A session cache lets it resume the first
	// connection's TLS session where the firmware allows that (no public
	// source shows AMT resuming; one that does not answers with a full
	// handshake, as before).
	tlsOpts := []wsman.Option{wsman.WithTLSSessionCache(tls.NewLRUClientSessionCache(1))}
	if p.cfg.ClientCertificate != nil {
		// Mutual TLS (TLSProfile.MutualAuthentication): Go offers the
		// certificate when the device asks for one, never otherwise.
		tlsOpts = append(tlsOpts, wsman.WithGetClientCertificate(p.cfg.ClientCertificate))
	}
	if fw.Known() && fw.TLS12.All() && !fw.TLS13.Any() {
		// TLS 1.3 arrived in AMT 21 (amt.Firmware.TLS13): offering it to
		// older firmware only costs every connection its key shares (X25519
		// and ML-KEM), which a TLS 1.2 server never uses.
		tlsOpts = append(tlsOpts, wsman.WithTLSVersions(0, tls.VersionTLS12))
	}
	var url, how string
	switch {
	case acc.tlsCert != nil:
		url = "https://" + p.deviceAddr(acc.hello, acc.inv, p.tlsPort()) + "/wsman"
		check := p.cfg.CheckRevocation
		if p.cfg.DeviceRoots != nil && !acc.exact {
			// The certificate amtkit installed (or its renewal awaiting
			// read-back) still passes once expired, checked as of its
			// NotAfter: a device off past its expiry is reached to be renewed.
			lapsed := [][32]byte{sha256.Sum256(acc.tlsCert)}
			if acc.pending != nil {
				lapsed = append(lapsed, sha256.Sum256(acc.pending))
			}
			copts := []wsman.ChainOption{wsman.CurrentTime(p.now), wsman.AcceptExpiredPinned(lapsed...)}
			if check != nil {
				copts = append(copts, wsman.CheckRevocation(check))
			}
			opts = append(opts, wsman.WithTLS(wsman.VerifyChain(p.cfg.DeviceRoots, acc.inv.FQDN, copts...)))
			how = "over TLS, certificate verified for " + acc.inv.FQDN
		} else {
			pins := []pinnedCert{newPinnedCert(acc.tlsCert, acc.tlsIssuer)}
			if acc.pending != nil && !acc.exact {
				pins = append(pins, newPinnedCert(acc.pending, acc.pendingIssuer))
			}
			opts = append(opts, wsman.WithTLS(wsman.VerifyFunc(func(ctx context.Context, cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return fmt.Errorf("%w: the device sent no certificate", wsman.ErrPinMismatch)
				}
				leaf := cs.PeerCertificates[0]
				got := sha256.Sum256(leaf.Raw)
				i := slices.IndexFunc(pins, func(p pinnedCert) bool { return subtle.ConstantTimeCompare(got[:], p.sum[:]) == 1 })
				if i < 0 {
					return fmt.Errorf("%w: the device presented a certificate other than the one amtkit installed", wsman.ErrPinMismatch)
				}
				if check == nil {
					return nil
				}
				// The pin is the trust; the revocation check needs the issuer:
				// the one the Issuer returned, or the one the device sends.
				iss := pins[i].issuer
				if iss == nil && len(cs.PeerCertificates) > 1 && leaf.CheckSignatureFrom(cs.PeerCertificates[1]) == nil {
					iss = cs.PeerCertificates[1]
				}
				if iss == nil {
					return fmt.Errorf("%w: no issuer of the device's certificate is known to check revocation with", wsman.ErrRevocationCheck)
				}
				if err := check(ctx, leaf, iss); err != nil {
					return fmt.Errorf("%w: %w", wsman.ErrRevocationCheck, err)
				}
				return nil
			})))
			how = "over TLS, certificate pinned to the one installed"
			if len(pins) > 1 {
				how += " or its renewal awaiting read-back"
			}
		}
		if check != nil {
			how += ", revocation checked"
		}
		opts = append(opts, tlsOpts...)
		switch {
		case !fw.Known() || fw.TLS12.All():
			if !fw.Known() || fw.NeedsRSAKeyExchange.Any() {
				opts = append(opts, wsman.WithRSAKeyExchange())
			}
		case !acc.allowLegacy:
			return nil, "", &SessionError{Reason: ReasonConnectFailed, Err: fmt.Errorf("AMT %s speaks only TLS 1.0/1.1: set Profile.AllowLegacyTLS to manage it", acc.firmware)}
		default:
			opts = append(opts, wsman.WithLegacyTLS())
		}
	case fw.DefaultTLSCertificate:
		// CSME 16.1 and later accept no remote non-TLS connection (on most
		// platforms); provisioned without a TLS certificate, AMT serves 16993
		// with its own certificate (Intel AMT SDK, "Intel AMT and Security
		// Considerations"): the one the provisioning session pinned.
		if len(acc.pin) != sha256.Size {
			return nil, "", &SessionError{Reason: ReasonDeviceUntrusted, Rejected: true, Err: errors.New("no certificate of the device was recorded to verify it by")}
		}
		url = "https://" + p.deviceAddr(acc.hello, acc.inv, p.tlsPort()) + "/wsman"
		opts = append(opts, wsman.WithTLS(wsman.PinSHA256([32]byte(acc.pin))))
		opts = append(opts, tlsOpts...)
		how = "over TLS, pinned to the device's own certificate seen while provisioning"
	default:
		url = "http://" + p.deviceAddr(acc.hello, acc.inv, p.httpPort()) + "/wsman"
		how = "over the non-TLS port"
	}
	c, err := amt.NewClient(url, opts...)
	if err != nil {
		return nil, "", err
	}
	return &deviceConn{client: c, dev: amt.NewDevice(c)}, how, nil
}

// checkChainRevocation applies Config.CheckRevocation to every link of a
// chain (a provisioning bundle, leaf first, root last): each certificate with
// the one that issued it.
func (p *Provisioner) checkChainRevocation(ctx context.Context, chain []*x509.Certificate) error {
	if p.cfg.CheckRevocation == nil {
		return nil
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := p.cfg.CheckRevocation(ctx, chain[i], chain[i+1]); err != nil {
			return fmt.Errorf("%s: %w", certs.Describe(chain[i]), err)
		}
	}
	return nil
}

// issueForAMTKey has AMT generate a key, the Issuer certify it, and AMT store
// the certificate. keyAttempts and keyDelay bound GenerateKeyPair retries
// (zero: 20 attempts, 10 s apart). record, when set, is given the entry
// (Pending) as soon as the key exists and again once the certificate is
// issued, before AddCertificate, for the caller to save: a caller that dies
// in between then knows what it may have left on the device. A key deleted
// again after a failure is given to record once more with
// RemovedFromDevice set: nothing of the entry is left on the device.
func (p *Provisioner) issueForAMTKey(ctx context.Context, dev *amt.Device, inv *Inventory, fw *amt.Firmware, purpose CertificatePurpose, keyAttempts int, keyDelay time.Duration, record func(*DeviceCertificate) error) (*DeviceCertificate, error) {
	if p.cfg.Issuer == nil {
		return nil, &SessionError{Reason: ReasonIssueFailed, Err: errors.New("no Issuer configured")}
	}
	keyID, err := p.generateKey(ctx, dev, fw, keyAttempts, keyDelay)
	if err != nil {
		return nil, err
	}
	keyID, adopted := strings.CutPrefix(keyID, adoptedKey)
	// A key taken for a lost one may not be ours: the pending entry does not
	// name it, so that nothing deletes it (the entry once done does).
	dc := &DeviceCertificate{Purpose: purpose, Pending: true}
	if !adopted {
		dc.KeyHandle = keyID
	}
	// A key no certificate came to use is deleted again, so that failed
	// attempts (the Issuer down for a while) do not fill AMT's key store —
	// rpc-go removes what a failed configuration left. After a lost
	// AddCertificate reply the device is asked whether it holds the
	// certificate.
	recorded := false
	discard := func(err error) error {
		if !adopted { // a key taken for the lost one may not be ours: it stays
			if dev.DeleteKeyPair(ctx, keyID) == nil && recorded {
				// Nothing of it is left on the device: the entry says so,
				// so that no later run deletes by a handle AMT may have
				// given another key since (best effort: an entry left
				// pending has its key deleted again, which then names
				// nothing or, rarely, another key).
				gone := *dc
				gone.RemovedFromDevice = true
				_ = record(&gone)
			}
		}
		return err
	}
	if record != nil {
		// The key is on the device: recorded before anything else, so that a
		// caller that dies from here on leaves nothing on the device it does
		// not know of. The hook holds the entry even when its save fails
		// (a later save writes it), so a discard reports to it either way.
		recorded = true
		if err := record(dc); err != nil {
			return nil, discard(&SessionError{Reason: ReasonStoreFailed, Err: err})
		}
	}
	kp, err := dev.KeyPair(ctx, keyID)
	if err != nil {
		return nil, discard(callFailed(ctx, err))
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, discard(&SessionError{Reason: ReasonDeviceError, Err: err})
	}
	leaf, issuer, err := p.certify(ctx, inv, fw, purpose, pub)
	if err != nil {
		return nil, discard(err)
	}
	dc.DER, dc.NotAfter = leaf.Raw, leaf.NotAfter
	if issuer != nil {
		dc.IssuerDER = issuer.Raw
	}
	if record != nil {
		// And the certificate, before AddCertificate: a resumed attempt
		// looks it up on the device.
		if err := record(dc); err != nil {
			return nil, discard(&SessionError{Reason: ReasonStoreFailed, Err: err})
		}
	}
	certID, err := dev.AddCertificate(ctx, leaf)
	if err != nil {
		var te *wsman.TransportError
		switch {
		case !errors.As(err, &te):
			err = discard(err) // refused: nothing was added
		default:
			// The reply was lost: the device may have added it. Found,
			// the issuance succeeded; not found, nothing was added and
			// the key goes. Before, both were left on the device and
			// in no record (found by review).
			if list, lerr := dev.Certificates(ctx); lerr == nil {
				if h := certOnDevice(list, leaf.Raw, false); h != "" {
					certID, err = h, nil
				} else {
					err = discard(err)
				}
			}
		}
		if err != nil {
			return nil, callFailed(ctx, fmt.Errorf("AddCertificate: %w", err))
		}
	}
	dc.Handle, dc.KeyHandle, dc.Pending = certID, keyID, false
	return dc, nil
}

// recordIssuance is the record hook of issueForAMTKey for a device's record
// (a renewal, a reconcile): it records the issuance in flight — pending, no
// handle yet — in r for the slot's profile, and saves r. The second call,
// once the certificate is issued, replaces the entry the first made. A key
// taken for a lost one (no handle that is surely ours) is not recorded until
// its certificate is issued.
func (p *Provisioner) recordIssuance(ctx context.Context, r *DeviceRecord, dc *DeviceCertificate, profile string) error {
	if dc.KeyHandle == "" && len(dc.DER) == 0 {
		return nil
	}
	e := *dc
	e.Profile = profile
	i := slices.IndexFunc(r.Certificates, func(c DeviceCertificate) bool {
		if len(dc.DER) > 0 && bytes.Equal(c.DER, dc.DER) {
			return true
		}
		return c.inFlight() && !c.RemovedFromDevice && len(c.DER) == 0 && c.KeyHandle == e.KeyHandle
	})
	switch {
	case e.RemovedFromDevice && len(e.DER) == 0 && i < 0:
		return nil // never recorded
	case e.RemovedFromDevice && len(e.DER) == 0:
		// Its key was deleted again and nothing was issued: no trace left
		// (a merge sees the removal: droppedKeyOnly).
		r.Certificates = slices.Delete(r.Certificates, i, i+1)
	case e.RemovedFromDevice:
		// Issued and never installed: kept, without its key, to be revoked
		// (settleIssued, which then drops it).
		e.KeyHandle = ""
		if i < 0 {
			r.Certificates = append(r.Certificates, e)
		} else {
			r.Certificates[i] = e
		}
	case i < 0:
		r.Certificates = append(r.Certificates, e)
	default:
		r.Certificates[i] = e
	}
	return p.save(ctx, r)
}

// issuanceOnDevice looks for what an issuance recorded in flight (dc) left
// on the device after its caller died before recording the outcome: the
// handle under which the device holds dc's certificate, or "" once the key
// it was for has been deleted (a fault — no such key any more, as when the
// reply to an earlier delete was lost — leaves nothing to do). The key is
// not deleted while another live entry of list names its handle, nor — when
// the certificate was issued — while the handle holds another key than the
// certificate's: AMT reuses handle numbers. (An entry that died before its
// certificate was issued knows only the handle: that is deleted.)
func issuanceOnDevice(ctx context.Context, dev *amt.Device, dc *DeviceCertificate, list []DeviceCertificate) (string, error) {
	if len(dc.DER) > 0 {
		held, err := dev.Certificates(ctx)
		if err != nil {
			return "", err
		}
		if h := certOnDevice(held, dc.DER, false); h != "" {
			return h, nil
		}
	}
	if dc.KeyHandle == "" {
		return "", nil
	}
	for i := range list {
		if c := &list[i]; c != dc && c.KeyHandle == dc.KeyHandle && !c.RemovedFromDevice {
			return "", nil
		}
	}
	if len(dc.DER) > 0 {
		// The certificate names the key: the handle is deleted only while
		// it still holds that key (the key may have been deleted since, by
		// another tool or a lost delete's retry, and its handle given to
		// another key).
		mine, err := keyAt(ctx, dev, dc)
		if err != nil || !mine {
			return "", err
		}
	}
	var te *wsman.TransportError
	if err := dev.DeleteKeyPair(ctx, dc.KeyHandle); errors.As(err, &te) {
		return "", err
	}
	return "", nil
}

// settleIssued settles the issuances r records in flight — a renewal or
// reconcile that died after AMT generated a key, or after the certificate was
// sent, and before it recorded the outcome: a certificate found on the device
// becomes the pending renewal it was for (the caller finishes it); one not
// found has its key deleted, and an issued certificate that never reached
// the device is revoked (cessation of operation) and then dropped, as is an
// entry never certified. It returns how many entries changed; the
// caller saves r.
func (p *Provisioner) settleIssued(ctx context.Context, dev *amt.Device, r *DeviceRecord) (int, error) {
	n := 0
	for i := 0; i < len(r.Certificates); i++ {
		dc := &r.Certificates[i]
		if !dc.inFlight() {
			continue
		}
		if !dc.RemovedFromDevice {
			h, err := issuanceOnDevice(ctx, dev, dc, r.Certificates)
			if err != nil {
				return n, err
			}
			n++
			if h != "" {
				dc.Handle = h
				continue
			}
			dc.RemovedFromDevice, dc.KeyHandle = true, ""
		}
		if len(dc.DER) == 0 {
			r.Certificates = slices.Delete(r.Certificates, i, i+1)
			i--
			n++
			continue
		}
		// Kept pending (not current, not a renewal to finish) until the
		// Issuer has revoked it; the next run tries again. Once revoked it
		// is dropped: it never reached the device, so nothing is left to do
		// with it (the revoke event names its serial). Before, each stayed,
		// and a device that refuses every renewed certificate (a full store,
		// or a hostile one) grew its record by one entry a run (found by
		// review).
		if p.cfg.Issuer != nil && p.revoke(ctx, r.UUID, dc, certs.RevocationCessationOfOperation) == nil {
			r.Certificates = slices.Delete(r.Certificates, i, i+1)
			i--
			n++
		}
	}
	return n, nil
}

// certify has the Issuer certify AMT's key pub for purpose and checks what it
// returned: the leaf, and its issuer when the chain holds one that signed it.
// It is a function of its own so that its templates and request do not widen
// the frame of issueForAMTKey, which is on a session's stack for the seconds
// AMT takes to generate a key (a goroutine's stack is halved only when less
// than a quarter of it is in use).
//
//go:noinline
func (p *Provisioner) certify(ctx context.Context, inv *Inventory, fw *amt.Firmware, purpose CertificatePurpose, pub crypto.PublicKey) (leaf, issuer *x509.Certificate, err error) {
	var tmpl *x509.Certificate
	copts := certs.CertOptions{Rand: p.rand, Now: p.now}
	switch purpose {
	case PurposeTLS:
		tmpl, err = certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{CertOptions: copts, FQDN: inv.FQDN, PublicKey: pub})
	case PurposeIEEE8021X, PurposeMPS:
		// Both are TLS client certificates for the device's name (client
		// authentication EKU); the CA tells them apart by IssueRequest.Purpose.
		tmpl, err = certs.IEEE8021XTemplate(certs.IEEE8021XTemplateOptions{CertOptions: copts, FQDN: inv.FQDN, PublicKey: pub})
	}
	if err != nil {
		return nil, nil, &SessionError{Reason: ReasonIssueFailed, Err: err}
	}
	minHash := fw.TLSCertMinHash() // SHA-384 on AMT 22, which refuses to bind a SHA-256-signed leaf
	chain, err := p.cfg.Issuer.Issue(ctx, IssueRequest{Device: *inv, Purpose: purpose, PublicKey: pub, Template: tmpl, MinSignatureHash: minHash})
	if err != nil {
		return nil, nil, &SessionError{Reason: ReasonIssueFailed, Err: err}
	}
	if len(chain) == 0 || chain[0] == nil {
		return nil, nil, &SessionError{Reason: ReasonIssueFailed, Err: errors.New("the Issuer returned no certificate")}
	}
	leaf = chain[0]
	if k, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(pub) {
		return nil, nil, &SessionError{Reason: ReasonIssueFailed, Err: errors.New("the Issuer's certificate is not for AMT's key")}
	}
	if weakerHash(SignatureHash(leaf.SignatureAlgorithm), minHash) {
		return nil, nil, &SessionError{Reason: ReasonIssueFailed, Err: fmt.Errorf(
			"the Issuer signed the %s certificate with %v; AMT %s needs %v or stronger (IssueRequest.MinSignatureHash) and would refuse to bind it",
			purpose, leaf.SignatureAlgorithm, fw.Version, minHash)}
	}
	if len(chain) > 1 && chain[1] != nil && leaf.CheckSignatureFrom(chain[1]) == nil {
		issuer = chain[1]
	}
	return leaf, issuer, nil
}

// generateKey asks AMT for a key pair — RSA-2048, or ECC P-384 on AMT 22, which
// accepts RSA keys but refuses to bind them to TLS (RPS amtCertificatePolicy) —
// retrying while the firmware is busy (MeshCentral: "Intel AMT is not always in
// a good spot to generate a key pair").
func (p *Provisioner) generateKey(ctx context.Context, dev *amt.Device, fw *amt.Firmware, attempts int, delay time.Duration) (string, error) {
	if attempts <= 0 {
		attempts = 20
	}
	if delay <= 0 {
		delay = 10 * time.Second
	}
	alg, bits := fw.TLSKeyAlgorithm, fw.TLSKeyLength
	if !fw.Known() {
		alg, bits = amt.KeyAlgorithmRSA, 2048
	}
	var last error
	for i := 0; i < attempts; i++ {
		id, err := dev.GenerateKeyPair(ctx, alg, bits)
		if err == nil {
			return id, nil
		}
		var st amt.Status
		var fault *wsman.Fault
		switch {
		case errors.As(err, &st) && keyGenTransient(st):
		case !errors.As(err, &st) && errors.As(err, &fault):
			// A SOAP fault that names no AMT status: MeshCentral retries
			// GenerateKeyPair whenever the call itself failed, the firmware
			// being "not always in a good spot" to generate a key
			// (amtprovisioningserver.js, generateKeyPairWithRetry). A fault
			// is an answer: no key was made.
		default:
			// A transport error, or a status that repeating cannot change
			// (a full key store, an unsupported algorithm …). After a lost
			// reply the device may have made the key: adopted when it is
			// the one key no certificate uses (before, it stayed on the
			// device in no record, one per lost reply).
			var te *wsman.TransportError
			if errors.As(err, &te) && te.Phase == wsman.PhaseReceive {
				if id, ok := lostKey(ctx, dev); ok {
					return adoptedKey + id, nil
				}
			}
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

// adoptedKey prefixes the key generateKey returns when it took an existing
// key for the one a GenerateKeyPair whose reply was lost made.
const adoptedKey = "adopted:"

// lostKey finds the key a GenerateKeyPair whose reply was lost made: the
// only key pair on the device that no certificate on it uses (every key
// amtkit keeps has its certificate, and the device's lease keeps other
// sessions away). None, or several, and it reports false: nothing is
// guessed.
func lostKey(ctx context.Context, dev *amt.Device) (string, bool) {
	keys, err := dev.KeyPairs(ctx)
	if err != nil || len(keys) > maxLostKeyScan {
		return "", false
	}
	list, err := dev.Certificates(ctx)
	if err != nil || len(list) > maxLostKeyScan {
		return "", false
	}
	// Each certificate parsed once, its key in canonical form: a hostile
	// device listing thousands of each made this thousands squared parses.
	certified := make(map[string]struct{}, len(list))
	for _, c := range list {
		if ctx.Err() != nil {
			return "", false
		}
		if cert, err := x509.ParseCertificate(c.X509Certificate); err == nil {
			if der, err := x509.MarshalPKIXPublicKey(cert.PublicKey); err == nil {
				certified[string(der)] = struct{}{}
			}
		}
	}
	var free []string
	for _, k := range keys {
		pub, err := k.PublicKey()
		if err != nil {
			return "", false
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", false
		}
		if _, used := certified[string(der)]; !used {
			free = append(free, k.InstanceID)
		}
	}
	if len(free) != 1 {
		return "", false
	}
	return free[0], true
}

// maxLostKeyScan bounds the keys and certificates lostKey looks through (AMT
// keeps a few dozen); with more, the lost key is not named.
const maxLostKeyScan = 1024

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
		if len(dc.DER) == 0 {
			dc.Revoked = true // never certified: nothing to revoke
			continue
		}
		if cur, ok := currentCertificateFor(rec.Certificates, dc.slot()); ok && string(cur.DER) == string(dc.DER) {
			continue // still the one in use
		}
		if err := p.revoke(ctx, rec.UUID, dc, certs.RevocationSuperseded); err == nil {
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

// retiredFromDevice marks certificates of an earlier provisioning as gone
// from the device, which has been unprovisioned since: a full unprovision
// erases every certificate and key (Intel AMT SDK, "Restoring Intel AMT to
// Factory Mode"). Nothing is deleted by their old handles, which may name
// other objects once the device is provisioned again, and a renewal left
// pending is abandoned. Revocation still applies to those not revoked.
func retiredFromDevice(list []DeviceCertificate) []DeviceCertificate {
	for i := range list {
		list[i].RemovedFromDevice, list[i].Pending = true, false
	}
	return list
}

func containsCert(list []DeviceCertificate, der []byte) bool {
	for _, dc := range list {
		if string(dc.DER) == string(der) {
			return true
		}
	}
	return false
}

// revoke asks the Issuer to revoke dc for reason and marks it.
func (p *Provisioner) revoke(ctx context.Context, u amt.UUID, dc *DeviceCertificate, reason certs.RevocationReason) error {
	if len(dc.DER) == 0 {
		dc.Revoked = true // an issuance that ended before the Issuer certified: nothing to revoke
		return nil
	}
	c, err := x509.ParseCertificate(dc.DER)
	if err != nil {
		return err
	}
	start := p.now()
	err = p.cfg.Issuer.Revoke(ctx, RevokeRequest{Device: u, Certificate: c, Reason: reason})
	e := Event{Time: p.now(), Device: u, Step: StepRevoke, Duration: p.now().Sub(start),
		Detail: fmt.Sprintf("%s certificate serial %x revoked (%s)", dc.Purpose, c.SerialNumber, reason)}
	if err != nil {
		e.Err, e.Reason, e.Detail = err, ReasonIssueFailed, fmt.Sprintf("revoking %s certificate serial %x failed", dc.Purpose, c.SerialNumber)
	} else {
		dc.Revoked = true
	}
	p.emit(e)
	return err
}
