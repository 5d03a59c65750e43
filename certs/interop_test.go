//go:build interop

package certs_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/internal/testenv"
)

// openssl runs the openssl command line in dir and returns its combined output.
func openssl(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	bin := testenv.LookPath(t, "openssl")
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustOpenSSL(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := openssl(t, dir, args...)
	require.NoError(t, err, "openssl %s:\n%s", strings.Join(args, " "), out)
	return out
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func pemBlocks(data []byte) (certsDER [][]byte, keys [][]byte) {
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return
		}
		switch blk.Type {
		case "CERTIFICATE":
			certsDER = append(certsDER, blk.Bytes)
		case "PRIVATE KEY":
			keys = append(keys, blk.Bytes)
		}
	}
}

// TestInteropOpenSSLWritesPKCS12: files that `openssl pkcs12 -export` writes in
// AES (OpenSSL 3 default), 3DES and RC2-40 (-legacy) decode; so do SHA-384 and
// SHA-512 MACs (-macalg) and PBES2 with DES-EDE3-CBC, AES-128-CBC and
// AES-192-CBC (-keypbe, -certpbe).
func TestInteropOpenSSLWritesPKCS12(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{Intermediates: 2})
	keyPEM, err := certs.EncodePEM(certs.Bundle{Chain: c.Chain[:1], Key: c.Key})
	require.NoError(t, err)
	writeFile(t, dir, "leaf.pem", keyPEM)
	// The CA certificates root first: OpenSSL keeps the order it is given.
	writeFile(t, dir, "cas.pem", certs.EncodeCertificatesPEM([]*x509.Certificate{c.Chain[3], c.Chain[1], c.Chain[2]}))
	for _, tc := range []struct {
		name, info string
		args       []string
	}{
		{"AES", "AES-256-CBC", nil},
		{"3DES", "pbeWithSHA1And3-KeyTripleDES-CBC", []string{"-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1"}},
		{"RC2", "pbeWithSHA1And40BitRC2-CBC", []string{"-legacy"}},
		{"MAC-SHA384", "MAC: sha384", []string{"-macalg", "sha384"}},
		{"MAC-SHA512", "MAC: sha512", []string{"-macalg", "sha512"}},
		{"PBES2-3DES", "PBES2, PBKDF2, DES-EDE3-CBC", []string{"-keypbe", "des-ede3-cbc", "-certpbe", "des-ede3-cbc"}},
		{"PBES2-3DES-MAC-SHA384", "MAC: sha384", []string{"-keypbe", "des-ede3-cbc", "-certpbe", "des-ede3-cbc", "-macalg", "sha384"}},
		{"PBES2-AES128", "PBES2, PBKDF2, AES-128-CBC", []string{"-keypbe", "aes-128-cbc", "-certpbe", "aes-128-cbc"}},
		{"PBES2-AES192", "PBES2, PBKDF2, AES-192-CBC", []string{"-keypbe", "aes-192-cbc", "-certpbe", "aes-192-cbc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.name + ".p12"
			args := append([]string{"pkcs12", "-export", "-inkey", "leaf.pem", "-in", "leaf.pem", "-certfile", "cas.pem",
				"-passout", "pass:" + pw.Reveal(), "-out", out}, tc.args...)
			mustOpenSSL(t, dir, args...)
			info, _ := openssl(t, dir, "pkcs12", "-in", out, "-passin", "pass:"+pw.Reveal(), "-info", "-noout", "-legacy")
			assert.Contains(t, info, tc.info, "openssl wrote the encoding we meant to test")
			data, err := os.ReadFile(filepath.Join(dir, out))
			require.NoError(t, err)
			b, err := certs.LoadPKCS12(data, pw)
			require.NoError(t, err)
			assert.Equal(t, c.Chain, b.Chain)
			assert.True(t, c.Key.(*rsa.PrivateKey).Equal(b.Key))
			_, err = certs.LoadPKCS12(data, amt.NewSecret("not the password"))
			assert.ErrorIs(t, err, pkcs12.ErrIncorrectPassword)
		})
	}
}

// TestInteropOpenSSLReadsPKCS12: files we encode are read back by `openssl pkcs12`.
func TestInteropOpenSSLReadsPKCS12(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{})
	for _, tc := range []struct {
		enc    certs.PKCS12Encoding
		info   []string
		legacy bool
	}{
		{certs.PKCS12Modern2023, []string{"MAC: sha256", "PBES2, PBKDF2, AES-256-CBC"}, false},
		{certs.PKCS12LegacyDES, []string{"MAC: sha1", "pbeWithSHA1And3-KeyTripleDES-CBC"}, false},
		{certs.PKCS12LegacyRC2, []string{"MAC: sha1", "pbeWithSHA1And40BitRC2-CBC"}, true},
	} {
		t.Run(pkcs12Name(tc.enc), func(t *testing.T) {
			der, err := certs.EncodePKCS12(c.Bundle, pw, certs.PKCS12Options{Encoding: tc.enc})
			require.NoError(t, err)
			name := pkcs12Name(tc.enc) + ".p12"
			writeFile(t, dir, name, der)
			args := []string{"pkcs12", "-in", name, "-passin", "pass:" + pw.Reveal(), "-nodes"}
			if tc.legacy {
				args = append(args, "-legacy")
			}
			out := mustOpenSSL(t, dir, args...)
			certsDER, keys := pemBlocks([]byte(out))
			require.Len(t, certsDER, 3)
			for i := range c.Chain {
				assert.Equal(t, c.Chain[i].Raw, certsDER[i], "certificate %d in the order written", i)
			}
			require.Len(t, keys, 1)
			k, err := x509.ParsePKCS8PrivateKey(keys[0])
			require.NoError(t, err)
			assert.True(t, c.Key.(*rsa.PrivateKey).Equal(k))
			info := mustOpenSSL(t, dir, append(args[:5:5], "-info", "-noout", "-legacy")...)
			for _, s := range tc.info {
				assert.Contains(t, info, s)
			}
			_, err = openssl(t, dir, "pkcs12", "-in", name, "-passin", "pass:wrong", "-nodes", "-legacy")
			assert.Error(t, err, "openssl refuses a wrong password")
		})
	}
	// OpenSSL before 3.4 cannot verify the PBMAC1 MAC of Modern2026; report it.
	der, err := certs.EncodePKCS12(c.Bundle, pw, certs.PKCS12Options{Encoding: certs.PKCS12Modern2026})
	require.NoError(t, err)
	writeFile(t, dir, "m2026.p12", der)
	out, err := openssl(t, dir, "pkcs12", "-in", "m2026.p12", "-passin", "pass:"+pw.Reveal(), "-nodes")
	ver, _ := openssl(t, dir, "version")
	t.Logf("Modern2026 with %s: err=%v %s", strings.TrimSpace(ver), err, firstLine(out))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// TestInteropOpenSSLVerify: chains we make pass `openssl verify`.
func TestInteropOpenSSLVerify(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t)
	attime := strconv.FormatInt(t0.Unix(), 10)
	for _, tc := range []struct {
		name string
		opts certstest.ProvisioningOptions
	}{
		{"one intermediate", certstest.ProvisioningOptions{}},
		{"no intermediate", certstest.ProvisioningOptions{NoIntermediate: true}},
		{"three intermediates", certstest.ProvisioningOptions{Intermediates: 3}},
		{"wildcard", certstest.ProvisioningOptions{FQDN: "*.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.chain(t, tc.opts)
			n := len(c.Chain)
			writeFile(t, dir, "root.pem", certs.EncodeCertificatesPEM(c.Chain[n-1:]))
			writeFile(t, dir, "untrusted.pem", certs.EncodeCertificatesPEM(c.Chain[1:n-1]))
			writeFile(t, dir, "leaf.pem", certs.EncodeCertificatesPEM(c.Chain[:1]))
			args := []string{"verify", "-attime", attime, "-purpose", "sslserver", "-CAfile", "root.pem"}
			if n > 2 {
				args = append(args, "-untrusted", "untrusted.pem")
			}
			out := mustOpenSSL(t, dir, append(args, "leaf.pem")...)
			assert.Contains(t, out, "leaf.pem: OK")
		})
	}
	// A device TLS certificate issued for a key AMT holds (PKCS#1 DERKey).
	amtKey := f.keys.MustRSA(t, 2048)
	pub, err := certs.ParsePublicKey(x509.MarshalPKCS1PublicKey(&amtKey.PublicKey))
	require.NoError(t, err)
	tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "amt-9.example.com", CertOptions: certs.CertOptions{Now: fixedNow}})
	require.NoError(t, err)
	chain, err := f.inter.Issue(t.Context(), tmpl, pub)
	require.NoError(t, err)
	writeFile(t, dir, "root.pem", certs.EncodeCertificatesPEM(chain[2:]))
	writeFile(t, dir, "untrusted.pem", certs.EncodeCertificatesPEM(chain[1:2]))
	writeFile(t, dir, "amt.pem", certs.EncodeCertificatesPEM(chain[:1]))
	out := mustOpenSSL(t, dir, "verify", "-attime", attime, "-purpose", "sslserver", "-verify_hostname", "amt-9.example.com",
		"-CAfile", "root.pem", "-untrusted", "untrusted.pem", "amt.pem")
	assert.Contains(t, out, "amt.pem: OK")

	// Negative: another root, and an expired leaf, are refused by openssl too.
	other := certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: fixedNow})
	writeFile(t, dir, "other.pem", certs.EncodeCertificatesPEM([]*x509.Certificate{other.RootCertificate()}))
	_, err = openssl(t, dir, "verify", "-attime", attime, "-CAfile", "other.pem", "-untrusted", "untrusted.pem", "amt.pem")
	assert.Error(t, err)
	_, err = openssl(t, dir, "verify", "-attime", strconv.FormatInt(t0.Add(400*certs.Day).Unix(), 10), "-CAfile", "root.pem",
		"-untrusted", "untrusted.pem", "amt.pem")
	assert.Error(t, err)
}

// TestInteropOpenSSLText: openssl's reading of our templates shows the EKUs, OU,
// SANs and UPN.
func TestInteropOpenSSLText(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t)
	key := f.keys.MustRSA(t, 2048)
	issue := func(tmpl *x509.Certificate, err error) string {
		t.Helper()
		require.NoError(t, err)
		c, err := f.inter.IssueCert(tmpl, key.Public())
		require.NoError(t, err)
		writeFile(t, dir, "c.pem", certs.EncodeCertificatesPEM([]*x509.Certificate{c}))
		return mustOpenSSL(t, dir, "x509", "-in", "c.pem", "-noout", "-text", "-nameopt", "RFC2253")
	}
	prov := issue(certs.ProvisioningTemplate(certs.ProvisioningTemplateOptions{FQDN: "prov.example.com", CertOptions: certs.CertOptions{Now: fixedNow}}))
	for _, s := range []string{"TLS Web Server Authentication, 2.16.840.1.113741.1.2.3", "OU=Intel(R) Client Setup Certificate",
		"CN=prov.example.com", "DNS:prov.example.com", "Digital Signature, Key Encipherment", "CA:FALSE", "sha256WithRSAEncryption"} {
		assert.Contains(t, prov, s)
	}
	ouOnly := issue(certs.ProvisioningTemplate(certs.ProvisioningTemplateOptions{FQDN: "prov.example.com", Marker: certs.MarkerOU, CertOptions: certs.CertOptions{Now: fixedNow}}))
	assert.NotContains(t, ouOnly, "2.16.840.1.113741.1.2.3")
	assert.Contains(t, ouOnly, "OU=Intel(R) Client Setup Certificate")

	dev := issue(certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "amt-1.example.com", CertOptions: certs.CertOptions{Now: fixedNow}}))
	assert.Contains(t, dev, "TLS Web Server Authentication")
	assert.Contains(t, dev, "DNS:amt-1.example.com")
	dot := issue(certs.IEEE8021XTemplate(certs.IEEE8021XTemplateOptions{FQDN: "amt-1.example.com", UPN: "AMT-1$@example.com", CertOptions: certs.CertOptions{Now: fixedNow}}))
	assert.Contains(t, dot, "TLS Web Client Authentication")
	assert.Contains(t, dot, "AMT-1$@example.com")
	assert.Regexp(t, `othername:\s*UPN:+AMT-1\$@example.com`, dot)
}

// TestInteropOpenSSLRequests: `openssl req -verify` accepts our PKCS#10 requests,
// and requests OpenSSL signs pass AMTRequest.Verify.
func TestInteropOpenSSLRequests(t *testing.T) {
	dir := t.TempDir()
	keys := certstest.NewKeyPool()
	key := keys.MustRSA(t, 2048)
	der, err := certs.ProvisioningRequest(certs.ProvisioningRequestOptions{FQDN: "prov.example.com"}, key, nil)
	require.NoError(t, err)
	writeFile(t, dir, "prov.csr", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	out := mustOpenSSL(t, dir, "req", "-in", "prov.csr", "-verify", "-noout", "-text", "-nameopt", "RFC2253")
	assert.Contains(t, out, "verify OK")
	assert.Contains(t, out, "CN=prov.example.com,OU=Intel(R) Client Setup Certificate")
	assert.Contains(t, out, "Requested Extensions")
	assert.Contains(t, out, "TLS Web Server Authentication, 2.16.840.1.113741.1.2.3")
	assert.Contains(t, out, "DNS:prov.example.com")

	// AMT request: body around AMT's key, signed by a local key standing in for AMT.
	amtKey := keys.MustRSA(t, 2048)
	req, err := certs.NewAMTRequest(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "amt-3.example.com"}, DNSNames: []string{"amt-3.example.com"}}, &amtKey.PublicKey)
	require.NoError(t, err)
	d := sha256.Sum256(req.Info)
	sig, err := rsa.SignPKCS1v15(rand.Reader, amtKey, crypto.SHA256, d[:])
	require.NoError(t, err)
	signed, err := req.Assemble(x509.SHA256WithRSA, sig, true)
	require.NoError(t, err)
	writeFile(t, dir, "amt.csr", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: signed}))
	out = mustOpenSSL(t, dir, "req", "-in", "amt.csr", "-verify", "-noout", "-text")
	assert.Contains(t, out, "verify OK")
	assert.Contains(t, out, "DNS:amt-3.example.com")
	writeFile(t, dir, "null.csr", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: req.NullSigned()}))
	out, _ = openssl(t, dir, "req", "-in", "null.csr", "-verify", "-noout")
	assert.Contains(t, out, "verify failure", "the placeholder signature does not verify")
	assert.NotContains(t, out, "verify OK")
	out = mustOpenSSL(t, dir, "req", "-in", "null.csr", "-noout", "-subject", "-nameopt", "RFC2253")
	assert.Contains(t, out, "CN=amt-3.example.com", "openssl parses the null-signed request")

	// A request OpenSSL encodes on its own and signs with the "AMT" key passes
	// Verify when it asks for what req asked (same subject and names, however
	// encoded), and is refused when it asks for something else: one without
	// the DNS name, one for another name.
	keyPEM, err := certs.EncodePEM(certs.Bundle{Key: amtKey})
	require.NoError(t, err)
	writeFile(t, dir, "amt.key", keyPEM)
	osslRequest := func(name string, args ...string) []byte {
		mustOpenSSL(t, dir, append([]string{"req", "-new", "-key", "amt.key", "-sha256", "-outform", "DER", "-out", name}, args...)...)
		der, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return der
	}
	got, err := req.Verify(osslRequest("same.csr", "-subj", "/CN=amt-3.example.com", "-addext", "subjectAltName=DNS:amt-3.example.com"))
	require.NoError(t, err)
	assert.Equal(t, "amt-3.example.com", got.Subject.CommonName)
	_, err = req.Verify(osslRequest("nosan.csr", "-subj", "/CN=amt-3.example.com"))
	require.ErrorIs(t, err, certs.ErrRequestChanged)
	_, err = req.Verify(osslRequest("other.csr", "-subj", "/CN=amt-3.example.com", "-addext", "subjectAltName=DNS:*.example.com"))
	require.ErrorIs(t, err, certs.ErrRequestChanged)
}

// TestInteropOpenSSLCRL: our CRLs verify in openssl and revoke in `openssl
// verify -crl_check`; a CRL `openssl ca -gencrl` writes is read by CheckCRL.
func TestInteropOpenSSLCRL(t *testing.T) {
	dir := t.TempDir()
	keys := &certstest.KeyPool{Reuse: true}
	now := time.Now().UTC().Truncate(time.Second)
	root := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys, Now: func() time.Time { return now }})
	good := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{Root: root, NoIntermediate: true, Keys: keys, Now: func() time.Time { return now }})
	bad := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{Root: root, NoIntermediate: true, Keys: keys, Now: func() time.Time { return now }})
	require.NoError(t, root.Revoke(t.Context(), bad.Leaf(), certs.RevocationSuperseded))
	_, crlDER, err := root.CRL(0)
	require.NoError(t, err)
	writeFile(t, dir, "crl.pem", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crlDER}))
	writeFile(t, dir, "root.pem", certs.EncodeCertificatesPEM([]*x509.Certificate{root.RootCertificate()}))
	writeFile(t, dir, "good.pem", certs.EncodeCertificatesPEM(good.Chain[:1]))
	writeFile(t, dir, "bad.pem", certs.EncodeCertificatesPEM(bad.Chain[:1]))
	out := mustOpenSSL(t, dir, "crl", "-in", "crl.pem", "-CAfile", "root.pem", "-noout", "-text")
	assert.Contains(t, out, "verify OK")
	assert.Contains(t, out, "Superseded")
	assert.Contains(t, out, strings.ToUpper(bad.Leaf().SerialNumber.Text(16)))
	mustOpenSSL(t, dir, "verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "root.pem", "good.pem")
	out, err = openssl(t, dir, "verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "root.pem", "bad.pem")
	assert.Error(t, err)
	assert.Contains(t, out, "certificate revoked")

	// openssl ca -gencrl from an index listing bad's serial as superseded.
	caKey, err := certs.EncodePEM(certs.Bundle{Key: root.Key})
	require.NoError(t, err)
	writeFile(t, dir, "ca.key", caKey)
	exp := bad.Leaf().NotAfter.UTC().Format("060102150405Z")
	rev := now.Add(-time.Hour).Format("060102150405Z")
	index := fmt.Sprintf("R\t%s\t%s,superseded\t%s\tunknown\t/CN=%s\n", exp, rev, strings.ToUpper(bad.Leaf().SerialNumber.Text(16)), bad.Leaf().Subject.CommonName)
	writeFile(t, dir, "index.txt", []byte(index))
	writeFile(t, dir, "crlnumber", []byte("1000\n"))
	writeFile(t, dir, "ca.cnf", []byte("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\n"+
		"certificate = root.pem\nprivate_key = ca.key\n"))
	mustOpenSSL(t, dir, "ca", "-gencrl", "-config", "ca.cnf", "-out", "ossl-crl.pem")
	data, err := os.ReadFile(filepath.Join(dir, "ossl-crl.pem"))
	require.NoError(t, err)
	blk, _ := pem.Decode(data)
	require.NotNil(t, blk)
	crl, err := x509.ParseRevocationList(blk.Bytes)
	require.NoError(t, err)
	opts := certs.CRLOptions{Issuer: root.RootCertificate()}
	// openssl stamps thisUpdate with its own clock, which may have passed a
	// second boundary after now was taken: check at the CRL's own time.
	at := crl.ThisUpdate
	err = certs.CheckCRL(bad.Leaf(), crl, at, opts)
	var re *certs.RevokedError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, certs.RevocationSuperseded, re.Reason)
	assert.NoError(t, certs.CheckCRL(good.Leaf(), crl, at, opts))
	assert.ErrorIs(t, certs.CheckCRL(good.Leaf(), crl, at.Add(8*certs.Day), opts), certs.ErrCRLStale)
	assert.True(t, bytes.Contains(data, []byte("BEGIN X509 CRL")))
}
