package amtsim_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sleepLog is an instantaneous Behavior.Sleep that records what it was asked
// to wait.
type sleepLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepLog) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepLog) count(d time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, w := range s.waits {
		if w == d {
			n++
		}
	}
	return n
}

func (s *sleepLog) reset() {
	s.mu.Lock()
	s.waits = nil
	s.mu.Unlock()
}

// fakeClock is a settable Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// provisionWithTLS takes a device from pre-provisioning to admin control with
// TLS as a configuration server does, over rc; it returns the TLS certificate.
func provisionWithTLS(t *testing.T, d *amtsim.Device, rc *wsman.Client, ca *certstest.CA) []byte {
	t.Helper()
	rv, _ := invoke(t, rc, uriSetup, "SetMEBxPassword", wsman.Prop("Password", mebxPW))
	require.Zero(t, rv)
	rv, _ = invoke(t, rc, uriAuth, "SetAdminAclEntryEx", wsman.Prop("Username", "admin"),
		wsman.Prop("DigestPassword", digestB64("admin", d.DigestRealm(), adminPW)))
	require.Zero(t, rv)
	issued := installTLS(t, rc, ca)
	rv, _ = invoke(t, rc, uriSetup, "CommitChanges")
	require.Zero(t, rv)
	return issued.Raw
}

func TestLatencyModelDelaysAndCounters(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	var sl sleepLog
	m := amtsim.FirmwareLatency()
	clock := &fakeClock{now: time.Now()}
	cfg := trusting(pc)
	cfg.Now = clock.Now
	cfg.Behavior.LatencyModel = &m
	cfg.Behavior.Sleep = sl.sleep
	d := start(t, cfg)

	rc := rcfgClient(t, d, pc)
	get(t, rc, uriGen)
	c := d.Counters()
	assert.Equal(t, int64(1), c.Exchanges)
	assert.Equal(t, int64(1), c.FullHandshakes, "the remote-configuration handshake")
	assert.Equal(t, int64(1), c.Connections)
	assert.Equal(t, 1, sl.count(m.FullHandshake), "the handshake takes the model's time")
	assert.Equal(t, 1, sl.count(m.Exchange))

	sl.reset()
	before := d.Counters()
	issued := provisionWithTLS(t, d, rc, ca)
	c = d.Counters().Sub(before)
	assert.Zero(t, c.FullHandshakes, "every call reuses the connection")
	assert.Equal(t, int(c.Exchanges), sl.count(m.Exchange), "each exchange takes the model's time")
	assert.Equal(t, 1, sl.count(m.Exchange+m.KeyGeneration)+sl.count(m.KeyGeneration), "GenerateKeyPair takes the key generation")

	// The read-back as the new admin, once the network restart is over: a
	// challenge (401, closing the connection) and a second handshake.
	clock.advance(m.CommitRestart)
	pin := sha256.Sum256(issued)
	before = d.Counters()
	ac := adminClient(t, d.TLSEndpoint(), "admin", adminPW, wsman.WithTLS(wsman.PinSHA256(pin)))
	get(t, ac, uriSetup)
	c = d.Counters().Sub(before)
	assert.Equal(t, int64(2), c.Exchanges, "the challenged request and the authenticated one")
	assert.Equal(t, int64(1), c.Unauthorized)
	assert.Equal(t, int64(2), c.FullHandshakes, "the challenge closes the connection: a second handshake")
	assert.Zero(t, c.ResumedHandshakes, "no resumption by default")
}

func TestLatencyModelZeroAddsNothing(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	var sl sleepLog
	cfg := trusting(pc)
	cfg.Behavior.LatencyModel = &amtsim.LatencyModel{}
	cfg.Behavior.Sleep = sl.sleep
	d := start(t, cfg)
	get(t, rcfgClient(t, d, pc), uriGen)
	assert.Empty(t, sl.waits)
	assert.Equal(t, int64(1), d.Counters().Exchanges)
}

func TestLatencyModelScaled(t *testing.T) {
	m := amtsim.FirmwareLatency()
	h := m.Scaled(0.5)
	assert.Equal(t, m.Exchange/2, h.Exchange)
	assert.Equal(t, m.FullHandshake/2, h.FullHandshake)
	assert.Equal(t, m.Methods["AdminSetup"]/2, h.Methods["AdminSetup"])
	h.Methods["AdminSetup"] = 0
	assert.NotZero(t, m.Methods["AdminSetup"], "Scaled copies the method table")
}

func TestCommitRestartRefusesConnections(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	clock := &fakeClock{now: time.Now()}
	m := amtsim.LatencyModel{CommitRestart: 5 * time.Second}
	cfg := trusting(pc)
	cfg.Now = clock.Now
	cfg.Behavior.LatencyModel = &m
	cfg.Behavior.CommitDrop = amtsim.Off
	d := start(t, cfg)
	issued := provisionWithTLS(t, d, rcfgClient(t, d, pc), ca)

	pin := sha256.Sum256(issued)
	before := d.Counters()
	ac := adminClient(t, d.TLSEndpoint(), "admin", adminPW, wsman.WithTLS(wsman.PinSHA256(pin)))
	_, err := ac.Get(t.Context(), uriSetup, nil)
	require.ErrorIs(t, err, wsman.ErrConnect, "the network stack is restarting")
	assert.Positive(t, d.Counters().Sub(before).Refused)

	clock.advance(5 * time.Second)
	f := get(t, ac, uriSetup)
	assert.Equal(t, []string{"2"}, f["ProvisioningState"], "served once the restart is over")
}

func TestTLSResumptionSwitch(t *testing.T) {
	for _, tc := range []struct {
		name            string
		sw              amtsim.Switch
		full, resumed   int64
		resumedWaitings int
	}{
		{"default: every connection a full handshake", amtsim.Default, 2, 0, 0},
		{"resuming device", amtsim.On, 1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := certstest.NewKeyPool()
			pc := chainFor(t, keys, certstest.ProvisioningOptions{})
			ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
			var sl sleepLog
			m := amtsim.FirmwareLatency()
			clock := &fakeClock{now: time.Now()}
			cfg := trusting(pc)
			cfg.Now = clock.Now
			cfg.Behavior.TLSResumption = tc.sw
			cfg.Behavior.LatencyModel = &m
			cfg.Behavior.Sleep = sl.sleep
			cfg.Behavior.CommitDrop = amtsim.Off
			d := start(t, cfg)
			issued := provisionWithTLS(t, d, rcfgClient(t, d, pc), ca)

			clock.advance(m.CommitRestart) // the network restart is over
			pin := sha256.Sum256(issued)
			cache := tls.NewLRUClientSessionCache(4)
			before := d.Counters()
			sl.reset()
			ac := adminClient(t, d.TLSEndpoint(), "admin", adminPW, wsman.WithTLS(wsman.PinSHA256(pin)), wsman.WithTLSSessionCache(cache))
			get(t, ac, uriSetup)
			c := d.Counters().Sub(before)
			assert.Equal(t, tc.full, c.FullHandshakes)
			assert.Equal(t, tc.resumed, c.ResumedHandshakes)
			assert.Equal(t, tc.resumedWaitings, sl.count(m.ResumedHandshake))
		})
	}
}

func TestChallengeNamesFirmware(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	cfg := trusting(pc)
	cfg.Version = amt.MustParseVersion("16.1.25.1917")
	cfg.Behavior.CommitDrop = amtsim.Off
	d := start(t, cfg)
	provisionWithTLS(t, d, rcfgClient(t, d, pc), ca)
	resp, err := http.Post(d.HTTPEndpoint(), "application/soap+xml", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "Intel(R) Active Management Technology 16.1.25.1917", resp.Header.Get("Server"))
	assert.True(t, resp.Close, "a challenge closes the connection (Connection: close)")
}
