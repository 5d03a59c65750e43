package wsmantest_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/internal/testvectors/transcripts"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reads is what a device check reads, through amt.Device.
type reads struct {
	Software  *amt.SoftwareIdentity
	Setup     *amt.SetupAndConfiguration
	HostBased *amt.HostBasedSetup
	General   *amt.GeneralSettings
	UUID      amt.UUID
	TLS       []*amt.TLSSettingData
	Certs     []amt.PublicKeyCertificate
	Users     []amt.UserACLEntry
	Clock     time.Time
}

func readAll(t *testing.T, ctx context.Context, dev *amt.Device) reads {
	t.Helper()
	var r reads
	var err error
	r.Software, err = dev.SoftwareIdentity(ctx)
	require.NoError(t, err)
	r.Setup, err = dev.SetupAndConfiguration(ctx)
	require.NoError(t, err)
	r.HostBased, err = dev.HostBasedSetup(ctx)
	require.NoError(t, err)
	r.General, err = dev.GeneralSettings(ctx)
	require.NoError(t, err)
	r.UUID, err = dev.UUID(ctx)
	require.NoError(t, err)
	r.TLS, err = dev.TLSSettings(ctx)
	require.NoError(t, err)
	r.Certs, err = dev.Certificates(ctx)
	require.NoError(t, err)
	r.Users, err = dev.UserACLEntries(ctx)
	require.NoError(t, err)
	r.Clock, err = dev.LowAccuracyTimeSynch(ctx)
	require.NoError(t, err)
	return r
}

// replayServer serves r behind AMT-shaped digest authentication.
func replayServer(t *testing.T, r *wsmantest.Replay, user, password string) string {
	t.Helper()
	auth := &wsmantest.DigestAuth{Password: func(u string) (string, bool) { return password, u == user }}
	srv := httptest.NewServer(auth.Wrap(r))
	t.Cleanup(srv.Close)
	return srv.URL + "/wsman"
}

func device(t *testing.T, endpoint, user, password string) *amt.Device {
	t.Helper()
	c, err := amt.NewClient(endpoint, wsman.WithDigestAuth(user, password))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return amt.NewDevice(c)
}

func startSim(t *testing.T, cfg amtsim.Config) *amtsim.Device {
	t.Helper()
	d, err := amtsim.New(cfg)
	require.NoError(t, err)
	require.NoError(t, d.Start(t.Context()))
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// A session's reads, recorded from a simulated device, read the same when
// replayed — with or without identifying redaction (whose placeholders still
// parse) — and the replay serves every exchange and misses none.
func TestReplayAnswersWhatTheDeviceSaid(t *testing.T) {
	ctx := t.Context()
	d := startSim(t, amtsim.Config{Version: amt.MustParseVersion("19.0.5"), HostName: "pc-7", DomainName: "contoso.com"})
	user, pw := d.LocalSystemAccount()
	for _, identifying := range []bool{false, true} {
		rec := transcript.NewRecorder(transcript.Options{Identifying: identifying})
		c, err := amt.NewClient(d.HTTPEndpoint(), wsman.WithDigestAuth(user, pw.Reveal()))
		require.NoError(t, err)
		live := readAll(t, ctx, amt.NewDevice(c.WithRecorder(rec)))
		c.CloseIdleConnections()
		tr := rec.Transcript(transcript.Provenance{Source: transcript.SourceSimulator, RecordedBy: "amtkit tests", Tool: "replay_test"})

		r, err := wsmantest.NewReplay(tr, wsmantest.ReplayOptions{Strict: true})
		require.NoError(t, err)
		assert.Positive(t, r.Skipped(), "the 401 challenges are not replayed")
		replayed := readAll(t, ctx, device(t, replayServer(t, r, "admin", "An0ther-Passw0rd!"), "admin", "An0ther-Passw0rd!"))
		assert.Empty(t, r.Misses())
		assert.Empty(t, r.Unused(), "every recorded exchange was asked for")
		if !identifying {
			assert.Equal(t, live.UUID, replayed.UUID)
			assert.Equal(t, live.General.DigestRealm, replayed.General.DigestRealm)
			assert.Equal(t, live.General.HostName, replayed.General.HostName)
			assert.Equal(t, live.Clock, replayed.Clock)
		} else {
			assert.Equal(t, "00000000-0000-0000-0000-000000000001", replayed.UUID.String())
			assert.Equal(t, "Digest:00000000000000000000000000000001", replayed.General.DigestRealm)
			assert.NotEqual(t, "pc-7", replayed.General.HostName)
		}
		assert.Equal(t, live.Software.Version, replayed.Software.Version)
		assert.Equal(t, live.Setup.ProvisioningState, replayed.Setup.ProvisioningState)
		assert.Equal(t, live.HostBased.AllowedControlModes, replayed.HostBased.AllowedControlModes)
		assert.Len(t, replayed.TLS, len(live.TLS))
		assert.Len(t, replayed.Users, len(live.Users))
	}
}

// An engine step replays: host-based activation in client control mode,
// recorded from a simulated device, runs again against the recording — with
// another admin password, as the passwords are masked on both sides. Asked
// again, the recording answers as the activated device did (or, strict, not
// at all).
func TestReplayEngineStep(t *testing.T) {
	ctx := t.Context()
	d := startSim(t, amtsim.Config{Version: amt.MustParseVersion("16.1.25")})
	user, pw := d.LocalSystemAccount()
	rec := transcript.NewRecorder(transcript.Options{Identifying: true})
	rec.AddPassword(user, pw.Reveal())
	c, err := amt.NewClient(d.HTTPEndpoint(), wsman.WithDigestAuth(user, pw.Reveal()))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	require.NoError(t, provisioning.ActivateCCM(ctx, amt.NewDevice(c.WithRecorder(rec)), amt.NewSecret("Adm1n-Passw0rd!"), provisioning.HostBasedOptions{}))
	tr := rec.Transcript(transcript.Provenance{Source: transcript.SourceSimulator, RecordedBy: "amtkit tests", Tool: "replay_test"})
	require.NotContains(t, string(mustMarshal(t, tr)), "Adm1n-Passw0rd!")

	for _, strict := range []bool{false, true} {
		r, err := wsmantest.NewReplay(tr, wsmantest.ReplayOptions{Strict: strict})
		require.NoError(t, err)
		dev := device(t, replayServer(t, r, "$$OsAdmin", "L0cal-Passw0rd!"), "$$OsAdmin", "L0cal-Passw0rd!")
		require.NoError(t, provisioning.ActivateCCM(ctx, dev, amt.NewSecret("Other-Passw0rd!1"), provisioning.HostBasedOptions{}))
		assert.Empty(t, r.Misses())
		err = provisioning.ActivateCCM(ctx, dev, amt.NewSecret("Other-Passw0rd!1"), provisioning.HostBasedOptions{})
		if strict {
			var f *wsman.Fault
			require.ErrorAs(t, err, &f, "a request asked more often than recorded is a miss")
			assert.Equal(t, "amtkit-replay-miss", f.Detail)
			require.NotEmpty(t, r.Misses())
			assert.Regexp(t, `^asked \d+ times, recorded \d+$`, r.Misses()[0].Reason)
		} else {
			require.ErrorIs(t, err, provisioning.ErrAlreadyActivated, "the last answer repeats: the device is activated")
		}
	}
}

func mustMarshal(t *testing.T, tr *transcript.Transcript) []byte {
	t.Helper()
	b, err := tr.Marshal()
	require.NoError(t, err)
	return b
}

// A request the transcript does not hold gets the miss fault and is listed;
// a recorded drop is replayed as a drop; an answer redaction removed is a
// miss that says so.
func TestReplayMissesAndDrops(t *testing.T) {
	ctx := t.Context()
	const uri = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
	var dropped atomic.Bool // set on the server's goroutine
	srv := httptest.NewServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		switch r.Action {
		case wsman.ActionDelete:
			dropped.Store(true)
			return wsmantest.Hangup()
		case wsman.ActionPut:
			return wsmantest.PutResponse(r, wsman.NewInstance(uri))
		}
		return wsmantest.GetResponse(r, wsman.NewInstance(uri, wsman.Prop("HostName", "h")))
	}))
	t.Cleanup(srv.Close)
	c, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	rec := transcript.NewRecorder(transcript.Options{})
	rc := c.WithRecorder(rec)
	_, err = rc.Get(ctx, uri, nil)
	require.NoError(t, err)
	_, err = rc.Delete(ctx, uri, nil)
	require.ErrorIs(t, err, wsman.ErrResponseLost)
	require.True(t, dropped.Load())
	_, err = rc.Put(ctx, uri, nil, wsman.NewInstance(uri))
	require.NoError(t, err)
	tr := rec.Transcript(transcript.Provenance{Source: transcript.SourceSimulator, RecordedBy: "amtkit tests", Tool: "replay_test"})
	require.Len(t, tr.Exchanges, 3)
	tr.Exchanges[2].Response.Body = "[body removed: 10 bytes, truncated]"

	r, err := wsmantest.NewReplay(tr, wsmantest.ReplayOptions{})
	require.NoError(t, err)
	rs := httptest.NewServer(r)
	t.Cleanup(rs.Close)
	rc2, err := wsman.New(rs.URL + "/wsman")
	require.NoError(t, err)
	t.Cleanup(rc2.CloseIdleConnections)
	resp, err := rc2.Get(ctx, uri, nil)
	require.NoError(t, err)
	assert.Contains(t, string(resp.Raw), "<", "the recorded envelope")
	_, err = rc2.Delete(ctx, uri, nil)
	require.ErrorIs(t, err, wsman.ErrResponseLost, "the drop is replayed")
	_, err = rc2.Get(ctx, uri+"X", nil)
	var f *wsman.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, http.StatusInternalServerError, f.HTTPStatus)
	assert.Equal(t, "amtkit-replay-miss", f.Detail)
	assert.Contains(t, f.Reason, "no recorded answer to "+wsman.ActionGet+" "+uri+"X")
	_, err = rc2.Put(ctx, uri, nil, wsman.NewInstance(uri))
	require.ErrorAs(t, err, &f)
	misses := r.Misses()
	require.Len(t, misses, 2)
	assert.Equal(t, uri+"X", misses[0].Key.ResourceURI)
	assert.Contains(t, misses[1].String(), "removed by redaction")

	_, err = wsmantest.NewReplay(&transcript.Transcript{Exchanges: tr.Exchanges[:0]}, wsmantest.ReplayOptions{})
	require.ErrorIs(t, err, wsmantest.ErrNothingToReplay)
}

// The committed transcripts (internal/testvectors/transcripts) replay: amtkit's
// reads get what the recorded device said, nothing is missed.
func TestReplayCommittedTranscripts(t *testing.T) {
	for _, name := range transcripts.Names() {
		t.Run(name, func(t *testing.T) {
			tr, err := transcripts.Load(name)
			require.NoError(t, err)
			r, err := wsmantest.NewReplay(tr, wsmantest.ReplayOptions{})
			require.NoError(t, err)
			got := readAll(t, t.Context(), device(t, replayServer(t, r, "admin", "Replay-Passw0rd!"), "admin", "Replay-Passw0rd!"))
			assert.Empty(t, r.Misses())
			assert.Equal(t, tr.Provenance.Firmware, got.Software.Version.String())
			assert.Equal(t, amt.PostProvisioning, got.Setup.ProvisioningState)
			assert.Equal(t, amt.ControlModeACM, got.HostBased.CurrentControlMode)
			require.NotEmpty(t, got.Certs)
			cert, err := got.Certs[0].Parse()
			require.NoError(t, err, "the placeholder certificate parses")
			assert.Regexp(t, `^CN=subject-\d+$`, cert.Subject.String())
			var remote *amt.TLSSettingData
			for _, s := range got.TLS {
				if s.Remote() {
					remote = s
				}
			}
			require.NotNil(t, remote)
			assert.True(t, remote.Enabled)
		})
	}
}

// setRelatesTo must keep the envelope byte for byte but the RelatesTo text.
func TestReplayRewritesOnlyRelatesTo(t *testing.T) {
	tr, err := transcripts.Load(transcripts.Names()[0])
	require.NoError(t, err)
	r, err := wsmantest.NewReplay(tr, wsmantest.ReplayOptions{})
	require.NoError(t, err)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	var recorded string
	for _, x := range tr.Exchanges {
		if x.Request.Action == wsman.ActionGet && x.Response != nil && x.Response.Status == 200 {
			recorded = x.Response.Body
			break
		}
	}
	require.NotEmpty(t, recorded)
	env, err := wsman.ParseEnvelope([]byte(recorded), 0)
	require.NoError(t, err)
	c, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	resp, err := c.Get(t.Context(), env.ResourceURI(), nil)
	require.NoError(t, err)
	live := resp.Envelope.RelatesTo()
	assert.Equal(t, recorded, string(bytes.Replace(resp.Raw, []byte(live), []byte(env.RelatesTo()), 1)))
}
