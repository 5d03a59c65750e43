package amtsim

import (
	"strconv"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// AMT_TLSSettingData (intel/lms AMT_TLSSettingData.h; Put rules as in
// device-management-toolkit/rps src/stateMachines/tls.ts).
func tlsSettingClass() *class {
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			id, _ := c.req.Selectors.Get("InstanceID")
			el := d.tlsSettingInstance(id)
			if el == nil {
				return invalidSelectors()
			}
			return wsmantest.GetResponse(c.req, el)
		},
		put:  (*Device).putTLSSetting,
		keys: keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element {
			return []*etree.Element{d.tlsSettingInstance(tlsRemoteID), d.tlsSettingInstance(tlsLocalID)}
		},
	}
}

func (d *Device) tlsSettingInstance(id string) *etree.Element {
	var t tlsSetting
	switch id {
	case tlsRemoteID:
		t = d.st.tlsRemote
	case tlsLocalID:
		t = d.st.tlsLocal
		t.acceptNonSecure = true // read-only on the local interface
	default:
		return nil
	}
	in := newInst(uriTLSSetting).
		b("AcceptNonSecureConnections", t.acceptNonSecure).
		s("ElementName", id).
		b("Enabled", t.enabled).
		s("InstanceID", id).
		b("MutualAuthentication", t.mutual).
		arr("TrustedCN", t.trustedCN...)
	if id == tlsRemoteID && d.fw.TLSNonSecureProperty {
		in.b("NonSecureConnectionsSupported", !d.cfg.TLSOnly)
	}
	return in.el()
}

func (d *Device) putTLSSetting(c *call) wsmantest.Reply {
	id, _ := c.req.Selectors.Get("InstanceID")
	if id != tlsRemoteID && id != tlsLocalID {
		return invalidSelectors()
	}
	in, ok := body(c)
	if !ok {
		return schemaFault("Expected an AMT_TLSSettingData instance.")
	}
	enabled, err := in.boolean("Enabled")
	if err != nil {
		return internalError(amt.StatusInvalidParameter)
	}
	t := tlsSetting{enabled: enabled, trustedCN: in.strs("TrustedCN")}
	if enabled && !in.has("MutualAuthentication") {
		// "This property must be supplied if Enabled property is True"
		// (the class reference, quoted in go-wsman-messages amt/tls
		// types.go); the status is the simulator's choice.
		return internalError(amt.StatusInvalidParameter)
	}
	if in.has("MutualAuthentication") {
		if t.mutual, err = in.boolean("MutualAuthentication"); err != nil {
			return internalError(amt.StatusInvalidParameter)
		}
	}
	if in.has("AcceptNonSecureConnections") {
		if t.acceptNonSecure, err = in.boolean("AcceptNonSecureConnections"); err != nil {
			return internalError(amt.StatusInvalidParameter)
		}
	}
	if id == tlsLocalID {
		if t.mutual {
			return internalError(amt.StatusInvalidParameter) // deprecated since R6
		}
		t.acceptNonSecure = true
		d.st.tlsLocal = t
		return wsmantest.PutResponse(c.req, d.tlsSettingInstance(id))
	}
	if d.cfg.TLSOnly && (t.acceptNonSecure || !t.enabled) {
		return internalError(amt.StatusNotPermitted)
	}
	if t.enabled && d.st.tlsCert < 0 {
		return internalError(amt.StatusNoAssociation)
	}
	d.st.tlsRemote = t
	return wsmantest.PutResponse(c.req, d.tlsSettingInstance(id))
}

// AMT_TLSProtocolEndpointCollection: ElementName as in go-wsman-messages'
// recorded amt/tls/protocolendpointcollection/get.xml.
func collectionClass() *class {
	inst := func() *etree.Element {
		return newInst(uriTLSCollection).s("ElementName", tlsCollectionName).el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst()) },
		keys:  keyCollection,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst()} },
	}
}

func contextInst(uri string, cert int, providing wsman.EPR) *etree.Element {
	return newInst(uri).epr("ElementInContext", certEPR(cert)).epr("ElementProvidingContext", providing).el()
}

// AMT_TLSCredentialContext (intel/lms AMT_TLSCredentialContext.h; used as in
// RPS src/stateMachines/tls.ts and MeshCentral amtmanager.js).
func tlsContextClass() *class {
	return &class{
		keys: keyContext,
		items: func(d *Device, c *call) []*etree.Element {
			if d.st.tlsCert < 0 {
				return nil
			}
			return []*etree.Element{contextInst(uriTLSContext, d.st.tlsCert, collectionEPR())}
		},
		create: func(d *Device, c *call) wsmantest.Reply {
			h, fault := d.tlsContextBody(c)
			if fault != nil {
				return *fault
			}
			if d.st.tlsCert >= 0 {
				return wsmantest.FaultReply(wsmantest.AlreadyExists())
			}
			d.st.tlsCert = h
			return wsmantest.CreateResponse(c.req, wsman.EPR{ResourceURI: uriTLSContext, Selectors: wsman.SelectorSet{
				wsman.SelEPR("ElementInContext", certEPR(h)),
				wsman.SelEPR("ElementProvidingContext", collectionEPR()),
			}})
		},
		put: func(d *Device, c *call) wsmantest.Reply {
			h, fault := d.tlsContextBody(c)
			if fault != nil {
				return *fault
			}
			d.st.tlsCert = h
			return wsmantest.PutResponse(c.req, contextInst(uriTLSContext, h, collectionEPR()))
		},
		del: func(d *Device, c *call) wsmantest.Reply {
			epr, ok := c.req.Selectors.GetEPR("ElementInContext")
			if !ok {
				return invalidSelectors()
			}
			e := d.certByEPR(epr)
			if e == nil || e.handle != d.st.tlsCert {
				return invalidSelectors()
			}
			if d.st.tlsRemote.enabled || d.st.tlsLocal.enabled || d.st.applied.enabled {
				return internalError(amt.StatusNotPermitted)
			}
			d.st.tlsCert = -1
			return wsmantest.DeleteResponse(c.req)
		},
	}
}

// tlsContextBody validates a Create or Put body and returns the certificate
// handle to bind.
func (d *Device) tlsContextBody(c *call) (int, *wsmantest.Reply) {
	in, ok := body(c)
	if !ok {
		r := schemaFault("Expected an AMT_TLSCredentialContext instance.")
		return 0, &r
	}
	fail := func(s amt.Status) (int, *wsmantest.Reply) {
		r := internalError(s)
		return 0, &r
	}
	elem, err := in.epr("ElementInContext")
	if err != nil {
		return fail(amt.StatusInvalidParameter)
	}
	prov, err := in.epr("ElementProvidingContext")
	if err != nil {
		return fail(amt.StatusInvalidParameter)
	}
	// Clients send the unspaced collection name (MeshCentral amtmanager.js,
	// go-wsman-messages pkg/wsman/amt/tls); the device reports the spaced one
	// (go-wsman-messages' recorded get.xml). Both are accepted.
	name, _ := prov.Selectors.Get("ElementName")
	if prov.ResourceURI != uriTLSCollection || (name != tlsCollectionName && name != tlsCollectionName2) {
		return fail(amt.StatusInvalidParameter)
	}
	e := d.certByEPR(elem)
	if e == nil {
		return fail(amt.StatusNotFound)
	}
	k := d.keyFor(e.cert)
	if e.trustedRoot || k == nil {
		return fail(amt.StatusInternalError)
	}
	if why := d.tlsKeyRefused(e.cert, k.key.Public()); why != "" {
		// AMT 22 refuses RSA keys and SHA-256 certificates for TLS (RPS).
		d.debug("TLS credential refused: " + why)
		return fail(amt.StatusInternalError)
	}
	return e.handle, nil
}

// IPS_IEEE8021xSettings (intel/lms IPS_IEEE8021xSettings.h; flow as in RPS
// src/stateMachines/wiredNetworkConfiguration.ts).
var ieeeWritable = map[string]bool{
	"Enabled": true, "AvailableInS0": true, "PxeTimeout": true, "AuthenticationProtocol": true,
	"RoamingIdentity": true, "ServerCertificateName": true, "ServerCertificateNameComparison": true,
	"Username": true, "Domain": true,
}

// write-only values that are accepted and never returned.
var ieeeSecret = map[string]bool{"Password": true, "PSK": true, "PACPassword": true, "ProtectedAccessCredential": true}

func ieeeClass() *class {
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			return wsmantest.GetResponse(c.req, mapInst(uriIEEE, d.st.ieee8021x))
		},
		keys: keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element {
			return []*etree.Element{mapInst(uriIEEE, d.st.ieee8021x)}
		},
		put: func(d *Device, c *call) wsmantest.Reply {
			in, ok := body(c)
			if !ok {
				return schemaFault("Expected an IPS_IEEE8021xSettings instance.")
			}
			next := copyMap(d.st.ieee8021x)
			password := d.st.ieeePassword
			if pw, ok := in.str("Password"); ok && pw != "" {
				password = amt.NewSecret(pw)
			}
			for name := range in.f {
				if ieeeSecret[name] || !ieeeWritable[name] {
					continue
				}
				v, _ := in.str(name)
				n, err := strconv.ParseUint(v, 10, 32)
				switch name {
				case "Enabled":
					if err != nil || (n != 2 && n != 3 && n != 6) {
						return internalError(amt.StatusInvalidParameter)
					}
				case "PxeTimeout":
					if err != nil || n > 86400 {
						return internalError(amt.StatusInvalidParameter)
					}
				case "AuthenticationProtocol":
					if err != nil || n > 10 {
						return internalError(amt.StatusInvalidParameter)
					}
				case "ServerCertificateNameComparison":
					if err != nil || n < 1 || n > 3 {
						return internalError(amt.StatusInvalidParameter) // DMTF: 1 Other, 2 FullName, 3 DomainSuffix
					}
				}
				next[name] = v
			}
			if _, ok := in.str("Enabled"); !ok {
				return internalError(amt.StatusInvalidParameter)
			}
			// Enabled, the fields each EAP method needs (DMTF
			// CIM_IEEE8021xSettings 2.22): an identity, and a password for
			// the password-based methods.
			if next["Enabled"] != "3" {
				proto, _ := strconv.ParseUint(next["AuthenticationProtocol"], 10, 16)
				m := amt.EAPMethod(proto)
				needsPassword := m != amt.EAPTLS && m != amt.EAPPSK && m != amt.EAPSIM && m != amt.EAPAKA
				if next["Username"] == "" || needsPassword && password.IsZero() {
					d.debug("802.1X settings refused: " + next["AuthenticationProtocol"] + " without the identity or password it needs")
					return internalError(amt.StatusInvalidParameter)
				}
			}
			d.st.ieeePassword = password
			d.st.ieee8021x = next
			return wsmantest.PutResponse(c.req, mapInst(uriIEEE, d.st.ieee8021x))
		},
		methods: map[string]method{
			"SetCertificates": {fn: (*Device).setCertificates},
		},
	}
}

func (d *Device) setCertificates(c *call, in *input) *etree.Element {
	client, server := d.st.ieeeClientCert, d.st.ieeeServerCert
	if in.has("ClientCertificate") {
		epr, err := in.epr("ClientCertificate")
		if err != nil {
			return rv(c, 1)
		}
		e := d.certByEPR(epr)
		if e == nil || e.trustedRoot || d.keyFor(e.cert) == nil {
			return rv(c, 1)
		}
		client = e.handle
	}
	if in.has("ServerCertificateIssuer") {
		epr, err := in.epr("ServerCertificateIssuer")
		if err != nil {
			return rv(c, 1)
		}
		e := d.certByEPR(epr)
		if e == nil || !e.trustedRoot {
			return rv(c, 1)
		}
		server = e.handle
	}
	d.st.ieeeClientCert, d.st.ieeeServerCert = client, server
	return rv(c, 0)
}

// AMT_8021XProfile, the legacy wired binding (intel/lms AMT_8021XProfile.h).
var profileWritable = map[string]bool{
	"Enabled": true, "ActiveInS0": true, "AuthenticationProtocol": true, "ServerCertificateNameComparison": true,
	"Username": true, "Domain": true, "RoamingIdentity": true, "ServerCertificateName": true, "PxeTimeout": true,
}

func profileClass() *class {
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			return wsmantest.GetResponse(c.req, mapInst(uriProfile, d.st.profile))
		},
		keys: keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element {
			return []*etree.Element{mapInst(uriProfile, d.st.profile)}
		},
		put: func(d *Device, c *call) wsmantest.Reply {
			in, ok := body(c)
			if !ok {
				return schemaFault("Expected an AMT_8021XProfile instance.")
			}
			if _, err := in.boolean("Enabled"); err != nil {
				return internalError(amt.StatusInvalidParameter)
			}
			next := copyMap(d.st.profile)
			for name := range in.f {
				if profileWritable[name] {
					next[name], _ = in.str(name)
				}
			}
			// Each Put replaces the credential contexts of both roles: an EPR
			// binds, its absence unbinds.
			client, server := -1, -1
			if in.has("ClientCertificate") {
				epr, err := in.epr("ClientCertificate")
				e := d.certByEPR(epr)
				if err != nil || e == nil || e.trustedRoot {
					return internalError(amt.StatusInvalidParameter)
				}
				client = e.handle
			}
			if in.has("ServerCertificateIssuer") {
				epr, err := in.epr("ServerCertificateIssuer")
				e := d.certByEPR(epr)
				if err != nil || e == nil || !e.trustedRoot {
					return internalError(amt.StatusInvalidParameter)
				}
				server = e.handle
			}
			d.st.profile, d.st.profClientCert, d.st.profServerIssue = next, client, server
			return wsmantest.PutResponse(c.req, mapInst(uriProfile, d.st.profile))
		},
	}
}

// IPS_8021xCredentialContext, AMT_8021xCredentialContext and
// CIM_CredentialContext (which lists every context) are enumerated only.
func contextListClass() *class {
	return &class{
		keys: keyContext,
		items: func(d *Device, c *call) []*etree.Element {
			uri := c.req.ResourceURI
			ieee := wsman.EPR{ResourceURI: uriIEEE, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", ieee8021xID)}}
			prof := wsman.EPR{ResourceURI: uriProfile, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", profile8021xID)}}
			var out []*etree.Element
			add := func(h int, providing wsman.EPR) {
				if h >= 0 {
					out = append(out, contextInst(uri, h, providing))
				}
			}
			if uri == uriCIMContext {
				add(d.st.tlsCert, collectionEPR())
			}
			if uri == uriCIMContext || uri == uriIEEEContext {
				add(d.st.ieeeClientCert, ieee)
				add(d.st.ieeeServerCert, ieee)
			}
			if uri == uriCIMContext || uri == uriProfContext {
				add(d.st.profClientCert, prof)
				add(d.st.profServerIssue, prof)
			}
			if uri == uriCIMContext {
				out = append(out, d.wifiContexts()...)
			}
			return out
		},
	}
}
