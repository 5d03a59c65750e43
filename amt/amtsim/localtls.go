package amtsim

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"slices"
	"sync"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/beevik/etree"
)

// Secure host-based configuration and the local TLS port.
//
// A local agent arms it over PTHI with StartConfigurationHBased, naming the
// hash of the provisioning certificate it will present; the firmware answers
// with the hash of the TLS certificate it will present itself, moves to "in
// provisioning" and re-arms its local TLS listener. A configuration tool then
// reaches the local TLS port through LMS (localhost:16993) with mutual TLS:
// the device presents its On-Die chain (a fresh leaf for every
// StartConfigurationHBased: rpc-go issue 355, "the leaf certificate changes
// every request"), requires the provisioning chain as client certificate and
// checks it as remote configuration would (the Intel maintainer's answer in
// rpc-go issue 355) plus the leaf hash it was given. The session is then
// trusted as the configuration server: the admin account, the MEBx password,
// and CommitChanges, which moves the device to post-provisioning in admin
// control mode (rpc-go internal/commands/activate/local.go; MeshCentral
// amtmanager.js activateIntelAmtTlsAcmEx). StopConfiguration returns the
// device to pre-provisioning.
//
// On a platform that enforces TLS on its local ports (Config.LocalTLSEnforced)
// the local TLS port also serves before any StartConfigurationHBased, with the
// device's standing On-Die leaf and no client certificate: the local system
// account reaches host-based Setup there, which then waits for the admin
// account's CommitChanges (rpc-go issue 845).

// hbState is the firmware's secure host-based configuration state. Device.mu
// guards it.
type hbState struct {
	// armed: StartConfigurationHBased was accepted and not stopped.
	armed      bool
	serverHash amt.CertHash
	suffixes   []string
	leaf       *tls.Certificate
	// pendingCommit: host-based Setup on a TLS-enforced platform took effect
	// (client control mode, admin account) and waits for CommitChanges.
	pendingCommit bool
}

// localODCA is the local TLS port's part of the On-Die hierarchy, made on
// first use.
type localODCA struct {
	mu       sync.Mutex
	ca       *OnDieCA
	dev      *odcaDevice
	standing *tls.Certificate
}

// localHierarchy returns the device's On-Die CAs: under Config.OnDieCA (or the
// device's On-Die CA) when set, else under a CA of its own.
func (d *Device) localHierarchy() (*odcaDevice, error) {
	l := &d.local
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dev != nil {
		return l.dev, nil
	}
	ca := d.odca
	if ca == nil {
		var err error
		if ca, err = NewOnDieCA(d.keys, d.now, d.rand); err != nil {
			return nil, err
		}
	}
	dev, err := ca.newDevice(platformLabel(d.fw.Version))
	if err != nil {
		return nil, err
	}
	l.ca, l.dev = ca, dev
	return dev, nil
}

// LocalOnDieCA returns the On-Die CA whose hierarchy the local TLS port
// presents: [Config.OnDieCA] or the device's own On-Die CA when
// [Config.OnDie] is set, else a CA made for this device on first use. Give
// its [OnDieCA.Root] to the code under test as the trusted On-Die root.
func (d *Device) LocalOnDieCA() (*OnDieCA, error) {
	if _, err := d.localHierarchy(); err != nil {
		return nil, err
	}
	d.local.mu.Lock()
	defer d.local.mu.Unlock()
	return d.local.ca, nil
}

// HardwareID returns the platform identity a UPID would carry for the local
// On-Die chain: the first 20 bytes of the SHA-256 of its ROM CA certificate
// (rpc-go internal/certs/lmsTls.go, VerifyUPIDBinding). amtsim does not
// simulate the UPID MEI client; tests hand this value to the code under test.
func (d *Device) HardwareID() ([]byte, error) {
	dev, err := d.localHierarchy()
	if err != nil {
		return nil, err
	}
	return dev.hardwareID(), nil
}

// standingLeaf is the certificate the local TLS port presents before any
// StartConfigurationHBased (TLS-enforced platforms).
func (d *Device) standingLeaf() (*tls.Certificate, error) {
	dev, err := d.localHierarchy()
	if err != nil {
		return nil, err
	}
	l := &d.local
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.standing == nil {
		if l.standing, err = dev.issueLeaf(); err != nil {
			return nil, err
		}
	}
	return l.standing, nil
}

// LocalTLSAddr returns the address of the local TLS port ("" before Start):
// what LMS serves on localhost:16993.
func (d *Device) LocalTLSAddr() string {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	if d.localLn == nil {
		return ""
	}
	return d.localLn.Addr().String()
}

// LocalTLSEndpoint returns https://<LocalTLSAddr>/wsman.
func (d *Device) LocalTLSEndpoint() string { return "https://" + d.LocalTLSAddr() + "/wsman" }

// errLocalTLSClosed refuses a handshake on the local TLS port of a platform
// that does not serve it before provisioning.
var errLocalTLSClosed = errors.New("amtsim: the local TLS port is not served in this state")

// localTLSConfigFor chooses the local TLS port's configuration for one
// handshake.
func (d *Device) localTLSConfigFor(sc *simConn) (*tls.Config, error) {
	d.mu.Lock()
	prov, hb, mode := d.st.prov, d.st.hb, d.st.mode
	d.mu.Unlock()
	if prov == amt.PostProvisioning {
		// Once provisioned the local port serves what the remote one does:
		// the installed certificate, or the device's self-signed one.
		return d.tlsConfigFor(sc)
	}
	base := &tls.Config{
		MinVersion:             d.plat.minTLS,
		MaxVersion:             d.plat.maxTLS,
		CipherSuites:           d.plat.suites,
		Rand:                   d.rand,
		Time:                   d.clock,
		SessionTicketsDisabled: true,
	}
	switch {
	case d.cfg.Behavior.SelfSignedAfterSetup && mode != amt.ControlModeNone:
		id, err := d.selfSignedTLS()
		if err != nil {
			return nil, err
		}
		base.Certificates = []tls.Certificate{*id}
	case hb.armed && hb.leaf != nil:
		base.Certificates = []tls.Certificate{*hb.leaf}
		base.ClientAuth = tls.RequireAnyClientCert
		base.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return d.verifySecureHostBased(sc, raw)
		}
	case d.cfg.LocalTLSEnforced:
		leaf, err := d.standingLeaf()
		if err != nil {
			return nil, err
		}
		base.Certificates = []tls.Certificate{*leaf}
	default:
		return nil, errLocalTLSClosed
	}
	return base, nil
}

// verifySecureHostBased applies the firmware's checks to the client chain of a
// secure host-based configuration session: the leaf is the one named in
// StartConfigurationHBased, and the chain passes the remote-configuration
// rules (root hash, signatures, algorithms, usage marker, DNS suffix — the
// device's, or one of the request's suffixes).
func (d *Device) verifySecureHostBased(sc *simConn, raw [][]byte) error {
	rec := HandshakeRecord{Time: d.now(), Remote: sc.RemoteAddr().String(), Mode: "secure host-based configuration"}
	chain := make([]*x509.Certificate, 0, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			rec.Err = &RuleError{Rule: RuleChain, Cert: i, Expected: "DER X.509 certificates", Got: err.Error()}
			d.recordHandshake(rec)
			return rec.Err
		}
		chain = append(chain, c)
	}
	rec.Chain = chain
	d.mu.Lock()
	hb := d.st.hb
	p := d.chainPolicyLocked()
	d.mu.Unlock()
	var err error
	var root amt.CertHash
	switch {
	case !hb.armed:
		err = &RuleError{Rule: RuleChain, Cert: -1, Expected: "a session armed by StartConfigurationHBased", Got: "none armed"}
	case len(chain) == 0:
		err = &RuleError{Rule: RuleChain, Cert: -1, Expected: "a client certificate chain", Got: "none"}
	default:
		sum, herr := hb.serverHash.Alg.Sum(chain[0].Raw)
		if herr != nil || !sum.Equal(hb.serverHash) {
			err = &RuleError{Rule: RuleChain, Cert: 0, Expected: "the leaf whose hash StartConfigurationHBased named (" + hb.serverHash.String() + ")",
				Got: "a leaf with " + sum.String()}
			break
		}
		root, err = checkChain(chain, p)
		for _, s := range hb.suffixes {
			if !errors.Is(err, &RuleError{Rule: RuleSuffix}) {
				break
			}
			p.suffix = s
			root, err = checkChain(chain, p)
		}
	}
	rec.RootHash, rec.Err = root, err
	d.recordHandshake(rec)
	if err != nil {
		d.debug("secure host-based configuration chain refused", remoteAttr(sc), errAttr(err))
		return err
	}
	// The session is the configuration server's from here; its first request
	// puts the device in admin control mode (authenticate).
	sc.info.mu.Lock()
	sc.info.rcfg, sc.info.chain, sc.info.root = true, chain, root
	sc.info.mu.Unlock()
	return nil
}

// startHBased is StartConfigurationHBased: it refuses what the firmware
// refuses and arms the local TLS port. d.mu is held.
func (d *Device) startHBasedLocked(r pthi.HBasedRequest) (amt.CertHash, amt.Status) {
	st := &d.st
	switch {
	case !resolve(d.fw.SecureHostBasedConfig, d.odca != nil || d.cfg.LocalTLSEnforced):
		// No secure host-based configuration on this platform (before 15,
		// or a 15-18 platform without an On-Die certificate): simulator's
		// choice of status, no source names it.
		return amt.CertHash{}, amt.StatusInvalidPTMode
	case st.opDisabled:
		return amt.CertHash{}, amt.StatusInvalidPTMode
	case st.prov == amt.PostProvisioning:
		// Already provisioned: nothing to configure (MeshCentral and rpc-go
		// unprovision or stop first).
		return amt.CertHash{}, amt.StatusInvalidProvisioningState
	case st.prov == amt.InProvisioning && !st.hb.armed:
		// Remote configuration (StartConfiguration) already holds the
		// window; MeshCentral calls StopConfiguration first.
		return amt.CertHash{}, amt.StatusInvalidProvisioningState
	case !slices.Contains(st.allowed, uint8(amt.ControlModeACM)):
		return amt.CertHash{}, amt.StatusNotPermitted
	case r.ServerHash.Alg != amt.HashSHA256 && r.ServerHash.Alg != amt.HashSHA384:
		return amt.CertHash{}, amt.StatusInvalidParameter
	}
	dev, err := d.localHierarchy()
	if err != nil {
		return amt.CertHash{}, amt.StatusInternalError
	}
	leaf, err := dev.issueLeaf()
	if err != nil {
		return amt.CertHash{}, amt.StatusInternalError
	}
	out, err := r.ServerHash.Alg.Sum(leaf.Leaf.Raw)
	if err != nil {
		return amt.CertHash{}, amt.StatusInternalError
	}
	st.prov = amt.InProvisioning
	st.hb.armed, st.hb.serverHash, st.hb.suffixes, st.hb.leaf = true, r.ServerHash, slices.Clone(r.DNSSuffixes), leaf
	// The firmware re-arms its local TLS listener: on AMT 21 the first
	// request after it may be reset (rpc-go pull request 1385).
	st.tlsArmed = true
	return out, amt.StatusSuccess
}

// stopConfigurationLocked is StopConfiguration: an in-provisioning device goes
// back to pre-provisioning (the MEBx password, written to flash, is kept);
// anything else answers PT_STATUS_INVALID_PT_MODE (3), as MeshCentral's
// amtmanager.js expects ("Intel AMT was already not in in-provisioning
// state"). d.mu is held.
func (d *Device) stopConfigurationLocked() amt.Status {
	st := &d.st
	if st.prov != amt.InProvisioning {
		return amt.StatusInvalidPTMode
	}
	mebx, mebxDef := st.mebx, st.mebxDefault
	if err := d.resetState(false); err != nil {
		return amt.StatusInternalError
	}
	st.mebx, st.mebxDefault = mebx, mebxDef
	// The connections open now are cut (after the answer); a connection made
	// after this call is not.
	go closeAll(d.openConns(nil))
	return amt.StatusSuccess
}

// unprovisionLocalLocked is PTHI Unprovision: client control mode (committed
// or waiting for its commit) and the "in provisioning" half-state are undone;
// admin control mode is refused with PT_STATUS_INVALID_PT_MODE (rpc-go pkg/pthi
// Unprovision). An ACM device halted in provisioning answers success with the
// state still "in provisioning", the answer rpc-go's recovery handles by
// stopping the configuration (internal/commands/deactivate.go,
// recoverInProvisioningOverHECI): the simulator's choice, no source shows which
// answer real firmware gives. d.mu is held.
func (d *Device) unprovisionLocalLocked() (amt.ProvisioningState, amt.Status) {
	st := &d.st
	switch {
	case st.prov == amt.InProvisioning && st.mode == amt.ControlModeACM:
		return amt.InProvisioning, amt.StatusSuccess
	case st.mode == amt.ControlModeACM:
		return st.prov, amt.StatusInvalidPTMode
	case st.prov == amt.PreProvisioning && st.mode == amt.ControlModeNone:
		return st.prov, amt.StatusInvalidPTMode
	}
	mebx, mebxDef := st.mebx, st.mebxDefault
	if err := d.resetState(true); err != nil {
		return st.prov, amt.StatusInternalError
	}
	st.mebx, st.mebxDefault = mebx, mebxDef
	st.otp = amt.Secret{}
	// The connections open now are cut (after the answer); a connection made
	// after this call is not.
	go closeAll(d.openConns(nil))
	return amt.PreProvisioning, amt.StatusSuccess
}

// commitPendingSetupLocked completes a host-based Setup that waits for its
// commit (TLS-enforced platforms): only the admin account set by Setup may
// commit (rpc-go reconnects as admin: "This is required because the initial
// setup used LSA credentials"). d.mu is held.
func (d *Device) commitPendingSetupLocked(c *call) *etree.Element {
	st := &d.st
	if c.who.kind != whoAdmin {
		return rv(c, uint32(amt.StatusNotPermitted))
	}
	st.prov = amt.PostProvisioning
	st.hb.pendingCommit = false
	if st.record != nil {
		st.record.Method += " (committed)"
	}
	return nil
}
