package amtsim

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"slices"
	"strconv"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// IPS_HostBasedSetupService return values, per method (go-wsman-messages
// pkg/wsman/ips/hostbasedsetup/decoder.go); they are not PT_STATUS codes.
const (
	hbsSuccess       = 0
	hbsInternal      = 1
	hbsInvalidState  = 2
	hbsInvalidParam  = 3
	hbsMethodDisable = 4
	hbsAuthFailed    = 5

	chainInvalidParam   = 1
	chainInternal       = 2
	chainInvalidState   = 3
	chainVerifyFailed   = 4
	chainLengthExceeded = 5
)

func hbsClass() *class {
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			return wsmantest.GetResponse(c.req, d.hbsInstance())
		},
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{d.hbsInstance()} },
		methods: map[string]method{
			"Setup":                    {fn: (*Device).hbsSetup, local: true},
			"AdminSetup":               {fn: (*Device).hbsAdminSetup, local: true},
			"AddNextCertInChain":       {fn: (*Device).hbsAddCert, local: true},
			"UpgradeClientToAdmin":     {fn: (*Device).hbsUpgrade},
			"DisableClientControlMode": {fn: (*Device).hbsDisableCCM, local: true},
		},
	}
}

func (d *Device) hbsInstance() *etree.Element {
	st := &d.st
	modes := make([]string, len(st.allowed))
	for i, m := range st.allowed {
		modes[i] = strconv.Itoa(int(m))
	}
	return newInst(uriHBS).
		arr("AllowedControlModes", modes...).
		n("CertChainStatus", int64(st.chainStatus)).
		s("ConfigurationNonce", base64.StdEncoding.EncodeToString(st.nonce)).
		s("CreationClassName", "IPS_HostBasedSetupService").
		n("CurrentControlMode", int64(st.mode)).
		s("ElementName", "Intel(r) AMT Host Based Setup Service").
		s("Name", "Intel(r) AMT Host Based Setup Service").
		s("SystemCreationClassName", "CIM_ComputerSystem").
		s("SystemName", "Intel(r) AMT").
		el()
}

// freshNonce replaces the ConfigurationNonce: after every use, successful or
// not, so a signature can never be replayed.
func (d *Device) freshNonce() {
	if n, err := newNonce(d.rand); err == nil {
		d.st.nonce = n
	}
}

// adminPassword reads NetAdminPassEncryptionType and NetworkAdminPassword
// (hex of MD5(admin:realm:password)).
func adminPassword(in *input) ([]byte, bool) {
	t, err := in.u32("NetAdminPassEncryptionType")
	if err != nil || t != 2 {
		return nil, false
	}
	h, err := in.hexb("NetworkAdminPassword")
	if err != nil || len(h) != 16 {
		return nil, false
	}
	return h, true
}

// checkNonceSignature verifies DigitalSignature over ConfigurationNonce ‖
// McNonce with the leaf key, by SigningAlgorithm 2 (RSA SHA-256) or, on
// firmware that knows it, 3 (RSA SHA-384). It returns the method's
// ReturnValue on failure.
func (d *Device) checkNonceSignature(in *input, leaf *x509.Certificate) (int, bool) {
	mc, err := in.b64("McNonce")
	if err != nil || len(mc) != 20 {
		return hbsInvalidParam, false
	}
	alg, err := in.u32("SigningAlgorithm")
	if err != nil || !(alg == 2 || (alg == 3 && d.fw.SigningSHA384)) {
		return hbsInvalidParam, false
	}
	sig, err := in.b64("DigitalSignature")
	if err != nil || len(sig) == 0 {
		return hbsInvalidParam, false
	}
	if alg == 2 && d.fw.SigningSHA384Required && isSHA384(leaf) {
		return hbsInternal, false // observed on AMT 22 (RPS amtCertificatePolicy.ts)
	}
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok {
		return hbsAuthFailed, false
	}
	msg := append(slices.Clone(d.st.nonce), mc...)
	h := crypto.SHA256
	if alg == 3 {
		h = crypto.SHA384
	}
	x := h.New()
	x.Write(msg)
	if rsa.VerifyPKCS1v15(pub, h, x.Sum(nil), sig) != nil {
		return hbsAuthFailed, false
	}
	return hbsSuccess, true
}

func (d *Device) hbsSetup(c *call, in *input) *etree.Element {
	st := &d.st
	defer d.freshNonce()
	if st.prov != amt.PreProvisioning || st.mode != amt.ControlModeNone {
		return rv(c, hbsInvalidState)
	}
	if !slices.Contains(st.allowed, uint8(amt.ControlModeCCM)) {
		return rv(c, hbsMethodDisable)
	}
	ha1, ok := adminPassword(in)
	if !ok {
		return rv(c, hbsInvalidParam)
	}
	rec := &ProvisioningRecord{Method: "host-based client setup", Time: d.now()}
	if in.has("DigitalSignature") || in.has("Certificate") {
		// Signed client setup: AMT checks the certificate's format and the
		// signature, then records the certificate's hash.
		der, err := in.b64("Certificate")
		if err != nil {
			return rv(c, hbsInvalidParam)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return rv(c, hbsInvalidParam)
		}
		if code, ok := d.checkNonceSignature(in, cert); !ok {
			return rv(c, uint32(code))
		}
		rec.Chain = []*x509.Certificate{cert}
	}
	st.prov, st.mode = amt.PostProvisioning, amt.ControlModeCCM
	switch {
	case d.cfg.Behavior.HaltActivation:
		st.prov = amt.InProvisioning
	case d.cfg.LocalTLSEnforced:
		// On platforms that enforce TLS on local ports, Setup leaves the
		// device in pre-provisioning until the admin account commits (rpc-go
		// issue 845; rpc-go commitCCMChanges; RPS activation.ts SETUP →
		// COMMIT_CHANGES for AMT 19+).
		st.prov, st.hb.pendingCommit = amt.PreProvisioning, true
	}
	st.adminUser, st.adminA1, st.adminDefault, st.adminNetDef = adminUserDefault, ha1, false, false
	st.record = rec
	st.chain, st.chainStatus = nil, 0
	return rv(c, hbsSuccess)
}

func (d *Device) hbsAdminSetup(c *call, in *input) *etree.Element {
	st := &d.st
	st.adminSetups++
	if d.cfg.Behavior.WedgeOnSecondAdminSetup && st.adminSetups >= 2 {
		// Retrying AdminSetup can leave the firmware unresponsive (RPS issue
		// #2752).
		st.unresponsive = true
		c.hang = true
		return nil
	}
	defer d.freshNonce()
	if d.cfg.LocalTLSEnforced {
		// Host-based AdminSetup is removed where TLS is enforced on local
		// ports (Intel AMT SDK class reference, AdminSetup, quoted in rpc-go
		// issue 355): ACM goes through StartConfigurationHBased. "Method
		// disabled" is the simulator's choice of answer.
		return rv(c, hbsMethodDisable)
	}
	if st.prov != amt.PreProvisioning || st.mode != amt.ControlModeNone {
		return rv(c, hbsInvalidState)
	}
	ha1, ok := adminPassword(in)
	if !ok {
		return rv(c, hbsInvalidParam)
	}
	if st.chainStatus != 2 || len(st.chain) == 0 {
		return rv(c, hbsInvalidState)
	}
	root, err := checkChain(st.chain, d.chainPolicyLocked())
	if err != nil {
		d.debug("AdminSetup chain refused", errAttr(err))
		return rv(c, hbsAuthFailed)
	}
	if code, ok := d.checkNonceSignature(in, st.chain[0]); !ok {
		return rv(c, uint32(code))
	}
	st.prov, st.mode = amt.PostProvisioning, amt.ControlModeACM
	if d.cfg.Behavior.HaltActivation {
		st.prov = amt.InProvisioning // halted mid-activation (rpc-go issue 1461)
	}
	st.adminUser, st.adminA1, st.adminDefault, st.adminNetDef = adminUserDefault, ha1, false, false
	st.record = &ProvisioningRecord{Method: "host-based admin setup", Time: d.now(), Chain: st.chain, RootHash: root}
	st.chain, st.chainStatus = nil, 0
	return rv(c, hbsSuccess)
}

func (d *Device) hbsAddCert(c *call, in *input) *etree.Element {
	st := &d.st
	if !(st.prov == amt.PreProvisioning || (st.prov == amt.PostProvisioning && st.mode == amt.ControlModeCCM)) {
		return rv(c, chainInvalidState)
	}
	der, err := in.b64("NextCertificate")
	if err != nil {
		return rv(c, chainInvalidParam)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return rv(c, chainInvalidParam)
	}
	leaf, _ := in.boolean("IsLeafCertificate")
	root, _ := in.boolean("IsRootCertificate")
	if leaf {
		st.chain, st.chainStatus = nil, 1
	} else if st.chainStatus != 1 {
		return rv(c, chainInvalidState)
	}
	if n := len(st.chain); n > 0 {
		child := st.chain[n-1]
		if string(child.RawIssuer) != string(cert.RawSubject) ||
			cert.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) != nil {
			st.chain, st.chainStatus = nil, 0
			return rv(c, chainVerifyFailed)
		}
	}
	if len(st.chain) >= maxChainLen {
		st.chain, st.chainStatus = nil, 0
		return rv(c, chainLengthExceeded)
	}
	st.chain = append(st.chain, cert)
	if root {
		st.chainStatus = 2
	}
	return rv(c, hbsSuccess)
}

func (d *Device) hbsUpgrade(c *call, in *input) *etree.Element {
	st := &d.st
	defer d.freshNonce()
	if st.prov != amt.PostProvisioning || st.mode != amt.ControlModeCCM {
		return rv(c, hbsInvalidState)
	}
	if st.chainStatus != 2 || len(st.chain) == 0 {
		return rv(c, hbsInvalidState)
	}
	root, err := checkChain(st.chain, d.chainPolicyLocked())
	if err != nil {
		d.debug("UpgradeClientToAdmin chain refused", errAttr(err))
		return rv(c, hbsAuthFailed)
	}
	if code, ok := d.checkNonceSignature(in, st.chain[0]); !ok {
		return rv(c, uint32(code))
	}
	st.mode = amt.ControlModeACM
	st.record = &ProvisioningRecord{Method: "upgrade to admin", Time: d.now(), Chain: st.chain, RootHash: root}
	st.chain, st.chainStatus = nil, 0
	return rv(c, hbsSuccess)
}

func (d *Device) hbsDisableCCM(c *call, _ *input) *etree.Element {
	st := &d.st
	if st.mode == amt.ControlModeCCM {
		return rv(c, hbsInvalidState)
	}
	st.allowed = slices.DeleteFunc(st.allowed, func(m uint8) bool { return m == uint8(amt.ControlModeCCM) })
	return rv(c, hbsSuccess)
}
