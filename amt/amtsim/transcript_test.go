package amtsim_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/internal/testvectors/transcripts"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The transcript check: for every request a transcript in
// internal/testvectors/transcripts holds, the simulator — the transcript's
// firmware version, in the state the transcript shows — answers with the
// same shape: element names, namespaces and value types (shape_test.go's
// shape), declared namespaces, header, sibling order and end tags
// (recorded_shape_test.go's compareWritten). Values may differ. So every
// transcript contributed from a real device (docs/field-kit.md) tightens the
// simulator. Transcripts recorded from the simulator itself ("source":
// "amtsim") pass by construction: they check this machinery, not the
// simulator, and stand in until real ones arrive.

// transcriptState is what a transcript shows of the device it was recorded
// from.
type transcriptState struct {
	version     amt.Version
	provisioned bool
}

func stateOf(t *testing.T, tr *transcript.Transcript) transcriptState {
	t.Helper()
	st := transcriptState{version: amt.MustParseVersion(tr.Provenance.Firmware)}
	for _, x := range tr.Exchanges {
		if x.Response == nil || x.Response.Status != 200 || x.Request.ResourceURI != uriSetup || x.Request.Action != wsman.ActionGet {
			continue
		}
		env, err := wsman.ParseEnvelope([]byte(x.Response.Body), 0)
		require.NoError(t, err)
		if v, ok := wsman.PropertyValue(env.Content(), "ProvisioningState"); ok {
			st.provisioned = v == "2"
		}
	}
	return st
}

// simFor starts a simulated device in the transcript's state and returns a
// client that may ask what the transcript's client asked: a device
// provisioned by amtkit's engine (admin control mode, a TLS certificate, a
// user account) reached over TLS as the admin, or one in pre-provisioning
// reached through the local account.
func simFor(t *testing.T, st transcriptState, rec wsman.Recorder) *wsman.Client {
	t.Helper()
	ctx := t.Context()
	keys := certstest.NewKeyPool()
	fw := amt.FirmwareFor(st.version)
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys,
		Leaf: func(c *x509.Certificate) {
			if fw.ProvisioningCertSHA384 {
				c.SignatureAlgorithm = x509.SHA384WithRSA
			}
		}})
	d := start(t, amtsim.Config{Version: st.version, TrustedDNSSuffix: "contoso.com", HostName: "pc-demo", DomainName: "contoso.com",
		Keys: amtsim.PoolKeys(keys), UserRootHashes: []amtsim.RootHash{{Name: "test root", Hash: chain.Bundle.RootHash(amt.HashSHA256), Active: true}}})
	if !st.provisioned {
		return localClient(t, d).WithRecorder(rec)
	}
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	legacy := !fw.TLS12.Any()
	p, err := provisioning.New(provisioning.Config{
		Bundles:    []certs.Bundle{chain.Bundle},
		Authorizer: provisioning.NewInventoryList(provisioning.Inventory{UUID: d.UUID(), FQDN: "pc-demo.contoso.com"}),
		Profiles: map[string]provisioning.Profile{provisioning.DefaultProfileName: {
			TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, AllowLegacyTLS: legacy,
			Users: []provisioning.UserAccount{{Name: "helpdesk", Realms: []amt.Realm{amt.RealmRedirection, amt.RealmHardwareAsset}, Access: amt.AccessNetwork}},
		}},
		Issuer: sha384Issuer{ca},
		DeviceAddress: func(_ provisioning.ReceivedHello, _ provisioning.Inventory, port int) string {
			if port == 16992 {
				return d.HTTPAddr()
			}
			return d.TLSAddr()
		},
		CommitVerifyDelay: time.Millisecond,
		ServerName:        "amtprov.contoso.com",
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Shutdown(context.WithoutCancel(ctx)) })
	hello, err := d.Hello(0)
	require.NoError(t, err)
	ap, err := netip.ParseAddrPort(d.TLSAddr())
	require.NoError(t, err)
	r, err := p.Provision(ctx, provisioning.ReceivedHello{Hello: hello, Source: netip.AddrPortFrom(ap.Addr(), 40000), Received: time.Now()})
	require.NoError(t, err)
	var opts []wsman.Option
	switch {
	case legacy:
		opts = append(opts, wsman.WithLegacyTLS())
	case fw.NeedsRSAKeyExchange.Any():
		opts = append(opts, wsman.WithRSAKeyExchange())
	}
	user := r.AdminUser
	if user == "" {
		user = "admin"
	}
	return adminClient(t, d.TLSEndpoint(), user, r.AdminPassword.Reveal(), opts...).WithRecorder(rec)
}

// sha384Issuer signs AMT 22's ECC P-384 TLS keys with SHA-384, which AMT 22
// requires of the certificate it binds (amt.Firmware.TLSCertSHA384).
type sha384Issuer struct{ ca *certstest.CA }

func (i sha384Issuer) Issue(ctx context.Context, req provisioning.IssueRequest) ([]*x509.Certificate, error) {
	tmpl := req.Template
	if k, ok := req.PublicKey.(*ecdsa.PublicKey); ok && k.Curve == elliptic.P384() {
		cp := *tmpl
		cp.SignatureAlgorithm = x509.SHA384WithRSA
		tmpl = &cp
	}
	return i.ca.Issue(ctx, tmpl, req.PublicKey)
}

func (i sha384Issuer) Revoke(ctx context.Context, req provisioning.RevokeRequest) error {
	return i.ca.Revoke(ctx, req.Certificate, req.Reason)
}

// lastResponse keeps the raw answer of the simulator to the last request.
type lastResponse struct {
	mu   sync.Mutex
	body []byte
}

func (l *lastResponse) Record(x *wsman.Exchange) {
	if x.StatusCode == 401 {
		return
	}
	l.mu.Lock()
	l.body = x.ResponseBody
	l.mu.Unlock()
}

func (l *lastResponse) take() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.body
	l.body = nil
	return b
}

// replayable is one exchange of a transcript worth comparing: a request and
// the envelope the device answered.
type replayable struct {
	seq      int
	request  wsman.Request
	identify bool
	answer   []byte
}

func replayables(t *testing.T, tr *transcript.Transcript) []replayable {
	t.Helper()
	var out []replayable
	for _, x := range tr.Exchanges {
		if x.Response == nil || x.Response.Status == 401 || strings.HasPrefix(x.Response.Body, "[body removed") ||
			strings.HasPrefix(x.Request.Body, "[body removed") {
			continue
		}
		env, err := wsman.ParseEnvelope([]byte(x.Request.Body), 0)
		require.NoError(t, err, "exchange %d", x.Seq)
		sel, err := env.Selectors()
		require.NoError(t, err)
		r := replayable{seq: x.Seq, answer: []byte(x.Response.Body), identify: env.Action() == ""}
		r.request = wsman.Request{Action: env.Action(), ResourceURI: env.ResourceURI(), Selectors: sel}
		if c := env.Content(); c != nil {
			r.request.Body = wsman.Detach(c)
		}
		out = append(out, r)
	}
	return out
}

// enumContext returns the EnumerationContext of an Enumerate or Pull answer.
func enumContext(raw []byte) string {
	env, err := wsman.ParseEnvelope(raw, 0)
	if err != nil {
		return ""
	}
	for _, name := range []string{"EnumerateResponse", "PullResponse"} {
		if el := wsman.Child(env.Body, wsman.NSEnumeration, name); el != nil {
			s, _ := wsman.ChildText(el, wsman.NSEnumeration, "EnumerationContext")
			return s
		}
	}
	return ""
}

// askSimulator sends every replayable request of tr to a simulator in tr's
// state and returns the pairs (recorded answer, simulator's answer).
func askSimulator(t *testing.T, tr *transcript.Transcript) (pairs [][2][]byte, labels []string) {
	t.Helper()
	last := &lastResponse{}
	c := simFor(t, stateOf(t, tr), last)
	contexts := map[string]string{} // recorded → simulator's
	for _, r := range replayables(t, tr) {
		req := r.request
		if req.Body != nil && (req.Action == wsman.ActionPull || req.Action == wsman.ActionRelease) {
			req.Body = req.Body.Copy()
			if el := wsman.Child(req.Body, wsman.NSEnumeration, "EnumerationContext"); el != nil {
				if sim, ok := contexts[wsman.Text(el)]; ok {
					el.SetText(sim)
				}
			}
		}
		var err error
		if r.identify {
			_, err = c.Identify(t.Context())
		} else {
			_, err = c.Do(t.Context(), req)
		}
		got := last.take()
		require.NotNil(t, got, "exchange %d: the simulator answered (%v)", r.seq, err)
		if rc, sc := enumContext(r.answer), enumContext(got); rc != "" && sc != "" {
			contexts[rc] = sc
		}
		pairs = append(pairs, [2][]byte{r.answer, got})
		labels = append(labels, fmt.Sprintf("exchange %d %s %s", r.seq, actionName(req.Action), wsman.ClassName(req.ResourceURI)))
	}
	return pairs, labels
}

func actionName(a string) string {
	if a == "" {
		return "Identify"
	}
	return a[strings.LastIndex(a, "/")+1:]
}

// knownGaps lists answers of contributed transcripts the simulator does not
// match yet, by "transcript/exchange label", each with what is to be fixed.
// An entry is a debt, not an exemption: fix the simulator, then remove it.
var knownGaps = map[string]string{}

func TestSimulatorMatchesTranscripts(t *testing.T) {
	names := transcripts.Names()
	require.NotEmpty(t, names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			tr, err := transcripts.Load(name)
			require.NoError(t, err)
			pairs, labels := askSimulator(t, tr)
			require.NotEmpty(t, pairs)
			for i, p := range pairs {
				t.Run(labels[i], func(t *testing.T) {
					if why, ok := knownGaps[name+"/"+labels[i]]; ok {
						t.Skip("known gap: " + why)
					}
					compareWritten(t, p[0], p[1])
					missing, extra := diff(shape(t, p[0]), shape(t, p[1]))
					assert.Empty(t, missing, "in the transcript but not in the simulator's answer")
					assert.Empty(t, extra, "in the simulator's answer but not in the transcript")
				})
			}
			t.Logf("%s (%s, AMT %s): %d answers compared", name, tr.Provenance.Source, tr.Provenance.Firmware, len(pairs))
		})
	}
}

// failures records what the written-form comparison reports.
type failures struct{ msgs []string }

func (f *failures) Errorf(format string, args ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}
func (f *failures) FailNow() { panic("FailNow") }
func (f *failures) Helper()  {}

// The check would see a device that writes differently: a transcript whose
// answers were altered — an empty element self-closed, two siblings
// swapped, an element renamed — no longer matches the simulator.
func TestTranscriptCheckCatchesDifferences(t *testing.T) {
	tr, err := transcripts.Load(transcripts.Names()[0])
	require.NoError(t, err)
	pairs, labels := askSimulator(t, tr)
	i := slices.IndexFunc(labels, func(l string) bool { return strings.HasSuffix(l, "Pull CIM_SoftwareIdentity") })
	require.GreaterOrEqual(t, i, 0, "a software identity page: %v", labels)
	recorded, sim := pairs[i][0], pairs[i][1]
	f := &failures{}
	compareWritten(f, recorded, sim)
	require.Empty(t, f.msgs, "unaltered, it matches")

	firstItem := func(root *etree.Element) *etree.Element {
		pr := wsman.Child(wsman.Child(root, wsman.NSSOAP, "Body"), wsman.NSEnumeration, "PullResponse")
		return wsman.Child(pr, wsman.NSEnumeration, "Items").ChildElements()[0]
	}
	alter := map[string]struct {
		edit      func(*etree.Element)
		selfClose bool
	}{
		// EndOfSequence written <x/> where the firmware writes <x></x>.
		"self-closed end tag": {func(*etree.Element) {}, true},
		"swapped siblings": {func(root *etree.Element) {
			inst := firstItem(root)
			kids := inst.ChildElements()
			inst.RemoveChild(kids[0])
			inst.InsertChildAt(kids[1].Index()+1, kids[0])
		}, false},
		"header order": {func(root *etree.Element) {
			h := wsman.Child(root, wsman.NSSOAP, "Header")
			kids := h.ChildElements()
			h.RemoveChild(kids[0])
			h.AddChild(kids[0])
		}, false},
	}
	for name, a := range alter {
		t.Run(name, func(t *testing.T) {
			doc := etree.NewDocument()
			require.NoError(t, doc.ReadFromBytes(recorded))
			a.edit(doc.Root())
			doc.WriteSettings.CanonicalEndTags = !a.selfClose
			altered, err := doc.WriteToBytes()
			require.NoError(t, err)
			f := &failures{}
			compareWritten(f, altered, sim)
			assert.NotEmpty(t, f.msgs, "the altered transcript no longer matches")
		})
	}
}
