package amtsim

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// Resource URI bases.
const (
	amtNS = "http://intel.com/wbem/wscim/1/amt-schema/1/"
	ipsNS = "http://intel.com/wbem/wscim/1/ips-schema/1/"
	cimNS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
)

// Resource URIs of the classes the simulator serves.
const (
	uriGeneral       = amtNS + "AMT_GeneralSettings"
	uriSoftware      = cimNS + "CIM_SoftwareIdentity"
	uriSetup         = amtNS + "AMT_SetupAndConfigurationService"
	uriHBS           = ipsNS + "IPS_HostBasedSetupService"
	uriAuth          = amtNS + "AMT_AuthorizationService"
	uriTime          = amtNS + "AMT_TimeSynchronizationService"
	uriPKM           = amtNS + "AMT_PublicKeyManagementService"
	uriCert          = amtNS + "AMT_PublicKeyCertificate"
	uriKey           = amtNS + "AMT_PublicPrivateKeyPair"
	uriTLSSetting    = amtNS + "AMT_TLSSettingData"
	uriTLSCollection = amtNS + "AMT_TLSProtocolEndpointCollection"
	uriTLSContext    = amtNS + "AMT_TLSCredentialContext"
	uriIEEE          = ipsNS + "IPS_IEEE8021xSettings"
	uriIEEEContext   = ipsNS + "IPS_8021xCredentialContext"
	uriProfile       = amtNS + "AMT_8021XProfile"
	uriProfContext   = amtNS + "AMT_8021xCredentialContext"
	uriCIMContext    = cimNS + "CIM_CredentialContext"
)

// inst builds an instance the way AMT writes it: properties in alphabetical
// order, empty ones omitted.
type inst struct {
	uri    string
	fields []wsman.Property
}

func newInst(uri string) *inst { return &inst{uri: uri} }

func (i *inst) s(name, v string) *inst {
	if v != "" {
		i.fields = append(i.fields, wsman.Prop(name, v))
	}
	return i
}

func (i *inst) b(name string, v bool) *inst { return i.s(name, strconv.FormatBool(v)) }

func (i *inst) n(name string, v int64) *inst { return i.s(name, strconv.FormatInt(v, 10)) }

func (i *inst) arr(name string, vs ...string) *inst {
	for _, v := range vs {
		i.s(name, v)
	}
	return i
}

func (i *inst) epr(name string, e wsman.EPR) *inst {
	i.fields = append(i.fields, wsman.PropEPR(name, e))
	return i
}

func (i *inst) el() *etree.Element {
	sort.SliceStable(i.fields, func(a, b int) bool { return i.fields[a].Name < i.fields[b].Name })
	return wsman.NewInstance(i.uri, i.fields...)
}

// mapInst renders a property map as an instance.
func mapInst(uri string, m map[string]string, hidden ...string) *etree.Element {
	in := newInst(uri)
	for k, v := range m {
		skip := false
		for _, h := range hidden {
			skip = skip || h == k
		}
		if !skip {
			in.s(k, v)
		}
	}
	return in.el()
}

// service properties shared by the AMT service singletons.
func serviceInst(uri, name, elementName string) *inst {
	return newInst(uri).
		s("CreationClassName", wsman.ClassName(uri)).
		s("ElementName", elementName).
		s("EnabledState", "5").
		s("Name", name).
		s("RequestedState", "12").
		s("SystemCreationClassName", "CIM_ComputerSystem").
		s("SystemName", "Intel(r) AMT")
}

func certEPR(handle int) wsman.EPR {
	return wsman.EPR{ResourceURI: uriCert, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", certIDPrefix+strconv.Itoa(handle))}}
}

func keyEPR(handle int) wsman.EPR {
	return wsman.EPR{ResourceURI: uriKey, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", keyIDPrefix+strconv.Itoa(handle))}}
}

func collectionEPR() wsman.EPR {
	return wsman.EPR{ResourceURI: uriTLSCollection, Selectors: wsman.SelectorSet{wsman.Sel("ElementName", tlsCollectionName)}}
}

// dnString writes a distinguished name as AMT does: attributes in DER order,
// comma-separated without spaces (e.g. "C=unknown,O=unknown,CN=MPSRoot-0af1d5").
func dnString(raw []byte) string {
	var rdn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdn); err != nil || len(rest) > 0 {
		return ""
	}
	var parts []string
	for _, set := range rdn {
		for _, atv := range set {
			parts = append(parts, pkix.RDNSequence{{atv}}.String())
		}
	}
	return strings.Join(parts, ",")
}

func pubEqual(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}

func certInstance(uri string, c *certEntry) *etree.Element {
	return newInst(uri).
		s("ElementName", "Intel(r) AMT Certificate").
		s("InstanceID", c.instanceID()).
		s("Issuer", dnString(c.cert.RawIssuer)).
		s("Subject", dnString(c.cert.RawSubject)).
		b("TrustedRootCertficate", c.trustedRoot).
		s("X509Certificate", base64.StdEncoding.EncodeToString(c.cert.Raw)).
		el()
}

// input reads a <Method>_INPUT (or an instance body) by local name.
type input struct {
	f map[string][]*etree.Element
}

var errMissing = errors.New("missing")

func newInput(el *etree.Element) *input {
	in := &input{f: map[string][]*etree.Element{}}
	if el == nil {
		return in
	}
	ns := el.NamespaceURI()
	for _, t := range el.Child {
		c, ok := t.(*etree.Element)
		if !ok || c.NamespaceURI() != ns {
			continue
		}
		in.f[c.Tag] = append(in.f[c.Tag], c)
	}
	return in
}

func (in *input) has(name string) bool { return len(in.f[name]) > 0 }

func (in *input) str(name string) (string, bool) {
	e := in.f[name]
	if len(e) == 0 {
		return "", false
	}
	return wsman.Text(e[0]), true
}

func (in *input) strs(name string) []string {
	var out []string
	for _, e := range in.f[name] {
		out = append(out, wsman.Text(e))
	}
	return out
}

func (in *input) u32(name string) (uint32, error) {
	s, ok := in.str(name)
	if !ok {
		return 0, errMissing
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return uint32(v), nil
}

func (in *input) u32s(name string) ([]uint32, error) {
	var out []uint32
	for _, s := range in.strs(name) {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, uint32(v))
	}
	return out, nil
}

func (in *input) boolean(name string) (bool, error) {
	s, ok := in.str(name)
	if !ok {
		return false, errMissing
	}
	return wsman.ParseBool(s)
}

func (in *input) b64(name string) ([]byte, error) {
	s, ok := in.str(name)
	if !ok {
		return nil, errMissing
	}
	s = strings.Join(strings.Fields(s), "")
	return base64.StdEncoding.DecodeString(s)
}

func (in *input) hexb(name string) ([]byte, error) {
	s, ok := in.str(name)
	if !ok {
		return nil, errMissing
	}
	return hex.DecodeString(s)
}

func (in *input) epr(name string) (wsman.EPR, error) {
	e := in.f[name]
	if len(e) == 0 {
		return wsman.EPR{}, errMissing
	}
	return wsman.ParseEPR(e[0])
}

// handleOf returns n from an InstanceID "<prefix><n>".
func handleOf(id, prefix string) (int, bool) {
	if !strings.HasPrefix(id, prefix) {
		return 0, false
	}
	n, err := strconv.Atoi(id[len(prefix):])
	return n, err == nil && n >= 0
}

// certByEPR resolves an EPR to a certificate entry.
func (d *Device) certByEPR(e wsman.EPR) *certEntry {
	if e.ResourceURI != "" && e.ResourceURI != uriCert {
		return nil
	}
	id, _ := e.Selectors.Get("InstanceID")
	return d.certByID(id)
}

func (d *Device) certByID(id string) *certEntry {
	h, ok := handleOf(id, certIDPrefix)
	if !ok {
		return nil
	}
	for _, c := range d.st.certs {
		if c.handle == h {
			return c
		}
	}
	return nil
}

func (d *Device) keyByID(id string) *keyEntry {
	h, ok := handleOf(id, keyIDPrefix)
	if !ok {
		return nil
	}
	for _, k := range d.st.keys {
		if k.handle == h {
			return k
		}
	}
	return nil
}

// keyFor returns the key pair whose public key is the certificate's.
func (d *Device) keyFor(c *x509.Certificate) *keyEntry {
	for _, k := range d.st.keys {
		if pubEqual(k.key.Public(), c.PublicKey) {
			return k
		}
	}
	return nil
}
