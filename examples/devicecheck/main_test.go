package main

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/internal/testvectors/transcripts"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The read-only actions, written out here independently of the program: the
// WS-Transfer Get, WS-Enumeration and Identify, and the four AMT methods
// that only read (Intel AMT SDK class reference: GetUuid,
// GetLowAccuracyTimeSynch, GetAdminAclEntry, EnumerateUserAclEntries,
// GetUserAclEntryEx). Anything else a check sends fails the test.
var readOnly = map[string]bool{
	"": true, // Identify has no Action
	"http://schemas.xmlsoap.org/ws/2004/09/transfer/Get":                                                true,
	"http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate":                                       true,
	"http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull":                                            true,
	"http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release":                                         true,
	"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService/GetUuid":               true,
	"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TimeSynchronizationService/GetLowAccuracyTimeSynch": true,
	"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService/GetAdminAclEntry":              true,
	"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService/EnumerateUserAclEntries":       true,
	"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService/GetUserAclEntryEx":             true,
}

// The device's names for the same operations (amtsim names a request by its
// method, or by the operation of its action).
var readOnlyOps = map[string]bool{
	"Identify": true, "Get": true, "Enumerate": true, "Pull": true, "Release": true,
	"GetUuid": true, "GetLowAccuracyTimeSynch": true, "GetAdminAclEntry": true,
	"EnumerateUserAclEntries": true, "GetUserAclEntryEx": true,
}

// stable is the part of a device's state that a read must not change.
func stable(s amtsim.Snapshot) amtsim.Snapshot {
	s.Clock, s.Handshakes, s.Requests = time.Time{}, nil, 0
	return s
}

// The check changes nothing: every request the device received (its own
// account of them) and every action the client sent is a read, and the
// device's state is the same before and after — on a provisioned device
// checked over TLS as the admin and on one in pre-provisioning checked
// through the local account.
func TestCheckSendsNoWrite(t *testing.T) {
	for _, tc := range []struct{ version, state string }{{"16.1.25", "provisioned"}, {"21.0.6", "provisioned"}, {"12.0.93", "pre"}} {
		t.Run(tc.version+"-"+tc.state, func(t *testing.T) {
			ctx := t.Context()
			d, err := startDemo(ctx, tc.version, tc.state, &strings.Builder{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = d.Close() })
			var mu sync.Mutex
			var ops []string
			watch := func(op, uri string) {
				mu.Lock()
				ops = append(ops, op+" "+uri)
				mu.Unlock()
			}
			before := stable(d.sim.Snapshot())
			d.watch.Store(&watch)
			var actions []string
			c, err := amt.NewClient(d.endpoint, append([]wsman.Option{wsman.WithDigestAuth(d.user, d.password.Reveal())}, d.opts...)...)
			require.NoError(t, err)
			t.Cleanup(c.CloseIdleConnections)
			rc := c.WithRecorder(wsman.RecorderFunc(func(x *wsman.Exchange) {
				env, err := wsman.ParseEnvelope(x.RequestBody, 0)
				require.NoError(t, err)
				mu.Lock()
				actions = append(actions, env.Action())
				mu.Unlock()
			}))
			res := check(ctx, amt.NewDevice(rc), rc, time.Now())
			d.watch.Store(nil)
			require.NotNil(t, res.software, "the check read the device")
			require.NotEmpty(t, ops)
			mu.Lock()
			defer mu.Unlock()
			assert.Empty(t, writes(ops, actions))
			assert.Equal(t, before, stable(d.sim.Snapshot()), "the device's state did not change")
			t.Logf("%d requests reached the device, %d HTTP exchanges, all reads", len(ops), len(actions))
		})
	}
}

// writes returns the device operations and client actions outside the
// read-only lists.
func writes(ops, actions []string) []string {
	var out []string
	for _, op := range ops {
		if name, _, _ := strings.Cut(op, " "); !readOnlyOps[name] {
			out = append(out, "the device received "+op)
		}
	}
	for _, a := range actions {
		if !readOnly[a] {
			out = append(out, "the check sent "+a)
		}
	}
	return out
}

// The no-write test would see a write: each kind of change, from both sides.
func TestWritesAreSeen(t *testing.T) {
	for _, op := range []string{"Put", "Create", "Delete", "CommitChanges", "SetMEBxPassword", "Unprovision", "GenerateKeyPair"} {
		assert.Len(t, writes([]string{"Get u", op + " u"}, nil), 1, op)
	}
	for _, a := range []string{wsman.ActionPut, wsman.ActionCreate, wsman.ActionDelete,
		wsman.MethodAction(amt.URISetupAndConfigurationService, "CommitChanges"),
		wsman.MethodAction(amt.URIAuthorizationService, "SetAdminAclEntryEx")} {
		assert.Len(t, writes(nil, []string{wsman.ActionGet, a}), 1, a)
	}
}

// The demo's report on simulated devices of several firmware versions: what
// was read, the flows by amt.FirmwareFor, and a transcript without the
// admin password in any form.
func TestDemoReportAndTranscript(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    []string
	}{
		{"11.8.94", []string{"AMT version   11.8.94", "TLS           TLS 1.1", "legacy-tls", "PSK one-touch (setup.bin PID/PPS)                              no"}},
		{"22.0.0", []string{"AMT version   22.0.0", "TLS           TLS 1.3", "yes (ECC P-384)", "required with a SHA-384 certificate"}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			ctx := t.Context()
			d, err := startDemo(ctx, tc.version, "provisioned", &strings.Builder{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = d.Close() })
			path := filepath.Join(t.TempDir(), "t.json")
			var out, log strings.Builder
			o := options{transcript: path, anonymize: true}
			require.NoError(t, checkDevice(ctx, d.endpoint, d.user, d.password, d.opts, o, transcript.SourceSimulator, "test", &out, &log))
			report := out.String()
			for _, w := range append(tc.want, "state         Post (mode Admin)", "control mode  ACM", "remote TLS on",
				"bound to TLS  pc-demo.contoso.com", "broad-realm", "matches: negotiated") {
				assert.Contains(t, report, w)
			}
			assert.NotContains(t, report, "DIFFERS")
			assert.Contains(t, log.String(), "exchanges written to "+path)

			b, err := os.ReadFile(path)
			require.NoError(t, err)
			tr, err := transcript.Decode(b)
			require.NoError(t, err)
			assert.Equal(t, tc.version, tr.Provenance.Firmware)
			assert.Equal(t, transcript.SourceSimulator, tr.Provenance.Source)
			pw, realm := d.password.Reveal(), d.sim.DigestRealm()
			for name, form := range map[string]string{
				"password": pw, "base64": base64.StdEncoding.EncodeToString([]byte(pw)),
				"A1 hex":    amt.DigestA1Hex(d.user, realm, d.password).Reveal(),
				"A1 base64": amt.DigestA1Base64(d.user, realm, d.password).Reveal(),
				"basic":     base64.StdEncoding.EncodeToString([]byte(d.user + ":" + pw)),
				"realm":     realm, "uuid": d.sim.UUID().String(), "host": "pc-demo",
			} {
				assert.NotContains(t, string(b), form, "the transcript holds the %s", name)
			}
		})
	}
}

// The check, run against a replay of a committed transcript, reads what the
// recorded device said: the report of a device amtkit never met again.
func TestCheckReplaysCommittedTranscripts(t *testing.T) {
	for _, name := range transcripts.Names() {
		t.Run(name, func(t *testing.T) {
			tr, err := transcripts.Load(name)
			require.NoError(t, err)
			r, err := wsmantest.NewReplay(tr, wsmantest.ReplayOptions{Strict: true})
			require.NoError(t, err)
			srv := httptest.NewServer(r)
			t.Cleanup(srv.Close)
			c, err := amt.NewClient(srv.URL + "/wsman")
			require.NoError(t, err)
			t.Cleanup(c.CloseIdleConnections)
			res := check(t.Context(), amt.NewDevice(c), c, time.Now())
			assert.Empty(t, r.Misses(), "the check asks what it asked when it recorded")
			var out strings.Builder
			res.print(&out, "replay of "+name)
			report := out.String()
			assert.Contains(t, report, "AMT version   "+tr.Provenance.Firmware)
			assert.Contains(t, report, "state         Post (mode Admin)")
			assert.Contains(t, report, "digest realm  Digest:00000000000000000000000000000001")
			assert.Contains(t, report, "UUID          00000000-0000-0000-0000-000000000001")
			assert.Contains(t, report, "bound to TLS  subject-", "the placeholder certificate, bound as recorded")
			assert.Len(t, res.sections, 1, "only the reads that failed when recorded fail: %v", res.sections)
		})
	}
}

func TestRunArguments(t *testing.T) {
	ctx := context.Background()
	var out, errs strings.Builder
	require.ErrorContains(t, run(ctx, options{}, strings.NewReader(""), &out, &errs), "-endpoint")
	require.ErrorContains(t, run(ctx, options{demo: true, endpoint: "http://x/wsman"}, nil, &out, &errs), "exclude")
	require.ErrorContains(t, run(ctx, options{endpoint: "https://10.0.0.5:16993/wsman", passwordStdin: true}, strings.NewReader("pw\n"), &out, &errs),
		"https needs -pin, -ca or -insecure")
	_, err := tlsOptions(options{endpoint: "https://h/wsman", pin: "abcd"})
	require.ErrorContains(t, err, "64 hex digits")
	opts, err := tlsOptions(options{endpoint: "https://h/wsman", pin: strings.Repeat("ab", 32), rsaKEX: true})
	require.NoError(t, err)
	assert.Len(t, opts, 2)
	pw, err := readPassword(options{passwordStdin: true}, strings.NewReader("S3cret-pass\r\nrest"), &errs)
	require.NoError(t, err)
	assert.Equal(t, "S3cret-pass", pw.Reveal())
	t.Setenv("AMT_PASSWORD", "From-Env1!")
	pw, err = readPassword(options{}, strings.NewReader(""), &errs)
	require.NoError(t, err)
	assert.Equal(t, "From-Env1!", pw.Reveal())
	assert.NotContains(t, out.String()+errs.String(), "S3cret-pass", "the password is never echoed")
}

// Every flow line names a firmware fact; the table answers for each modelled
// version.
func TestFlowsForModelledVersions(t *testing.T) {
	for _, v := range []string{"11.8.94", "12.0.93", "16.1.25", "19.0.5", "21.0.6", "22.0.0"} {
		fl := flows(amt.FirmwareFor(amt.MustParseVersion(v)))
		require.Len(t, fl, 12)
		assert.True(t, slices.ContainsFunc(fl, func(f [2]string) bool { return strings.HasPrefix(f[0], "TLS versions") }))
	}
}
