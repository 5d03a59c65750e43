package amtsim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"slices"
	"strconv"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// AMT_PublicKeyManagementService (intel/lms AMT_PublicKeyManagementService.h).
func pkmClass() *class {
	inst := func() *etree.Element {
		return serviceInst(uriPKM, "Intel(r) AMT Public Key Management Service", "Intel(r) AMT Certificate Store Service").
			s("EnabledDefault", "5").el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst()) },
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst()} },
		methods: map[string]method{
			"GenerateKeyPair":           {fn: (*Device).generateKeyPair},
			"AddKey":                    {fn: (*Device).addKey},
			"AddCertificate":            {fn: func(d *Device, c *call, in *input) *etree.Element { return d.addCert(c, in, false) }},
			"AddTrustedRootCertificate": {fn: func(d *Device, c *call, in *input) *etree.Element { return d.addCert(c, in, true) }},
			"GeneratePKCS10RequestEx":   {fn: (*Device).generatePKCS10},
		},
	}
}

// derKey is what AMT_PublicPrivateKeyPair.DERKey holds: PKCS#1 RSAPublicKey
// for RSA, SPKI for ECC.
func derKey(pub crypto.PublicKey) ([]byte, error) {
	if k, ok := pub.(*rsa.PublicKey); ok {
		return x509.MarshalPKCS1PublicKey(k), nil
	}
	return x509.MarshalPKIXPublicKey(pub)
}

func (d *Device) storeKey(key crypto.Signer) (*keyEntry, amt.Status) {
	for _, k := range d.st.keys {
		if pubEqual(k.key.Public(), key.Public()) {
			return k, amt.StatusDuplicate
		}
	}
	if len(d.st.keys) >= maxKeyPairs {
		return nil, amt.StatusMaxLimitReached
	}
	der, err := derKey(key.Public())
	if err != nil {
		return nil, amt.StatusInvalidKey
	}
	k := &keyEntry{handle: d.st.nextKey, key: key, der: der}
	d.st.nextKey++
	d.st.keys = append(d.st.keys, k)
	return k, amt.StatusSuccess
}

func (d *Device) generateKeyPair(c *call, in *input) *etree.Element {
	alg, err1 := in.u32("KeyAlgorithm")
	bits, err2 := in.u32("KeyLength")
	if err1 != nil || err2 != nil {
		return status(c, amt.StatusInvalidParameter)
	}
	d.st.genCalls++
	if d.st.genCalls <= d.cfg.Behavior.GenerateKeyPairFailures {
		return status(c, amt.StatusPKIGeneratingKeys)
	}
	if d.st.genCalls <= d.cfg.Behavior.GenerateKeyPairFailures+d.cfg.Behavior.GenerateKeyPairFaults {
		f := wsmantest.InternalError(0)
		f.Detail = "" // a fault that names no AMT status
		c.fault = &f
		return nil
	}
	var key crypto.Signer
	switch {
	case alg == 0 && bits == 2048:
		// A pooled key the device does not hold and never generated:
		// firmware generates each key afresh.
		for range 64 {
			k, err := d.keys.RSAKey(2048)
			if err != nil {
				return status(c, amt.StatusInternalError)
			}
			der, err := x509.MarshalPKIXPublicKey(k.Public())
			if err != nil {
				return status(c, amt.StatusInternalError)
			}
			// Nor the key of a certificate it holds (a trusted root a test
			// made from the same pool): a fresh key is no one's.
			if !d.generated[string(der)] && !slices.ContainsFunc(d.st.keys, func(e *keyEntry) bool { return pubEqual(e.key.Public(), k.Public()) }) &&
				!slices.ContainsFunc(d.st.certs, func(e *certEntry) bool { return pubEqual(e.cert.PublicKey, k.Public()) }) {
				key = k
				break
			}
		}
		if key == nil {
			// Every pooled key came round already: a fresh one, as firmware
			// would make.
			k, err := GeneratedKeys(nil).RSAKey(2048)
			if err != nil {
				return status(c, amt.StatusInternalError)
			}
			key = k
		}
	case alg == 1 && bits == 384 && d.fw.TLSKeyAlgorithm == amt.KeyAlgorithmECC384:
		k, err := ecdsa.GenerateKey(elliptic.P384(), d.rand)
		if err != nil {
			return status(c, amt.StatusInternalError)
		}
		key = k
	case alg == 0 || alg == 1:
		return status(c, amt.StatusUnsupported) // e.g. RSA-3072 (RPS)
	default:
		return status(c, amt.StatusInvalidParameter)
	}
	k, s := d.storeKey(key)
	if s != amt.StatusSuccess {
		return status(c, s)
	}
	if der, err := x509.MarshalPKIXPublicKey(key.Public()); err == nil {
		if d.generated == nil {
			d.generated = map[string]bool{}
		}
		d.generated[string(der)] = true
	}
	return rv(c, 0, wsman.PropEPR("KeyPair", keyEPR(k.handle)))
}

func (d *Device) addKey(c *call, in *input) *etree.Element {
	blob, err := in.b64("KeyBlob")
	if err != nil {
		return status(c, amt.StatusInvalidParameter)
	}
	key, err := x509.ParsePKCS1PrivateKey(blob) // AMT wants PKCS#1, not PKCS#8
	if err != nil {
		return status(c, amt.StatusInvalidKey)
	}
	if key.N.BitLen() < d.plat.minRSA {
		return status(c, amt.StatusInvalidKey)
	}
	k, s := d.storeKey(key)
	if s != amt.StatusSuccess {
		return status(c, s)
	}
	return rv(c, 0, wsman.PropEPR("CreatedKey", keyEPR(k.handle)))
}

func (d *Device) addCert(c *call, in *input, trustedRoot bool) *etree.Element {
	st := &d.st
	blob, err := in.b64("CertificateBlob")
	if err != nil {
		return status(c, amt.StatusInvalidParameter)
	}
	cert, err := x509.ParseCertificate(blob)
	if err != nil {
		return status(c, amt.StatusInvalidCert)
	}
	if d.plat.strict {
		if checkAlgorithm(cert, 0, true) != nil {
			return status(c, amt.StatusInvalidCert)
		}
		if k, ok := cert.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < d.plat.minRSA {
			return status(c, amt.StatusInvalidKey)
		}
	}
	for _, e := range st.certs {
		if string(e.cert.Raw) == string(cert.Raw) {
			return status(c, amt.StatusDuplicate)
		}
	}
	if trustedRoot {
		if !(cert.BasicConstraintsValid && cert.IsCA) {
			return status(c, amt.StatusInvalidCert)
		}
		selfSigned := string(cert.RawIssuer) == string(cert.RawSubject)
		if !selfSigned && !d.fw.IntermediateTrustedRoots {
			return status(c, amt.StatusInvalidCert)
		}
		if st.applied.mutual || st.tlsRemote.mutual {
			return status(c, amt.StatusNotPermitted) // refused while mutual TLS is on
		}
	} else if d.keyFor(cert) == nil {
		return status(c, amt.StatusCertKeyNotMatch)
	}
	if len(st.certs) >= maxCertificates {
		return status(c, amt.StatusMaxLimitReached)
	}
	e := &certEntry{handle: st.nextCert, cert: cert, trustedRoot: trustedRoot}
	st.nextCert++
	st.certs = append(st.certs, e)
	return rv(c, 0, wsman.PropEPR("CreatedCertificate", certEPR(e.handle)))
}

var (
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
)

// generatePKCS10 signs the CertificationRequestInfo of a null-signed CSR with
// the key pair's private key: "the same CSR, signed by the firmware".
func (d *Device) generatePKCS10(c *call, in *input) *etree.Element {
	epr, err := in.epr("KeyPair")
	if err != nil {
		return status(c, amt.StatusInvalidParameter)
	}
	id, _ := epr.Selectors.Get("InstanceID")
	k := d.keyByID(id)
	if k == nil {
		return status(c, amt.StatusNotFound)
	}
	alg, err := in.u32("SigningAlgorithm")
	if err != nil {
		return status(c, amt.StatusInvalidParameter)
	}
	der, err := in.b64("NullSignedCertificateRequest")
	if err != nil {
		return status(c, amt.StatusInvalidParameter)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil || !pubEqual(k.key.Public(), csr.PublicKey) {
		return status(c, amt.StatusInvalidParameter)
	}
	var h crypto.Hash
	var oid asn1.ObjectIdentifier
	_, isRSA := k.key.Public().(*rsa.PublicKey)
	switch {
	case alg == 0 && !d.fw.PKCS10SHA1:
		return status(c, amt.StatusUnsupported)
	case alg == 0 && isRSA:
		h, oid = crypto.SHA1, oidSHA1WithRSA
	case alg == 1 && isRSA:
		h, oid = crypto.SHA256, oidSHA256WithRSA
	case alg == 2 && isRSA:
		h, oid = crypto.SHA384, oidSHA384WithRSA
	case alg == 1:
		h, oid = crypto.SHA256, oidECDSASHA256
	case alg == 2:
		h, oid = crypto.SHA384, oidECDSASHA384
	default:
		return status(c, amt.StatusInvalidParameter)
	}
	x := h.New()
	x.Write(csr.RawTBSCertificateRequest)
	sig, err := k.key.Sign(d.rand, x.Sum(nil), h)
	if err != nil {
		return status(c, amt.StatusInternalError)
	}
	ai := pkix.AlgorithmIdentifier{Algorithm: oid}
	if isRSA {
		ai.Parameters = asn1.NullRawValue
	}
	out, err := asn1.Marshal(struct {
		Info asn1.RawValue
		Alg  pkix.AlgorithmIdentifier
		Sig  asn1.BitString
	}{asn1.RawValue{FullBytes: csr.RawTBSCertificateRequest}, ai, asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		return status(c, amt.StatusInternalError)
	}
	return rv(c, 0, wsman.Prop("SignedCertificateRequest", base64.StdEncoding.EncodeToString(out)))
}

// AMT_PublicKeyCertificate (intel/lms AMT_PublicKeyCertificate.h).
func certClass() *class {
	get := func(d *Device, c *call) (*certEntry, bool) {
		id, ok := c.req.Selectors.Get("InstanceID")
		if !ok {
			return nil, false
		}
		e := d.certByID(id)
		return e, e != nil
	}
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			e, ok := get(d, c)
			if !ok {
				return invalidSelectors()
			}
			return wsmantest.GetResponse(c.req, certInstance(uriCert, e))
		},
		put: func(d *Device, c *call) wsmantest.Reply {
			e, ok := get(d, c)
			if !ok {
				return invalidSelectors()
			}
			if _, ok := body(c); !ok {
				return schemaFault("Expected an AMT_PublicKeyCertificate instance.")
			}
			return wsmantest.PutResponse(c.req, certInstance(uriCert, e))
		},
		del: func(d *Device, c *call) wsmantest.Reply {
			e, ok := get(d, c)
			if !ok {
				return invalidSelectors()
			}
			if e.readOnly || d.certInUse(e.handle) {
				return internalError(amt.StatusNotPermitted)
			}
			d.st.certs = slices.DeleteFunc(d.st.certs, func(x *certEntry) bool { return x == e })
			return wsmantest.DeleteResponse(c.req)
		},
		keys: keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element {
			out := make([]*etree.Element, len(d.st.certs))
			for i, e := range d.st.certs {
				out[i] = certInstance(uriCert, e)
			}
			return out
		},
	}
}

func (d *Device) certInUse(h int) bool {
	st := &d.st
	if st.tlsCert == h || st.ieeeClientCert == h || st.ieeeServerCert == h || st.profClientCert == h || st.profServerIssue == h || d.wifiCertInUse(h) {
		return true
	}
	if st.applied.cert != nil {
		if e := d.certByID(certIDPrefix + strconv.Itoa(h)); e != nil && e.cert == st.applied.cert {
			return true
		}
	}
	// A client certificate an MPS entry presents (mutual authentication).
	for _, m := range st.ra.mps {
		if m.auth == 1 && m.cert == h {
			return true
		}
	}
	return false
}

// AMT_PublicPrivateKeyPair (intel/lms AMT_PublicPrivateKeyPair.h).
func keyClass() *class {
	inst := func(k *keyEntry) *etree.Element {
		return newInst(uriKey).
			s("DERKey", base64.StdEncoding.EncodeToString(k.der)).
			s("ElementName", "Intel(r) AMT Key").
			s("InstanceID", k.instanceID()).el()
	}
	get := func(d *Device, c *call) (*keyEntry, bool) {
		id, ok := c.req.Selectors.Get("InstanceID")
		if !ok {
			return nil, false
		}
		k := d.keyByID(id)
		return k, k != nil
	}
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			k, ok := get(d, c)
			if !ok {
				return invalidSelectors()
			}
			return wsmantest.GetResponse(c.req, inst(k))
		},
		del: func(d *Device, c *call) wsmantest.Reply {
			k, ok := get(d, c)
			if !ok {
				return invalidSelectors()
			}
			for _, e := range d.st.certs {
				// A trusted root is no key pair's certificate.
				if !e.trustedRoot && pubEqual(e.cert.PublicKey, k.key.Public()) && d.certInUse(e.handle) {
					return internalError(amt.StatusNotPermitted)
				}
			}
			d.st.keys = slices.DeleteFunc(d.st.keys, func(x *keyEntry) bool { return x == k })
			return wsmantest.DeleteResponse(c.req)
		},
		keys: keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element {
			out := make([]*etree.Element, len(d.st.keys))
			for i, k := range d.st.keys {
				out[i] = inst(k)
			}
			return out
		},
	}
}
