package provisioning_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/pskx"
)

// Secrets audit: a full provisioning (PKI with a TLS certificate, user
// accounts and 802.1X; agent-initiated with a good and a bad OTP; a PSK
// device; a session whose connection drops after the MEBx password was set;
// an unknown device) runs with every log at debug level captured — the
// Provisioner's (WS-Man envelopes included), the hello listener's and every
// simulated device's — together with every Event (the event and its Err with
// %v and %+v), every returned error, every stored record formatted with %v
// and %+v, and Audit's findings. None of the admin, MEBx or user passwords,
// their digest A1 values (hex and base64), the OTPs, the PPS, or the private
// keys (the provisioning bundle's and every key the devices generated, as
// PEM, DER in base64 or hex, or the private numbers) may appear in that text.

// capture is a slog.Handler that keeps every record as text: the message and
// each attribute (groups flattened) with %v, %+v and JSON, so that whatever a
// real handler would print of a value is in the text.
type capture struct {
	mu     *sync.Mutex
	buf    *strings.Builder
	attrs  []slog.Attr
	groups []string
	n      *int
}

func newCapture() *capture {
	return &capture{mu: &sync.Mutex{}, buf: &strings.Builder{}, n: new(int)}
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %q", r.Level, strings.Join(c.groups, "."), r.Message)
	for _, a := range c.attrs {
		writeAttr(&b, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, "", a)
		return true
	})
	b.WriteByte('\n')
	c.mu.Lock()
	c.buf.WriteString(b.String())
	*c.n++
	c.mu.Unlock()
	return nil
}

func writeAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			writeAttr(b, prefix+a.Key+".", g)
		}
		return
	}
	x := v.Any()
	js, _ := json.Marshal(x)
	fmt.Fprintf(b, " %s%s=%v | %+v | %s", prefix, a.Key, x, x, js)
}

func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	cp := *c
	cp.attrs = append(append([]slog.Attr(nil), c.attrs...), as...)
	return &cp
}

func (c *capture) WithGroup(name string) slog.Handler {
	cp := *c
	cp.groups = append(append([]string(nil), c.groups...), name)
	return &cp
}

func (c *capture) add(format string, args ...any) {
	c.mu.Lock()
	fmt.Fprintf(c.buf, format+"\n", args...)
	c.mu.Unlock()
}

func (c *capture) text() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String(), *c.n
}

// recordingKeys is the simulated devices' key source; it remembers every key it
// handed out (device certificates, GenerateKeyPair, the On-Die CA).
type recordingKeys struct {
	src  amtsim.KeySource
	mu   sync.Mutex
	keys map[*rsa.PrivateKey]bool
}

func (r *recordingKeys) RSAKey(bits int) (*rsa.PrivateKey, error) {
	k, err := r.src.RSAKey(bits)
	if err == nil {
		r.mu.Lock()
		r.keys[k] = true
		r.mu.Unlock()
	}
	return k, err
}

// secretForms is every text form of one secret worth looking for.
type secretForms map[string]string // form name → text

func passwordForms(name string, pw amt.Secret, users []string, realm string) secretForms {
	f := secretForms{}
	if pw.IsZero() {
		return f
	}
	p := pw.Reveal()
	f[name] = p
	f[name+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(p))
	for _, u := range users {
		if realm != "" {
			f[name+" A1 hex for "+u] = amt.DigestA1Hex(u, realm, pw).Reveal()
			f[name+" A1 base64 for "+u] = amt.DigestA1Base64(u, realm, pw).Reveal()
		}
		f[name+" basic auth for "+u] = base64.StdEncoding.EncodeToString([]byte(u + ":" + p))
	}
	return f
}

func keyForms(name string, k *rsa.PrivateKey) secretForms {
	f := secretForms{}
	p1 := x509.MarshalPKCS1PrivateKey(k)
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	f[name+" PKCS#1 base64"] = base64.StdEncoding.EncodeToString(p1)
	f[name+" PKCS#8 base64"] = base64.StdEncoding.EncodeToString(p8)
	f[name+" PKCS#8 hex"] = hex.EncodeToString(p8)
	// Any one line of a PEM body (64 characters of the base64) gives it away.
	for i, line := range strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})), "\n") {
		if len(line) == 64 && i > 8 { // past the public modulus at the start
			f[fmt.Sprintf("%s PEM line %d", name, i)] = line
		}
	}
	nums := map[string]*big.Int{"D": k.D}
	for i, p := range k.Primes {
		nums[fmt.Sprintf("prime %d", i)] = p
	}
	for n, v := range nums {
		f[name+" "+n+" decimal"] = v.String()
		f[name+" "+n+" hex"] = v.Text(16)
		f[name+" "+n+" base64"] = base64.StdEncoding.EncodeToString(v.Bytes())
	}
	return f
}

// findSecrets returns the names of the forms present in text.
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

func TestNoSecretsInLogsEventsAndErrors(t *testing.T) {
	logs := newCapture()
	logger := slog.New(logs)

	pair, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	pskStore := &pskx.MemoryStore{}
	require.NoError(t, pskStore.Put(context.Background(), pair))
	keys := &recordingKeys{src: amtsim.PoolKeys(testKeys()), keys: map[*rsa.PrivateKey]bool{}}

	const (
		devPKI = iota
		devAgentGood
		devAgentBad
		devPSK
		devDropped
		devUnknown
		nDevices
	)
	goodOTP, badOTP := amt.NewSecret("0tp-Agent-42"), amt.NewSecret("0tp-Wrong-77")
	userPW := amt.NewSecret("H3lp-desk!Secr3t")
	wifiPass, peapPW := amt.NewSecret("W1fi-Passphrase-Secr3t"), amt.NewSecret("Peap-Secr3t-Pw")
	h := newHarness(t, harnessOptions{
		n: nDevices,
		template: func(c *amtsim.Config) {
			c.Logger = logger.With("sim", true)
			c.Keys = keys
		},
		device: func(i int, c *amtsim.Config) {
			switch i {
			case devPSK:
				c.Version = amt.MustParseVersion("6.2.10")
				c.PSK = &pair
			case devDropped:
				dropOp("SetAdminAclEntryEx", amtsim.DropResponse)(c)
			}
		},
	})
	devs := h.fleet.Devices()
	inv := provisioning.NewInventoryList()
	for i, d := range devs {
		switch i {
		case devUnknown:
		case devPSK:
			inv.Add(provisioning.Inventory{UUID: d.UUID(), FQDN: deviceName(i) + ".contoso.com", Profile: "psk"})
		default:
			inv.Add(provisioning.Inventory{UUID: d.UUID(), FQDN: deviceName(i) + ".contoso.com"})
		}
	}
	h.cfg.Authorizer = inv
	h.cfg.RecordUnknownDevices = true // its record is checked for secrets too
	h.cfg.PSK = pskStore
	h.cfg.Logger = logger
	h.cfg.CallTimeout = 5 * time.Second
	h.cfg.Profiles = map[string]provisioning.Profile{
		provisioning.DefaultProfileName: {
			TLS:       &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
			Users:     []provisioning.UserAccount{{Name: "helpdesk", Password: userPW, Realms: []amt.Realm{amt.RealmRemoteControl, amt.RealmGeneralInfo}, Access: amt.AccessNetwork}},
			IEEE8021X: &provisioning.IEEE8021XProfile{},
			// Network secrets: a Wi-Fi passphrase and a PEAP password, sent
			// after activation and kept sealed in the record.
			Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
				{Name: "home", SSID: "Home", Priority: 1, Passphrase: wifiPass},
				{Name: "corp", SSID: "Corp", Priority: 2, Security: provisioning.WPA2Enterprise,
					IEEE8021X: &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "CORP\\amt", Password: peapPW}},
			}}},
		},
		"psk": {TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, AllowLegacyTLS: true},
	}
	h.cfg.Observer = func(e provisioning.Event) {
		logs.add("event %v", e)
		logs.add("event %+v", e)
		if e.Err != nil {
			logs.add("event error %v", e.Err)
			logs.add("event error %+v", e.Err)
		}
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
	}
	p := h.provisioner()
	ctx := h.ctx

	require.NoError(t, devs[devAgentGood].StartConfiguration(goodOTP))
	require.NoError(t, devs[devAgentBad].StartConfiguration(goodOTP))
	require.NoError(t, p.ExpectAgentRequest(ctx, provisioning.AgentRequest{UUID: devs[devAgentGood].UUID(), OTP: goodOTP}))
	require.NoError(t, p.ExpectAgentRequest(ctx, provisioning.AgentRequest{UUID: devs[devAgentBad].UUID(), OTP: badOTP}))

	// Hellos through a listener, sessions in the background.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() {
		served <- p.Serve(sctx, ln, func(l *provisioning.HelloListener) {
			l.PerSourceBurst = -1
			l.OnEvent = func(e provisioning.ListenerEvent) { logs.add("listener %v | %+v", e, e) }
		})
	}()
	_, err = h.fleet.SendHellos(ctx, amtsim.HelloOptions{Addr: ln.Addr().String(), MaxHellos: 1})
	if err != nil {
		logs.add("send hellos: %v | %+v", err, err)
	}
	require.Eventually(t, func() bool {
		n := 0
		for _, d := range devs {
			if r, err := h.store.Load(ctx, d.UUID()); err == nil && r.State.Final() {
				n++
			}
		}
		return n == nDevices
	}, 2*time.Minute, 20*time.Millisecond)
	// A provisioned session goes on with the settings applied after
	// activation (reconcile): let it finish before the listener stops.
	require.Eventually(t, func() bool { return len(p.Sessions()) == 0 }, 2*time.Minute, 20*time.Millisecond)
	stop()
	require.NoError(t, <-served)

	// Direct calls, for their returned errors: the unknown device and the one
	// whose connection dropped, again.
	for _, i := range []int{devUnknown, devDropped} {
		rec, err := p.Provision(ctx, h.helloFrom(devs[i]))
		logs.add("provision %d: %v | %+v | %#v", i, err, err, rec)
	}
	for _, f := range provisioning.Audit(ctx, h.cfg) {
		logs.add("finding %v | %+v", f, f)
	}

	// What the sessions did (so the test knows it covered what it claims).
	recs := map[int]*provisioning.DeviceRecord{}
	for i, d := range devs {
		rec, err := h.store.Load(ctx, d.UUID())
		require.NoError(t, err)
		recs[i] = rec
		logs.add("record %v", rec)
		logs.add("record %+v", rec)
	}
	assert.Equal(t, provisioning.StateProvisioned, recs[devPKI].State, recs[devPKI].LastError)
	assert.Equal(t, provisioning.StateProvisioned, recs[devAgentGood].State, recs[devAgentGood].LastError)
	assert.True(t, recs[devAgentGood].AgentOTP)
	assert.Equal(t, provisioning.ReasonOTPMismatch, recs[devAgentBad].Reason)
	assert.Equal(t, provisioning.StateProvisioned, recs[devPSK].State, recs[devPSK].LastError)
	assert.Equal(t, pair.PID.Compact(), recs[devPSK].PID)
	// The dropped session failed after setting the MEBx password; the direct
	// retry above kept that password and finished.
	assert.Equal(t, provisioning.StateProvisioned, recs[devDropped].State, recs[devDropped].LastError)
	assert.True(t, devs[devDropped].MEBxPasswordIs(recs[devDropped].MEBxPassword))
	assert.Equal(t, provisioning.ReasonUnknownDevice, recs[devUnknown].Reason)
	_, hasTLS := recs[devPKI].CurrentCertificate(provisioning.PurposeTLS)
	assert.True(t, hasTLS)
	_, has8021X := recs[devPKI].CurrentCertificate(provisioning.PurposeIEEE8021X)
	assert.True(t, has8021X, recs[devPKI].ReconcileError)

	// Every secret in every form.
	forms := secretForms{}
	merge := func(f secretForms) {
		for k, v := range f {
			forms[k] = v
		}
	}
	for i, d := range devs {
		rec := recs[i]
		realm := d.DigestRealm()
		admin := rec.AdminUser
		if admin == "" {
			admin = "admin"
		}
		merge(passwordForms(fmt.Sprintf("device %d admin password", i), rec.AdminPassword, []string{admin}, realm))
		merge(passwordForms(fmt.Sprintf("device %d MEBx password", i), rec.MEBxPassword, []string{"admin"}, ""))
		merge(passwordForms(fmt.Sprintf("device %d user password", i), userPW, []string{"helpdesk"}, realm))
	}
	merge(passwordForms("Wi-Fi passphrase", wifiPass, nil, ""))
	merge(passwordForms("PEAP password", peapPW, nil, ""))
	merge(passwordForms("good OTP", goodOTP, nil, ""))
	merge(passwordForms("bad OTP", badOTP, nil, ""))
	merge(passwordForms("PPS", pair.PPS.Secret(), nil, ""))
	forms["PPS grouped"] = pair.PPS.RevealGrouped()
	merge(passwordForms("PSK pair MEBx password", pair.MEBxPassword, nil, ""))
	bundleKey, ok := h.chain.Bundle.Key.(*rsa.PrivateKey)
	require.True(t, ok, "the test bundle key is RSA")
	merge(keyForms("bundle key", bundleKey))
	keys.mu.Lock()
	n := 0
	for k := range keys.keys {
		merge(keyForms(fmt.Sprintf("device key %d", n), k))
		n++
	}
	keys.mu.Unlock()
	require.GreaterOrEqual(t, n, 3, "the devices generated keys (TLS, 802.1X)")

	text, records := logs.text()
	if path := os.Getenv("AMTKIT_SECRETS_DUMP"); path != "" {
		// For investigating a finding: the whole captured text.
		require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	}
	t.Logf("captured %d log records, %d KiB of text; %d secret forms checked (%d device keys)", records, len(text)>>10, len(forms), n)

	// The capture saw what it should: debug envelopes (with redaction at work),
	// the simulators' records, events and errors.
	require.Contains(t, text, "wsman request")
	require.Contains(t, text, "SetMEBxPassword")
	require.Contains(t, text, "AddUserAclEntryEx")
	require.Contains(t, text, "AddWiFiSettings")
	require.Contains(t, text, amt.Redacted)
	require.Contains(t, text, "sim=true")
	require.Contains(t, text, string(provisioning.ReasonOTPMismatch))
	require.Contains(t, text, string(provisioning.ReasonConnectionLost))
	// The detector finds a secret when it is there.
	require.NotEmpty(t, findSecrets(text+recs[devPKI].AdminPassword.Reveal(), forms))
	require.NotEmpty(t, findSecrets(text+bundleKey.D.String(), forms))

	found := findSecrets(text, forms)
	for _, name := range found {
		s := forms[name]
		i := strings.Index(text, s)
		lo, hi := max(0, i-300), min(len(text), i+len(s)+100)
		t.Errorf("secret %q appears in the captured text: …%s…", name, strings.ReplaceAll(text[lo:hi], s, "<<"+name+">>"))
	}
}
