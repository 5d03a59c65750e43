package transcript_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/require"
)

// The transcript secrets audit. Sessions against simulated devices and
// against fakes that echo secrets back in every place an envelope or an
// HTTP exchange has room for are recorded; the transcript, as written to
// disk, as decoded, and with its envelopes' XML entities resolved, must hold
// no form of any secret. The forms are those of the provisioning secrets
// audit (provisioning/secrets_test.go: passwordForms and keyForms) — each
// password raw, in base64, as HTTP Basic credentials for each user, and as
// digest A1 in both AMT encodings (hex, NetworkAdminPassword; base64,
// DigestPassword) for each user and realm; each private key as PKCS#1 and
// PKCS#8 base64, PKCS#8 hex, every PEM body line past the public modulus,
// and its private numbers in decimal, hex and base64 — plus the OTPs, the
// PPS (plain and grouped), and the digest nonces, client nonces and
// responses seen on the wire.

// secretForms is every text form of one secret worth looking for (the
// provisioning audit's type, mirrored).
type secretForms map[string]string

func (f secretForms) merge(o secretForms) {
	for k, v := range o {
		f[k] = v
	}
}

// passwordForms mirrors provisioning/secrets_test.go's passwordForms.
func passwordForms(name, p string, users []string, realms []string) secretForms {
	f := secretForms{}
	if p == "" {
		return f
	}
	pw := amt.NewSecret(p)
	f[name] = p
	f[name+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(p))
	for _, u := range users {
		for _, realm := range realms {
			f[name+" A1 hex for "+u+" in "+realm] = amt.DigestA1Hex(u, realm, pw).Reveal()
			f[name+" A1 base64 for "+u+" in "+realm] = amt.DigestA1Base64(u, realm, pw).Reveal()
		}
		f[name+" basic auth for "+u] = base64.StdEncoding.EncodeToString([]byte(u + ":" + p))
	}
	return f
}

// keyForms mirrors provisioning/secrets_test.go's keyForms (RSA keys), with
// the SEC 1 and PKCS#8 forms of an ECDSA key added.
func keyForms(name string, k any) secretForms {
	f := secretForms{}
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	f[name+" PKCS#8 base64"] = base64.StdEncoding.EncodeToString(p8)
	f[name+" PKCS#8 hex"] = hex.EncodeToString(p8)
	for i, line := range strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})), "\n") {
		if len(line) == 64 && i > 8 {
			f[fmt.Sprintf("%s PEM line %d", name, i)] = line
		}
	}
	nums := map[string]*big.Int{}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		f[name+" PKCS#1 base64"] = base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PrivateKey(k))
		nums["D"] = k.D
		for i, p := range k.Primes {
			nums[fmt.Sprintf("prime %d", i)] = p
		}
	case *ecdsa.PrivateKey:
		sec1, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			panic(err)
		}
		f[name+" SEC1 base64"] = base64.StdEncoding.EncodeToString(sec1)
		b, _ := k.Bytes()
		nums["D"] = new(big.Int).SetBytes(b)
	}
	for n, v := range nums {
		f[name+" "+n+" decimal"] = v.String()
		f[name+" "+n+" hex"] = v.Text(16)
		f[name+" "+n+" base64"] = base64.StdEncoding.EncodeToString(v.Bytes())
	}
	return f
}

// findSecrets returns the names of the forms present in text (forms of six
// characters or more, as in the provisioning audit).
func findSecrets(text string, forms secretForms) []string {
	var found []string
	for name, s := range forms {
		if len(s) >= 6 && strings.Contains(text, s) {
			found = append(found, name)
		}
	}
	sort.Strings(found)
	return found
}

// wire captures, below HTTP, what a plain-HTTP client sent and received, so
// the test knows the digest nonces, client nonces and responses of the
// session (the recorder never sees them).
type wire struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

type wireConn struct {
	net.Conn
	w *wire
}

func (c wireConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.w.mu.Lock()
	c.w.buf.Write(b[:n])
	c.w.mu.Unlock()
	return n, err
}

func (c wireConn) Write(b []byte) (int, error) {
	c.w.mu.Lock()
	c.w.buf.Write(b)
	c.w.mu.Unlock()
	return c.Conn.Write(b)
}

func (w *wire) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return wireConn{c, w}, nil
}

var digestValue = regexp.MustCompile(`(?i)\b(nonce|cnonce|response|opaque)="?([^",\s]+)`)

// digestForms returns the nonce, cnonce, response and opaque values on the
// wire.
func (w *wire) digestForms() secretForms {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := secretForms{}
	sc := bufio.NewScanner(bytes.NewReader(w.buf.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(strings.ToLower(line), "authorization:") && !strings.HasPrefix(strings.ToLower(line), "www-authenticate:") {
			continue
		}
		for _, m := range digestValue.FindAllStringSubmatch(line, -1) {
			f["digest "+strings.ToLower(m[1])+" "+m[2]] = m[2]
		}
	}
	return f
}

// echoFake answers every request with a body it is given, after capturing
// the request.
func echoFake(t *testing.T, answer func(*wsmantest.Request) wsmantest.Reply, wrap func(http.Handler) http.Handler) *httptest.Server {
	var h http.Handler = wsmantest.Handler(answer)
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestTranscriptHoldsNoSecret(t *testing.T) {
	ctx := t.Context()
	keys := certstest.NewKeyPool()
	var (
		adminPW  = "Adm1n-Pa$$word&<x>"
		admin2PW = "N3w-Admin!Passw0rd"
		mebxPW   = "MEBx-P4ss!word"
		userPW   = "H3lp-desk!Secr3t"
		pacPW    = "P4c-Passw0rd!8021x"
		dot1xPW  = "D0t1x-Passw0rd!"
		otp      = "0tp-Agent-42"
		otp2     = "0tp-Second-77"
	)
	pair, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	addKey, err := keys.RSA(2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	strayKey, err := keys.RSA(2048)
	require.NoError(t, err)

	rec := transcript.NewRecorder(transcript.Options{Identifying: true})
	w := &wire{}
	var realms []string
	users := []string{"admin", "$$OsAdmin", "helpdesk", "operator"}

	// 1. A simulated AMT 16.1 device: host-based activation through the local
	// account, then the admin account sets every secret AMT takes.
	d, err := amtsim.New(amtsim.Config{Keys: amtsim.PoolKeys(keys), HostName: "pc-7", DomainName: "corp.contoso.com"})
	require.NoError(t, err)
	require.NoError(t, d.Start(ctx))
	t.Cleanup(func() { _ = d.Close() })
	realms = append(realms, d.DigestRealm())
	localUser, localPW := d.LocalSystemAccount()
	for _, p := range [][2]string{{localUser, localPW.Reveal()}, {"admin", adminPW}, {"admin", admin2PW}, {"helpdesk", userPW}} {
		rec.AddPassword(p[0], p[1])
	}
	for _, s := range []string{mebxPW, pacPW, dot1xPW, otp, otp2, pair.PPS.Reveal(), pair.MEBxPassword.Reveal()} {
		rec.AddSecret(s)
	}
	rec.AddPrivateKey(strayKey)
	// Secret bytes with no text form of their own (a PSK, a sealing key).
	blob := []byte("\x8a\x01\xfe\x33 a 32-byte key, not text \x00\x7f\xc0")
	rec.AddSecretBytes(blob)

	lc, err := amt.NewClient(d.HTTPEndpoint(), wsman.WithDigestAuth(localUser, localPW.Reveal()), wsman.WithDialer(w.dial))
	require.NoError(t, err)
	t.Cleanup(lc.CloseIdleConnections)
	local := amt.NewDevice(lc.WithRecorder(rec))
	gs, err := local.GeneralSettings(ctx)
	require.NoError(t, err)
	require.NoError(t, local.Setup(ctx, amt.NewSecret(adminPW), gs.DigestRealm, nil), "host-based Setup (NetworkAdminPassword: hex A1)")

	ac, err := amt.NewClient(d.HTTPEndpoint(), wsman.WithDigestAuth("admin", adminPW), wsman.WithDialer(w.dial))
	require.NoError(t, err)
	t.Cleanup(ac.CloseIdleConnections)
	rac := ac.WithRecorder(rec)
	dev := amt.NewDevice(rac)
	_, err = dev.AddUserACLEntryEx(ctx, amt.UserACLEntryRequest{Username: "helpdesk", Password: amt.NewSecret(userPW), DigestRealm: gs.DigestRealm,
		Realms: []amt.Realm{amt.RealmRemoteControl}, Access: amt.AccessNetwork})
	require.NoError(t, err, "AddUserAclEntryEx (DigestPassword: base64 A1)")
	_, _ = dev.UserACLEntries(ctx)
	_, err = dev.AddKey(ctx, addKey)
	require.NoError(t, err, "AddKey (KeyBlob: a private key)")
	_ = dev.SetMEBxPassword(ctx, amt.NewSecret(mebxPW)) // refused in client control mode; the request is recorded
	if p, err := dev.IEEE8021xProfile(ctx); err == nil {
		p.Password, p.PACPassword = amt.NewSecret(dot1xPW), amt.NewSecret(pacPW)
		_, _ = dev.PutIEEE8021xProfile(ctx, p)
	}
	require.NoError(t, dev.SetAdminACLEntryEx(ctx, "admin", amt.NewSecret(admin2PW), gs.DigestRealm), "SetAdminAclEntryEx (DigestPassword)")
	rac.SetCredentials("admin", admin2PW)
	_, err = dev.SetupAndConfiguration(ctx)
	require.NoError(t, err)

	// 2. A device an agent started remote configuration on: the OTP is in
	// AMT_SetupAndConfigurationService while in provisioning.
	d2, err := amtsim.New(amtsim.Config{Keys: amtsim.PoolKeys(keys)})
	require.NoError(t, err)
	require.NoError(t, d2.Start(ctx))
	t.Cleanup(func() { _ = d2.Close() })
	require.NoError(t, d2.StartConfiguration(amt.NewSecret(otp)))
	realms = append(realms, d2.DigestRealm())
	lu2, lp2 := d2.LocalSystemAccount()
	rec.AddPassword(lu2, lp2.Reveal())
	lc2, err := amt.NewClient(d2.HTTPEndpoint(), wsman.WithDigestAuth(lu2, lp2.Reveal()), wsman.WithDialer(w.dial))
	require.NoError(t, err)
	t.Cleanup(lc2.CloseIdleConnections)
	sc, err := amt.NewDevice(lc2.WithRecorder(rec)).SetupAndConfiguration(ctx)
	require.NoError(t, err)
	require.Equal(t, otp, sc.OTP.Reveal(), "the device did send its OTP")

	// 3. A fake that takes what the simulator refuses and answers with
	// secrets everywhere an envelope has room: unknown elements, attributes,
	// CDATA, comments, escaped text, a fault reason, headers, a non-envelope
	// body; the private keys in PEM and hex; the PPS grouped.
	fakeRealm := "Digest:0123456789ABCDEF0123456789ABCDEF"
	realms = append(realms, fakeRealm)
	a1hex := amt.DigestA1Hex("admin", fakeRealm, amt.NewSecret(adminPW)).Reveal()
	a1b64 := amt.DigestA1Base64("helpdesk", fakeRealm, amt.NewSecret(userPW)).Reveal()
	p8, _ := x509.MarshalPKCS8PrivateKey(strayKey)
	ecPEM := func() string {
		b, _ := x509.MarshalECPrivateKey(ecKey)
		return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b}))
	}()
	escaped := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	body := `<h:Echo_OUTPUT xmlns:h="http://example.com/Echo" h:note="` + escaped(otp2) + `">` +
		`<h:Note>` + escaped(adminPW) + `</h:Note>` +
		`<h:Raw><![CDATA[` + userPW + `]]></h:Raw>` +
		`<!-- ` + mebxPW + ` -->` +
		`<h:Hex>` + a1hex + `</h:Hex><h:B64>` + a1b64 + `</h:B64>` +
		`<h:Key>` + ecPEM + `</h:Key>` +
		`<h:KeyHex>` + hex.EncodeToString(p8) + `</h:KeyHex>` +
		`<h:Blob>` + base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PrivateKey(addKey)) + `</h:Blob>` +
		`<h:Grouped>` + pair.PPS.RevealGrouped() + `</h:Grouped>` +
		`<h:Mixed>before ` + pair.PPS.Reveal() + ` after</h:Mixed>` +
		`<h:BlobB64>` + base64.StdEncoding.EncodeToString(blob) + `</h:BlobB64><h:BlobHex>` + hex.EncodeToString(blob) + `</h:BlobHex>` +
		`<h:ReturnValue>0</h:ReturnValue></h:Echo_OUTPUT>`
	fake := echoFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if strings.HasSuffix(r.Action, "/Fail") {
			return wsmantest.FaultReply(wsmantest.SenderFault("InvalidParameter", "bad password "+adminPW+" for "+otp))
		}
		doc, err := xmlElement(body)
		require.NoError(t, err)
		return wsmantest.Reply{Action: r.Action + "Response", Body: []*etree.Element{doc}}
	}, func(next http.Handler) http.Handler {
		// The fake is a digest server of its own realm, as a device is: the
		// recording learns realms from challenges (a digest hash for a realm
		// the session never met cannot be recognised by its value).
		next = (&wsmantest.DigestAuth{Realm: fakeRealm, Password: func(u string) (string, bool) { return adminPW, u == "admin" }}).Wrap(next)
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("X-Debug-Password", adminPW)
			rw.Header().Set("Server", "Fake AMT "+otp)
			if strings.Contains(r.Header.Get("Content-Type"), "soap") && r.URL.Query().Get("raw") != "" {
				rw.Header().Set("Content-Type", "text/plain")
				_, _ = io.WriteString(rw, "password="+adminPW)
				return
			}
			next.ServeHTTP(rw, r)
		})
	})
	fc, err := wsman.New(fake.URL+"/wsman", wsman.WithDigestAuth("admin", adminPW))
	require.NoError(t, err)
	t.Cleanup(fc.CloseIdleConnections)
	rfc := fc.WithRecorder(rec)
	const echo = "http://example.com/Echo"
	_, err = rfc.Invoke(ctx, echo, "Echo", wsman.SelectorSet{wsman.Sel("Password", adminPW), wsman.Sel("Name", otp2)},
		wsman.NewInput(echo, "Echo", wsman.Prop("Comment", "my otp is "+otp), wsman.Prop("PPS", pair.PPS.Reveal())))
	require.NoError(t, err)
	_, err = rfc.Invoke(ctx, echo, "Fail", nil, nil)
	require.Error(t, err)
	_, err = rfc.Put(ctx, amt.URISetupAndConfigurationService, nil, wsman.NewInstance(amt.URISetupAndConfigurationService,
		wsman.Prop("ProvisioningServerOTP", base64.StdEncoding.EncodeToString([]byte(otp2)))))
	require.NoError(t, err)
	rawc, err := wsman.New(fake.URL + "/wsman?raw=1")
	require.NoError(t, err)
	_, _ = rawc.WithRecorder(rec).Get(ctx, echo, nil)
	bc, err := wsman.New(fake.URL+"/wsman", wsman.WithBasicAuth("operator", userPW), wsman.AllowBasicOverHTTP())
	require.NoError(t, err)
	_, _ = bc.WithRecorder(rec).Get(ctx, echo, nil)

	// Every form of every secret.
	forms := secretForms{}
	for _, p := range []struct{ name, pw string }{{"admin password", adminPW}, {"new admin password", admin2PW},
		{"user password", userPW}, {"local account password", localPW.Reveal()}, {"second local account password", lp2.Reveal()},
		{"MEBx password", mebxPW}, {"802.1X password", dot1xPW}, {"PAC password", pacPW}, {"PSK pair MEBx password", pair.MEBxPassword.Reveal()}} {
		forms.merge(passwordForms(p.name, p.pw, users, realms))
	}
	forms.merge(passwordForms("OTP", otp, nil, nil))
	forms.merge(passwordForms("second OTP", otp2, nil, nil))
	forms.merge(passwordForms("PPS", pair.PPS.Reveal(), nil, nil))
	forms["PPS grouped"] = pair.PPS.RevealGrouped()
	forms["secret bytes, base64"] = base64.StdEncoding.EncodeToString(blob)
	forms["secret bytes, hex"] = hex.EncodeToString(blob)
	forms.merge(keyForms("AddKey key", addKey))
	forms.merge(keyForms("stray key", strayKey))
	forms.merge(keyForms("ECDSA key", ecKey))
	forms.merge(w.digestForms())

	tr := rec.Transcript(transcript.Provenance{Source: transcript.SourceSimulator, RecordedBy: "amtkit tests", Tool: "secrets_test"})
	path := filepath.Join(t.TempDir(), "t.json")
	require.NoError(t, tr.WriteFile(path))
	file, err := os.ReadFile(path)
	require.NoError(t, err)
	decoded, err := transcript.ReadFile(path)
	require.NoError(t, err)
	texts := []string{string(file)}
	for _, x := range decoded.Exchanges {
		texts = append(texts, x.Request.Body, x.Error, x.Request.Selectors, fmt.Sprint(x.Request.Header))
		texts = append(texts, xmlText(x.Request.Body))
		if x.Response != nil {
			texts = append(texts, x.Response.Body, xmlText(x.Response.Body), fmt.Sprint(x.Response.Header))
		}
	}
	js, _ := json.Marshal(decoded)
	texts = append(texts, string(js))
	all := strings.Join(texts, "\n")
	if p := os.Getenv("AMTKIT_TRANSCRIPT_DUMP"); p != "" {
		require.NoError(t, os.WriteFile(p, file, 0o600))
	}

	// The session did what the test claims, and the detector works.
	require.Greater(t, len(decoded.Exchanges), 20)
	for _, want := range []string{"AddKey", "AddUserAclEntryEx", "SetAdminAclEntryEx", "/Setup", "SetMEBxPassword", "ProvisioningServerOTP", "AMT_8021XProfile", "Basic " + wsman.Redacted} {
		require.Contains(t, all, want)
	}
	require.NotEmpty(t, findSecrets(all+adminPW, forms))
	require.NotEmpty(t, findSecrets(all+hex.EncodeToString(p8), forms))
	digests := 0
	for name := range forms {
		if strings.HasPrefix(name, "digest ") {
			digests++
		}
	}
	require.Greater(t, digests, 10, "the wire capture saw the digest exchanges")

	found := findSecrets(all, forms)
	t.Logf("redaction: %d secret forms tried (%d from the wire's digest headers) over %d exchanges, %d KiB of transcript; leaks found: %d",
		len(forms), digests, len(decoded.Exchanges), len(file)>>10, len(found))
	t.Logf("redaction counts: masked %d, replaced %d, removed %d; headers dropped: %v", decoded.Provenance.Redaction.Masked,
		decoded.Provenance.Redaction.Replaced, decoded.Provenance.Redaction.Removed, decoded.Provenance.Redaction.Dropped)
	for _, name := range found {
		s := forms[name]
		i := strings.Index(all, s)
		lo, hi := max(0, i-200), min(len(all), i+len(s)+80)
		t.Errorf("secret %q is in the transcript: …%s…", name, strings.ReplaceAll(all[lo:hi], s, "<<"+name+">>"))
	}
}

func xmlElement(s string) (*etree.Element, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromString(s); err != nil {
		return nil, err
	}
	return doc.Root(), nil
}

// xmlText returns the decoded text and attribute values of an envelope, so
// a secret written with entities is found too.
func xmlText(s string) string {
	var b strings.Builder
	dec := xml.NewDecoder(strings.NewReader(s))
	for {
		tok, err := dec.Token()
		if err != nil {
			return b.String()
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.Comment:
			b.Write(t)
		case xml.StartElement:
			for _, a := range t.Attr {
				b.WriteString(" " + a.Value)
			}
		}
		b.WriteByte(' ')
	}
}
