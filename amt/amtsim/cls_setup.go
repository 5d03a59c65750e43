package amtsim

import (
	"encoding/base64"
	"strconv"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// AMT_GeneralSettings (intel/lms AMT_GeneralSettings.h; instance as in
// go-wsman-messages' recorded amt/general/get.xml).
func generalClass() *class {
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			return wsmantest.GetResponse(c.req, mapInst(uriGeneral, d.st.general))
		},
		put: func(d *Device, c *call) wsmantest.Reply {
			in, ok := body(c)
			if !ok {
				return schemaFault("Expected an AMT_GeneralSettings instance.")
			}
			next := copyMap(d.st.general)
			for name := range in.f {
				if _, known := next[name]; !known || generalReadOnly[name] {
					continue // read-only values are accepted and ignored
				}
				v, _ := in.str(name)
				switch name {
				case "HostName":
					if len(v) > 63 {
						return internalError(amt.StatusInvalidParameter)
					}
				case "DomainName":
					if len(v) > 191 {
						return internalError(amt.StatusInvalidParameter)
					}
				case "AMTNetworkEnabled":
					if v != "0" && v != "1" {
						return internalError(amt.StatusInvalidParameter)
					}
				}
				next[name] = v
			}
			d.st.general = next
			return wsmantest.PutResponse(c.req, mapInst(uriGeneral, d.st.general))
		},
		keys: keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element {
			return []*etree.Element{mapInst(c.req.ResourceURI, d.st.general)}
		},
		methods: map[string]method{},
	}
}

// CIM_SoftwareIdentity (intel/lms CIM_SoftwareIdentity.h).
func softwareClass() *class {
	list := func(d *Device) []*etree.Element {
		v := d.fw.Version
		ver := strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + "." + strconv.Itoa(v.Build)
		build := "1579"
		if v.Revision != 0 {
			build = strconv.Itoa(v.Revision)
		}
		rows := [][2]string{
			{"Flash", ver}, {"Netstack", ver}, {"AMTApps", ver}, {"AMT", ver},
			{"Sku", "16392"}, {"VendorID", "8086"}, {"Build Number", build},
			{"Recovery Version", ver}, {"Recovery Build Num", build}, {"Legacy Mode", "False"},
		}
		if d.fw.CoreVersionIdentity {
			rows = append(rows, [2]string{"AMT FW Core Version", ver})
		}
		out := make([]*etree.Element, len(rows))
		for i, r := range rows {
			out[i] = newInst(uriSoftware).s("InstanceID", r[0]).b("IsEntity", true).s("VersionString", r[1]).el()
		}
		return out
	}
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			id, ok := c.req.Selectors.Get("InstanceID")
			if !ok {
				return invalidSelectors()
			}
			for _, el := range list(d) {
				if v, _ := wsman.PropertyValue(el, "InstanceID"); v == id {
					return wsmantest.GetResponse(c.req, el)
				}
			}
			return invalidSelectors()
		},
		keys:  keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element { return list(d) },
	}
}

// AMT_SetupAndConfigurationService (intel/lms AMT_SetupAndConfigurationService.h).
func setupClass() *class {
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			return wsmantest.GetResponse(c.req, d.setupInstance())
		},
		put: func(d *Device, c *call) wsmantest.Reply {
			in, ok := body(c)
			if !ok {
				return schemaFault("Expected an AMT_SetupAndConfigurationService instance.")
			}
			if in.has("ProvisioningServerOTP") {
				otp, err := in.b64("ProvisioningServerOTP")
				if err != nil || len(otp) < 8 || len(otp) > 32 {
					if !(err == nil && isZeroOTP(otp)) { // echoing the read-back zeros is harmless
						return internalError(amt.StatusInvalidParameter)
					}
				} else {
					d.st.otp = amt.NewSecret(string(otp))
				}
			}
			if in.has("ZeroTouchConfigurationEnabled") {
				v, err := in.boolean("ZeroTouchConfigurationEnabled")
				if err != nil {
					return internalError(amt.StatusInvalidParameter)
				}
				d.st.zeroTch = v
			}
			return wsmantest.PutResponse(c.req, d.setupInstance())
		},
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{d.setupInstance()} },
		methods: map[string]method{
			"CommitChanges":                    {fn: (*Device).commitChanges, local: true},
			"Unprovision":                      {fn: func(d *Device, c *call, in *input) *etree.Element { return d.unprovision(c, in, true) }, local: true},
			"PartialUnprovision":               {fn: func(d *Device, c *call, in *input) *etree.Element { return d.unprovision(c, in, false) }, local: true},
			"SetMEBxPassword":                  {fn: (*Device).setMEBxPassword},
			"SetTLSPSK":                        {fn: (*Device).setTLSPSK}, // cls_psk.go
			"GetUuid":                          {fn: (*Device).getUUID, read: true},
			"ExtendProvisioningPeriod":         {fn: (*Device).extendPeriod},
			"GetUnprovisionBlockingComponents": {fn: func(d *Device, c *call, in *input) *etree.Element { return rv(c, 0) }, read: true},
		},
	}
}

func isZeroOTP(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func (d *Device) setupInstance() *etree.Element {
	st := &d.st
	mode := amt.ProvisioningModeAdmin
	if st.mode == amt.ControlModeCCM {
		mode = amt.ProvisioningModeClient
	}
	prov := st.prov
	if st.settleReads > 0 && prov == amt.PostProvisioning {
		st.settleReads-- // Behavior.CommitSettleReads: still reloading
		prov = amt.InProvisioning
	}
	in := newInst(uriSetup).
		s("CreationClassName", "AMT_SetupAndConfigurationService").
		s("DhcpDNSSuffix", d.cfg.DHCPDNSSuffix).
		s("ElementName", "Intel(r) AMT Setup and Configuration Service").
		s("EnabledState", "5").
		s("Name", "Intel(r) AMT Setup and Configuration Service").
		s("PasswordModel", "1").
		n("ProvisioningMode", int64(mode)).
		n("ProvisioningState", int64(prov)).
		s("RequestedState", "12").
		s("SystemCreationClassName", "CIM_ComputerSystem").
		s("SystemName", "Intel(r) AMT").
		s("TrustedDNSSuffix", st.pkiSuffix).
		b("ZeroTouchConfigurationEnabled", st.zeroTch)
	// The OTP is readable only in provisioning (intel/lms
	// AMT_SetupAndConfigurationService.h); otherwise the device returns 32 zero
	// bytes (go-wsman-messages' recorded amt/setupandconfiguration/get.xml).
	switch {
	case st.prov == amt.InProvisioning && !st.otp.IsZero():
		in.s("ProvisioningServerOTP", base64.StdEncoding.EncodeToString([]byte(st.otp.Reveal())))
	case st.prov != amt.InProvisioning:
		in.s("ProvisioningServerOTP", base64.StdEncoding.EncodeToString(make([]byte, otpZeroLen)))
	}
	return in.el()
}

func (d *Device) commitChanges(c *call, _ *input) *etree.Element {
	st := &d.st
	if st.prov != amt.PreProvisioning && st.tlsRemote.enabled && st.tlsRemote.mutual && !d.hasTrustedRoot() {
		// "If mutual authentication is configured, then at least one
		// trusted root certificate must exist" (Intel's CommitChanges
		// description, quoted in go-wsman-messages
		// setupandconfiguration/service.go); PT_STATUS_DATA_MISSING is the
		// status its list gives for what is missing.
		d.debug("commit refused: mutual TLS without a trusted root")
		return status(c, amt.StatusDataMissing)
	}
	switch st.prov {
	case amt.PreProvisioning:
		if st.hb.pendingCommit {
			if out := d.commitPendingSetupLocked(c); out != nil {
				return out
			}
			break
		}
		return status(c, amt.StatusInvalidProvisioningState)
	case amt.InProvisioning:
		if st.mebxDefault {
			// The MEBx password must be changed before configuration completes
			// (rpc-go treats 2057 as "MEBx password required").
			return status(c, amt.StatusDataMissing)
		}
		if st.tlsRemote.enabled && st.tlsCert < 0 {
			return status(c, amt.StatusDataMissing)
		}
		if st.tlsLocal.enabled {
			// "If you enable on local port, the commit() will succeed but be
			// ignored" (MeshCentral amtprovisioningserver.js): the device
			// stays In-provisioning and nothing is applied.
			d.debug("commit ignored: TLS enabled on the local interface during remote configuration")
			return rv(c, 0)
		}
		st.prov = amt.PostProvisioning
		st.mode = amt.ControlModeACM
		if d.cfg.Behavior.HaltActivation {
			st.prov = amt.InProvisioning // halted: admin mode, never post-provisioning
		}
		_, chain, root := c.sc.info.remoteConfig()
		method := "remote configuration"
		if c.sc.info.psk {
			method = "remote configuration (PSK)"
		}
		if c.sc.info.role == roleLocalTLS {
			method = "secure host-based configuration"
		}
		if !(d.cfg.Behavior.HaltActivation && c.sc.info.role == roleLocalTLS) {
			// A secure host-based activation halted by its commit keeps its
			// session: the local TLS port still asks for the configuration
			// server's certificate, and a client without one fails the
			// handshake ("tls: certificate required": rpc-go issue 1461,
			// commit d8afbf0a).
			st.hb = hbState{}
		}
		st.record = &ProvisioningRecord{Method: method, Time: d.now(), Chain: chain, RootHash: root}
		st.settleReads = d.cfg.Behavior.CommitSettleReads
	}
	if prev := st.applied; st.prov == amt.PostProvisioning && prev.cert != nil {
		// A commit after provisioning that changes the certificate: the
		// previous one is still presented for a moment (settleTLS).
		defer func() {
			if st.applied.cert != nil && !st.applied.cert.Equal(prev.cert) && d.cfg.Behavior.CommitSettleReads > 0 {
				st.settlePrev, st.settleTLS = prev, d.cfg.Behavior.CommitSettleReads
			}
		}()
	}
	d.applyTLSLocked()
	d.commitRestartLocked()
	if d.cfg.Behavior.CommitDrop.resolve(d.fw.CommitDropsConnection) {
		// The firmware restarts its network stack: the response is lost and
		// every connection drops. The others drop now, before the caller
		// can see its own connection close (and race the restart with new
		// connections).
		c.drop = true
		d.st.tlsArmed = true
		d.digest.forget()
		d.closeConns(c.sc)
	}
	return rv(c, 0)
}

// applyTLSLocked makes the stored TLS settings and the bound certificate the
// ones the listeners use.
func (d *Device) applyTLSLocked() {
	st := &d.st
	a := appliedTLS{enabled: st.tlsRemote.enabled, mutual: st.tlsRemote.mutual, acceptNonSecure: st.tlsRemote.acceptNonSecure || !st.tlsRemote.enabled}
	if ce := d.certByID(certIDPrefix + strconv.Itoa(st.tlsCert)); ce != nil && st.tlsCert >= 0 {
		if k := d.keyFor(ce.cert); k != nil {
			a.cert, a.key = ce.cert, k.key
		}
	}
	st.applied = a
}

// restartNetwork closes every connection and forgets digest nonces, as the
// firmware does when CommitChanges restarts its network stack.
func (d *Device) restartNetwork() {
	d.digest.forget()
	d.armTLS()
	d.closeConns(nil)
}

// closeConns closes every connection but except (d.mu may be held).
func (d *Device) closeConns(except *simConn) {
	closeAll(d.openConns(except))
}

// openConns returns the connections open now (but except). It takes only
// d.netMu, so it may be called with d.mu held.
func (d *Device) openConns(except *simConn) []*simConn {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	conns := make([]*simConn, 0, len(d.conns))
	for c := range d.conns {
		if c != except {
			conns = append(conns, c)
		}
	}
	return conns
}

func closeAll(conns []*simConn) {
	for _, c := range conns {
		_ = c.Conn.Close()
	}
}

func (d *Device) unprovision(c *call, in *input, full bool) *etree.Element {
	st := &d.st
	if full && in.has("ProvisioningMode") {
		m, err := in.u32("ProvisioningMode")
		if err != nil || m > 1 {
			return status(c, amt.StatusInvalidParameter)
		}
	}
	if st.prov == amt.PreProvisioning {
		return status(c, amt.StatusNotPermitted)
	}
	if c.who.kind == whoLocal && st.mode == amt.ControlModeACM {
		return status(c, amt.StatusNotPermitted) // a local agent cannot unprovision ACM
	}
	mebx, mebxDef, otp := st.mebx, st.mebxDefault, st.otp
	if err := d.resetState(full); err != nil {
		return status(c, amt.StatusInternalError)
	}
	st.mebx, st.mebxDefault = mebx, mebxDef
	if !full {
		st.otp = otp
	} else {
		st.otp = amt.Secret{}
	}
	return rv(c, 0)
}

func (d *Device) setMEBxPassword(c *call, in *input) *etree.Element {
	st := &d.st
	pw, ok := in.str("Password")
	if !ok {
		return status(c, amt.StatusInvalidParameter)
	}
	if st.mode == amt.ControlModeCCM {
		return status(c, amt.StatusNotPermitted)
	}
	switch d.cfg.MEBxPolicy {
	case MEBxDefaultOnly:
		if !st.mebxDefault || st.prov == amt.PreProvisioning {
			return status(c, amt.StatusNotPermitted)
		}
	case MEBxDuringSetup:
		if st.prov != amt.InProvisioning {
			return status(c, amt.StatusNotPermitted)
		}
	}
	if amt.CheckPassword(pw) != nil {
		return status(c, amt.StatusInvalidPassword)
	}
	st.mebx, st.mebxDefault = amt.NewSecret(pw), false
	return rv(c, 0)
}

func (d *Device) getUUID(c *call, _ *input) *etree.Element {
	id := d.uuid
	if d.cfg.Rogue != nil && d.cfg.Rogue.ReportTrueUUID {
		id = d.true_
	}
	w := id.Wire()
	return rv(c, 0, wsman.Prop("UUID", base64.StdEncoding.EncodeToString(w[:])))
}

func (d *Device) extendPeriod(c *call, in *input) *etree.Element {
	h, err := in.u32("Duration")
	if err != nil || h > 24 {
		return status(c, amt.StatusInvalidParameter)
	}
	if d.st.prov == amt.PostProvisioning {
		return status(c, amt.StatusNotPermitted)
	}
	if h == 0 {
		// Closing the window closes the network interface at once (a request
		// after this answer is refused); the answer still goes out, then open
		// connections are cut.
		d.st.netClosed = true
		c.then(d.restartNetwork)
		return rv(c, 0)
	}
	d.st.windowEnd = d.now().Add(time.Duration(h) * time.Hour)
	d.st.netClosed = false
	return rv(c, 0)
}

// hasTrustedRoot reports whether the certificate store holds a trusted root
// (d.mu held).
func (d *Device) hasTrustedRoot() bool {
	for _, e := range d.st.certs {
		if e.trustedRoot {
			return true
		}
	}
	return false
}
