package provisioning_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/wsman"
)

func TestProvisionAgentInitiatedOTP(t *testing.T) {
	for _, good := range []bool{true, false} {
		name := map[bool]string{true: "good OTP", false: "bad OTP"}[good]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			d := h.fleet.Devices()[0]
			otp := amt.NewSecret("0tp-Agent-42")
			require.NoError(t, d.StartConfiguration(otp))
			p := h.provisioner()
			hello := h.helloFrom(d)
			sent := otp
			if !good {
				sent = amt.NewSecret("0tp-Agent-43")
			}
			require.NoError(t, p.ExpectAgentRequest(h.ctx, provisioning.AgentRequest{UUID: d.UUID(), OTP: sent}))
			rec, err := p.Provision(h.ctx, hello)
			var otpEvent provisioning.Event
			for _, e := range h.eventsFor(d.UUID()) {
				if e.Step == provisioning.StepOTP {
					otpEvent = e
				}
			}
			if good {
				require.NoError(t, err)
				assert.Equal(t, provisioning.StateProvisioned, rec.State)
				assert.True(t, rec.AgentOTP)
				assert.Contains(t, otpEvent.Detail, "OTP verified")
				return
			}
			assert.Equal(t, provisioning.ReasonOTPMismatch, provisioning.ReasonOf(err))
			assert.True(t, errors.Is(err, provisioning.ErrRejected))
			assert.Equal(t, provisioning.ReasonOTPMismatch, otpEvent.Reason)
			assert.Eventually(t, func() bool { return !d.Snapshot().NetworkOpen }, 5*time.Second, 5*time.Millisecond,
				"OTP mismatch must close the provisioning window")
			assert.NotEqual(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
			// The agent request is spent: a retry is now unexpected and, with the
			// window closed, cannot connect.
			_, err = p.Provision(h.ctx, hello)
			assert.Error(t, err)
			_, err = d.Hello(0)
			assert.Error(t, err, "a device whose window is closed sends no hellos")
		})
	}
}

func TestProvisionRequireOTPWithoutAgent(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RequireOTP: true}
	}})
	d := h.fleet.Devices()[0]
	_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	assert.Equal(t, provisioning.ReasonOTPMissing, provisioning.ReasonOf(err))
}

// newPSKHarness is a harness of one AMT 6.2 device whose setup.bin gave it
// pair, which the Provisioner's pair store (store) holds, with prof as the
// default profile.
func newPSKHarness(t *testing.T, prof provisioning.Profile) (h *harness, pair pskx.Pair, store *pskx.MemoryStore) {
	t.Helper()
	pair, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	store = &pskx.MemoryStore{}
	require.NoError(t, store.Put(context.Background(), pair))
	h = newHarness(t, harnessOptions{
		device: func(i int, c *amtsim.Config) {
			c.Version = amt.MustParseVersion("6.2.10")
			c.PSK = &pair
		},
		config: func(c *provisioning.Config) {
			c.PSK = store
			c.Profiles[provisioning.DefaultProfileName] = prof
		},
	})
	return h, pair, store
}

func TestProvisionPSK(t *testing.T) {
	h, pair, store := newPSKHarness(t, provisioning.Profile{TLS: &provisioning.TLSProfile{}, AllowLegacyTLS: true})
	d := h.fleet.Devices()[0]
	rh := h.helloFrom(d)
	require.Equal(t, uint16(hello.VersionPSK), rh.Hello.Version)
	rec, err := h.provisioner().Provision(h.ctx, rh)
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State)
	assert.Equal(t, pair.PID.Compact(), rec.PID)
	used, err := store.Lookup(context.Background(), pair.PID)
	require.NoError(t, err)
	assert.True(t, used.Used)
	assert.Equal(t, d.UUID(), used.UsedBy)
	assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)

	// Unknown PID.
	other, _ := pskx.GeneratePair(nil)
	rh.Hello.PID = [8]byte{}
	copy(rh.Hello.PID[:], other.PID.Compact())
	_, err = h.provisioner().Provision(h.ctx, rh)
	assert.Equal(t, provisioning.ReasonUnknownPID, provisioning.ReasonOf(err))
}

func TestProvisionRogueDevices(t *testing.T) {
	tests := []struct {
		name    string
		kind    amtsim.RogueKind
		profile provisioning.Profile
		onDie   bool                // configure the On-Die roots
		reason  provisioning.Reason // "" = provisioned (with its own secrets)
	}{
		{"no On-Die, On-Die required", amtsim.RogueNoOnDie, provisioning.Profile{RequireOnDie: true}, true, provisioning.ReasonDeviceUntrusted},
		{"other certificate, On-Die required", amtsim.RogueOtherCertificate, provisioning.Profile{RequireOnDie: true}, true, provisioning.ReasonDeviceUntrusted},
		{"other certificate, On-Die roots known", amtsim.RogueOtherCertificate, provisioning.Profile{}, true, provisioning.ReasonDeviceUntrusted},
		{"wrong GetUuid", amtsim.RogueWrongUUID, provisioning.Profile{}, false, provisioning.ReasonUUIDMismatch},
		{"no On-Die, OTP required", amtsim.RogueNoOnDie, provisioning.Profile{RequireOTP: true}, false, provisioning.ReasonOTPMissing},
		{"UUID alone", amtsim.RogueNoOnDie, provisioning.Profile{}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{
				template: func(c *amtsim.Config) { c.OnDie = true },
				config: func(c *provisioning.Config) {
					c.Profiles[provisioning.DefaultProfileName] = tt.profile
				},
			})
			victim := h.fleet.Devices()[0]
			if tt.onDie {
				h.cfg.OnDieRoots = poolOf(h.fleet.OnDieCA().Root())
			}
			rogue, err := h.fleet.StartRogue(victim, tt.kind)
			require.NoError(t, err)
			// The real device passes the On-Die check.
			p := h.provisioner()
			rec, err := p.Provision(h.ctx, h.helloFrom(rogue))
			if tt.reason == "" {
				require.NoError(t, err)
				// Provisioned with its own random secrets only: nothing shared.
				assert.True(t, rogue.AdminPasswordIs(rec.AdminPassword))
				findings := provisioning.Audit(h.ctx, h.cfg)
				assert.True(t, hasFinding(findings, provisioning.AuditUUIDOnly))
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.reason, provisioning.ReasonOf(err), "%v", err)
			assert.True(t, errors.Is(err, provisioning.ErrRejected))
			assert.NotEqual(t, amt.PostProvisioning, rogue.Snapshot().ProvisioningState)
			assert.Equal(t, amt.PreProvisioning, victim.Snapshot().ProvisioningState)
		})
	}
}

func TestProvisionOnDieVerified(t *testing.T) {
	h := newHarness(t, harnessOptions{template: func(c *amtsim.Config) { c.OnDie = true }})
	h.cfg.OnDieRoots = poolOf(h.fleet.OnDieCA().Root())
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RequireOnDie: true, TLS: &provisioning.TLSProfile{}}
	d := h.fleet.Devices()[0]
	rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	assert.True(t, rec.OnDieVerified)
}

// On CSME 16.1 and later, a device provisioned without a TLS profile serves
// 16993 after the commit with a self-signed certificate of its own, not the
// On-Die remote-configuration certificate it shows while provisioning (rpc-go
// lmsTls.go HandleAMTTransition; RPS TLSTunnelManager; the Intel AMT SDK:
// "the self-signed certificate will be set as the TLS Server certificate").
// Nothing could verify that certificate, so such a profile is refused before
// anything is changed. Before, the session configured and committed, then its
// read-back (pinned to the remote-configuration certificate) refused the
// device: provisioned in admin control mode, its session Rejected.
func TestProvisionOnDieWithoutTLSProfile(t *testing.T) {
	for _, version := range []string{"16.1.25", "19.0.5"} {
		t.Run(version, func(t *testing.T) {
			h := newHarness(t, harnessOptions{template: func(c *amtsim.Config) {
				c.OnDie, c.Version = true, amt.MustParseVersion(version)
			}})
			h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{}
			d := h.fleet.Devices()[0]
			p := h.provisioner()
			rec, err := p.Provision(h.ctx, h.helloFrom(d))
			require.Error(t, err)
			assert.Equal(t, provisioning.ReasonProfile, provisioning.ReasonOf(err), "%v", err)
			assert.Contains(t, err.Error(), "Profile.TLS")
			assert.False(t, rec.Provisioned())
			assert.Equal(t, amt.InProvisioning, d.Snapshot().ProvisioningState, "nothing was changed")

			// With a TLS profile the same device is provisioned.
			h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{}}
			rec, err = h.provisioner().Provision(h.ctx, h.helloFrom(d))
			require.NoError(t, err)
			assert.True(t, rec.Provisioned())
		})
	}
}

// A device still reloading after CommitChanges may report in-provisioning for
// a moment: verify reads it again, CommitVerifyDelay apart, up to three times
// (rpc-go re-reads the state three times after a commit; RPS waits 15 s), and
// only the third such answer is final. Before, the first one was.
func TestVerifyWaitsForTheCommitToSettle(t *testing.T) {
	for _, tc := range []struct {
		reads  int
		reason provisioning.Reason // "": provisioned
	}{{1, ""}, {2, ""}, {3, provisioning.ReasonVerifyFailed}} {
		t.Run(fmt.Sprint(tc.reads), func(t *testing.T) {
			h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.Behavior.CommitSettleReads = tc.reads }})
			h.cfg.CommitVerifyDelay = 3 * time.Second
			d := h.fleet.Devices()[0]
			_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
			assert.Equal(t, tc.reason, provisioning.ReasonOf(err), "%v", err)
			assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
			h.mu.Lock()
			defer h.mu.Unlock()
			waits := 0
			for _, w := range h.slept {
				if w == 3*time.Second {
					waits++
				}
			}
			assert.Equal(t, min(tc.reads, 2), waits, "a pause before every read-back after the first")
		})
	}
}

// Intel's real On-Die certificates do not name the SMBIOS UUID: the default
// binding refuses them with a reason that says so, a binding that knows the
// platform decides, and the named TrustAnyOnDieDevice accepts a genuine chain
// (the UUID the firmware reports must still match).
func TestProvisionOnDieBinding(t *testing.T) {
	type call struct {
		chain int
		uuid  amt.UUID
		fqdn  string
	}
	refuse := errors.New("platform identity does not match the inventory")
	tests := []struct {
		name    string
		binding func(calls *[]call) provisioning.OnDieBinder // nil: the default
		rogue   bool                                         // a real On-Die device answering for the victim
		reason  provisioning.Reason                          // "" = provisioned and OnDieVerified
		message string
	}{
		{name: "default refuses an unnamed certificate", reason: provisioning.ReasonDeviceUntrusted, message: "names no UUID"},
		{name: "trust any genuine chain", binding: func(*[]call) provisioning.OnDieBinder { return provisioning.TrustAnyOnDieDevice }},
		{name: "trust any genuine chain, impostor reports its own UUID", rogue: true,
			binding: func(*[]call) provisioning.OnDieBinder { return provisioning.TrustAnyOnDieDevice }, reason: provisioning.ReasonUUIDMismatch},
		{name: "integrator binding accepts", binding: func(calls *[]call) provisioning.OnDieBinder {
			return func(chain []*x509.Certificate, h *hello.Message, inv provisioning.Inventory) error {
				*calls = append(*calls, call{len(chain), h.UUID, inv.FQDN})
				return nil
			}
		}},
		{name: "integrator binding refuses", binding: func(calls *[]call) provisioning.OnDieBinder {
			return func(chain []*x509.Certificate, h *hello.Message, inv provisioning.Inventory) error {
				*calls = append(*calls, call{len(chain), h.UUID, inv.FQDN})
				return refuse
			}
		}, reason: provisioning.ReasonDeviceUntrusted, message: refuse.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{template: func(c *amtsim.Config) { c.OnDie, c.OnDieUnnamed = true, true }})
			h.cfg.OnDieRoots = poolOf(h.fleet.OnDieCA().Root())
			h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RequireOnDie: true, TLS: &provisioning.TLSProfile{}}
			var calls []call
			if tt.binding != nil {
				h.cfg.OnDieBinding = tt.binding(&calls)
			}
			d := h.fleet.Devices()[0]
			target := d
			if tt.rogue {
				rogue, err := h.fleet.StartRogue(d, amtsim.RogueWrongUUID)
				require.NoError(t, err)
				target = rogue
			}
			rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(target))
			if tt.reason != "" {
				require.Error(t, err)
				assert.Equal(t, tt.reason, provisioning.ReasonOf(err), "%v", err)
				assert.Contains(t, err.Error(), tt.message)
				assert.Equal(t, amt.PreProvisioning, d.Snapshot().ProvisioningState)
			} else {
				require.NoError(t, err)
				assert.True(t, rec.OnDieVerified)
			}
			for _, c := range calls {
				assert.Equal(t, 1, c.chain, "the simulator sends its leaf alone")
				assert.Equal(t, d.UUID(), c.uuid)
				assert.Equal(t, deviceName(0)+".contoso.com", c.fqdn)
			}
			if tt.name == "integrator binding accepts" || tt.name == "integrator binding refuses" {
				assert.NotEmpty(t, calls, "the binding was consulted")
			}
		})
	}
}

func TestBindOnDieUUID(t *testing.T) {
	id, err := amt.ParseUUID("d2ffc23e-9dd1-412d-860a-54b2039b72ff")
	require.NoError(t, err)
	other := "11111111-2222-4333-8444-555555555555"
	hello := &hello.Message{UUID: id}
	uri := func(s string) []*url.URL { u, _ := url.Parse(s); return []*url.URL{u} }
	tests := []struct {
		name string
		leaf *x509.Certificate
		err  string // "" = bound
	}{
		{"URI SAN", &x509.Certificate{URIs: uri("urn:uuid:" + id.String())}, ""},
		{"URI SAN upper case", &x509.Certificate{URIs: uri("urn:uuid:D2FFC23E-9DD1-412D-860A-54B2039B72FF")}, ""},
		{"subject serialNumber", &x509.Certificate{Subject: pkix.Name{SerialNumber: id.String()}}, ""},
		{"URI SAN of another device", &x509.Certificate{URIs: uri("urn:uuid:" + other)}, other},
		{"serialNumber of another device", &x509.Certificate{Subject: pkix.Name{SerialNumber: other}}, other},
		{"nothing", &x509.Certificate{Subject: pkix.Name{CommonName: "AMT RCFG"}}, "names no UUID"},
		{"other URIs only", &x509.Certificate{URIs: uri("https://example.com/x")}, "names no UUID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := provisioning.BindOnDieUUID([]*x509.Certificate{tt.leaf}, hello, provisioning.Inventory{})
			if tt.err == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
	assert.Error(t, provisioning.BindOnDieUUID(nil, hello, provisioning.Inventory{}))
	assert.Error(t, provisioning.TrustAnyOnDieDevice(nil, hello, provisioning.Inventory{}))
}

// AMT 21 drops the first request after a TLS handshake: the session sends the
// (read-only) first Get again, at most twice; a device that keeps dropping it
// fails the session.
func TestProvisionFirstRequestDropped(t *testing.T) {
	for _, drops := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("%d drops", drops), func(t *testing.T) {
			var seen sync.Map
			h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
				c.Behavior.DropFunc = func(op, uri string, n int) amtsim.Drop {
					if op == "Get" && strings.HasSuffix(uri, "AMT_GeneralSettings") {
						k, _ := seen.LoadOrStore("n", new(atomic.Int32))
						if k.(*atomic.Int32).Add(1) <= int32(drops) {
							return amtsim.DropRequest
						}
					}
					return amtsim.DropNone
				}
			}})
			d := h.fleet.Devices()[0]
			_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
			if drops <= 2 {
				require.NoError(t, err)
				assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, wsman.ErrResponseLost)
			assert.NotEqual(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
		})
	}
}

// Without a TLS profile the read-back uses the non-TLS port, except from CSME
// 16.1, which accepts no remote non-TLS connection and serves 16993 with its own
// certificate.
func TestProvisionWithoutTLSReadBack(t *testing.T) {
	for _, tt := range []struct{ version, want string }{
		{"3.2.2", "over the non-TLS port"},
		{"6.0.30", "over the non-TLS port"},
		{"16.0.15", "over the non-TLS port"},
		{"16.1.25", "over TLS, pinned to the device's own certificate seen while provisioning"},
		{"19.0.5", "over TLS, pinned to the device's own certificate seen while provisioning"},
	} {
		t.Run(tt.version, func(t *testing.T) {
			h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.Version = amt.MustParseVersion(tt.version) }})
			h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{AllowLegacyTLS: true}
			d := h.fleet.Devices()[0]
			_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
			require.NoError(t, err)
			var verify string
			for _, e := range h.eventsFor(d.UUID()) {
				if e.Step == provisioning.StepVerify {
					verify = e.Detail
				}
			}
			assert.Contains(t, verify, tt.want)
		})
	}
}

// TLS needs GenerateKeyPair (AMT 6.2): older firmware is refused before any
// change with a profile that asks for it.
func TestProvisionTLSNeedsKeyGeneration(t *testing.T) {
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.Version = amt.MustParseVersion("6.0.30") }})
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{}, AllowLegacyTLS: true}
	d := h.fleet.Devices()[0]
	_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	assert.Equal(t, provisioning.ReasonProfile, provisioning.ReasonOf(err), "%v", err)
	assert.True(t, d.MEBxPasswordIs(amt.NewSecret("admin")), "nothing was changed")
}

// A commit that reports success followed by a device that cannot be read back
// at all is unconfirmed, not a verify failure: the device may be provisioned.
func TestProvisionUnreachableAfterCommit(t *testing.T) {
	var committed atomic.Bool
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
		c.Version = amt.MustParseVersion("16.1.25") // the commit reply arrives
		c.Behavior.DropFunc = func(op, _ string, _ int) amtsim.Drop {
			if committed.Load() {
				return amtsim.DropRequest
			}
			if op == "CommitChanges" {
				committed.Store(true)
			}
			return amtsim.DropNone
		}
	}, config: func(c *provisioning.Config) { c.CommitVerifyAttempts = 2 }})
	d := h.fleet.Devices()[0]
	_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	assert.Equal(t, provisioning.ReasonCommitUnconfirmed, provisioning.ReasonOf(err), "%v", err)
	var cu *provisioning.CommitUnconfirmedError
	require.ErrorAs(t, err, &cu)
	assert.NoError(t, cu.CommitErr, "the commit itself reported success")
	assert.Contains(t, cu.Error(), "commit reported success")
	assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "it did take effect")
}

func TestProvisionCommitDrop(t *testing.T) {
	t.Run("verified", func(t *testing.T) {
		h := newHarness(t, harnessOptions{device: func(i int, c *amtsim.Config) {
			c.Version = amt.MustParseVersion("19.0.5")
		}})
		d := h.fleet.Devices()[0]
		rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
		require.NoError(t, err)
		assert.Equal(t, provisioning.StateProvisioned, rec.State)
		var commit provisioning.Event
		for _, e := range h.eventsFor(d.UUID()) {
			if e.Step == provisioning.StepCommit {
				commit = e
			}
		}
		assert.Contains(t, commit.Detail, "connection dropped")
	})
	t.Run("unconfirmed", func(t *testing.T) {
		h := newHarness(t, harnessOptions{device: func(i int, c *amtsim.Config) {
			c.Version = amt.MustParseVersion("19.0.5")
		}})
		h.cfg.CommitVerifyAttempts = 2
		h.cfg.CallTimeout = 500 * time.Millisecond // each read-back waits this long for the silent device
		d := h.fleet.Devices()[0]
		// The device goes silent right after the commit.
		h.cfg.Observer = func(e provisioning.Event) {
			if e.Step == provisioning.StepCommit {
				d.SetUnresponsive(true)
			}
		}
		p := h.provisioner()
		ctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
		defer cancel()
		rec, err := p.Provision(ctx, h.helloFrom(d))
		require.Error(t, err)
		var cu *provisioning.CommitUnconfirmedError
		assert.True(t, errors.As(err, &cu), "%v", err)
		assert.Equal(t, provisioning.ReasonCommitUnconfirmed, provisioning.ReasonOf(err))
		assert.Equal(t, provisioning.StateFailed, rec.State)
		require.NotNil(t, rec.Session, "the session's progress is kept for a later read-back")
		assert.True(t, rec.Session.Done.Has(provisioning.DoneCommitSent))
	})
}

func TestProvisionUnresponsiveDevice(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.fleet.Devices()[0]
	d.SetUnresponsive(true)
	h.cfg.SessionTimeout = 300 * time.Millisecond
	rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	assert.Equal(t, provisioning.ReasonTimeout, provisioning.ReasonOf(err), "%v", err)
	assert.Equal(t, provisioning.StateFailed, rec.State)
}

func TestProvisionKeyGenerationRetries(t *testing.T) {
	h := newHarness(t, harnessOptions{device: func(i int, c *amtsim.Config) { c.Behavior.GenerateKeyPairFailures = 3 }})
	d := h.fleet.Devices()[0]
	rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State)

	h2 := newHarness(t, harnessOptions{device: func(i int, c *amtsim.Config) { c.Behavior.GenerateKeyPairFailures = 5 }})
	h2.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{KeyAttempts: 2, KeyRetryDelay: time.Millisecond}}
	_, err = h2.provisioner().Provision(h2.ctx, h2.helloFrom(h2.fleet.Devices()[0]))
	assert.Equal(t, provisioning.ReasonDeviceError, provisioning.ReasonOf(err))
	assert.True(t, errors.Is(err, amt.StatusPKIGeneratingKeys), "%v", err)

	// A fault that names no AMT status is retried too, as MeshCentral retries
	// any failed GenerateKeyPair; a status repeating cannot change is final.
	h3 := newHarness(t, harnessOptions{device: func(i int, c *amtsim.Config) {
		c.Behavior.GenerateKeyPairFailures, c.Behavior.GenerateKeyPairFaults = 1, 2
	}})
	rec, err = h3.provisioner().Provision(h3.ctx, h3.helloFrom(h3.fleet.Devices()[0]))
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State)
}

func TestProvisionUsersAnd8021X(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
		TLS:       &provisioning.TLSProfile{},
		Users:     []provisioning.UserAccount{{Name: "helpdesk", Password: amt.NewSecret("H3lp-desk!"), Realms: []amt.Realm{amt.RealmRemoteControl, amt.RealmGeneralInfo}, Access: amt.AccessNetwork}},
		IEEE8021X: &provisioning.IEEE8021XProfile{},
	}
	d := h.fleet.Devices()[0]
	rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	snap := d.Snapshot()
	var users []string
	for _, u := range snap.Users {
		if !u.System {
			users = append(users, u.User)
		}
	}
	assert.Equal(t, []string{"helpdesk"}, users)
	require.NotNil(t, snap.IEEE8021xClient)
	c, ok := rec.CurrentCertificate(provisioning.PurposeIEEE8021X)
	require.True(t, ok)
	assert.Equal(t, snap.IEEE8021xClient.Raw, c.DER)
}

func TestProvisionDuplicateHello(t *testing.T) {
	h := newHarness(t, harnessOptions{device: func(i int, c *amtsim.Config) { c.Behavior.Latency = 20 * time.Millisecond }})
	d := h.fleet.Devices()[0]
	p := h.provisioner()
	hello := h.helloFrom(d)
	p.HandleHello(h.ctx, hello)
	require.Eventually(t, func() bool { return p.InSession(d.UUID(), hello.Source) }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(p.Sessions()) == 1 }, 5*time.Second, time.Millisecond)
	ss := p.Sessions()[0]
	assert.Equal(t, d.UUID(), ss.Device())
	assert.False(t, ss.Started().IsZero())
	assert.False(t, ss.State().Final())
	_, err := p.Provision(h.ctx, hello)
	assert.ErrorIs(t, err, provisioning.ErrDuplicateSession)
	p.HandleHello(h.ctx, hello) // dropped, reported
	p.Wait()
	dup := 0
	for _, e := range h.eventsFor(d.UUID()) {
		if e.Reason == provisioning.ReasonDuplicateSession {
			dup++
		}
	}
	assert.Equal(t, 1, dup)
	rec, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State)
	assert.Empty(t, p.Sessions())
	assert.Equal(t, provisioning.StateProvisioned, ss.State())
}

func TestProvisionerRestartResumes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.fleet.Devices()[0]
	ctx, cancel := context.WithCancel(h.ctx)
	// Stop the first provisioner right after TLS is bound.
	h.cfg.Observer = func(e provisioning.Event) {
		if e.Step == provisioning.StepConfigure || e.Step == provisioning.StepCommit {
			return
		}
		if e.Step == provisioning.StepIdentify {
			cancel()
		}
	}
	_, err := h.provisioner().Provision(ctx, h.helloFrom(d))
	require.Error(t, err)
	rec, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	require.False(t, rec.State.Final() && rec.State == provisioning.StateProvisioned)

	// A new provisioner on the same store resumes it from the record.
	h.cfg.Observer = nil
	rec.State = provisioning.StateIdentified // as left by a crash (not a clean failure)
	require.NoError(t, h.store.Save(h.ctx, rec))
	p2 := h.provisioner()
	require.NoError(t, p2.Resume(h.ctx))
	rec, err = h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State)
	assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
	assert.True(t, d.AdminPasswordIs(rec.AdminPassword))
}

func TestProvisionConcurrent100(t *testing.T) {
	if testing.Short() {
		t.Skip("100 devices")
	}
	h := newHarness(t, harnessOptions{n: 100})
	p := h.provisioner()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(h.ctx)
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, ln, func(l *provisioning.HelloListener) { l.PerSourceBurst = -1 }) }()
	_, err = h.fleet.SendHellos(h.ctx, amtsim.HelloOptions{Addr: ln.Addr().String(), MaxHellos: 1})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		recs, _ := provisioning.CollectRecords(h.store.Records(h.ctx, provisioning.Filter{}))
		done := 0
		for _, r := range recs {
			if r.State.Final() {
				done++
			}
		}
		return done == 100
	}, 120*time.Second, 50*time.Millisecond)
	cancel()
	require.NoError(t, <-served)
	recs, err := provisioning.CollectRecords(h.store.Records(h.ctx, provisioning.Filter{}))
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, r := range recs {
		assert.Equal(t, provisioning.StateProvisioned, r.State, "%s: %s", r.UUID, r.LastError)
		assert.False(t, seen[r.AdminPassword.Reveal()], "admin passwords must differ per device")
		seen[r.AdminPassword.Reveal()] = true
	}
	for _, d := range h.fleet.Devices() {
		assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
	}
}

var _ = sync.Mutex{}

// An impostor's hello for a device that is already provisioned must not touch
// the real device's record.
func TestImpostorCannotOverwriteRecord(t *testing.T) {
	for _, kind := range []amtsim.RogueKind{amtsim.RogueNoOnDie, amtsim.RogueWrongUUID} {
		h := newHarness(t, harnessOptions{template: func(c *amtsim.Config) { c.OnDie = true }})
		h.cfg.OnDieRoots = poolOf(h.fleet.OnDieCA().Root())
		h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RequireOnDie: kind == amtsim.RogueNoOnDie, TLS: &provisioning.TLSProfile{}}
		victim := h.fleet.Devices()[0]
		p := h.provisioner()
		rec, err := p.Provision(h.ctx, h.helloFrom(victim))
		require.NoError(t, err)
		rogue, err := h.fleet.StartRogue(victim, kind)
		require.NoError(t, err)
		_, err = p.Provision(h.ctx, h.helloFrom(rogue))
		require.Error(t, err)
		assert.True(t, errors.Is(err, provisioning.ErrRejected), "%v", err)
		after, err := h.store.Load(h.ctx, victim.UUID())
		require.NoError(t, err)
		assert.Equal(t, provisioning.StateProvisioned, after.State)
		assert.True(t, after.AdminPassword.Equal(rec.AdminPassword))
		assert.True(t, after.MEBxPassword.Equal(rec.MEBxPassword))
		assert.Equal(t, rec.Certificates, after.Certificates)
		assert.Equal(t, rec.History, after.History, "the impostor's attempt changes nothing, not even the history (its events report it)")
		assert.Equal(t, rec.UpdatedAt, after.UpdatedAt)
	}
}

// After provisioning, connections to the device check its certificate's
// revocation when a check is configured, and fail closed.
func TestPostProvisioningRevocationFailsClosed(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var mu sync.Mutex
	deny := false
	h.cfg.CheckRevocation = func(_ context.Context, c, _ *x509.Certificate) error {
		mu.Lock()
		defer mu.Unlock()
		if deny && c.Subject.CommonName == "pc-a0.contoso.com" {
			return errors.New("CRL unreachable")
		}
		return nil
	}
	p, rec := provisionOne(t, h)
	mu.Lock()
	deny = true
	mu.Unlock()
	err := p.Unprovision(h.ctx, rec.UUID)
	require.Error(t, err)
	assert.Equal(t, amt.PostProvisioning, h.fleet.Devices()[0].Snapshot().ProvisioningState)
}

// A resumed session refuses a device whose certificate changed since the
// session began (without On-Die verification, the pin is the identity).
func TestResumedSessionChecksPin(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.fleet.Devices()[0]
	hello := h.helloFrom(d)
	rec := &provisioning.DeviceRecord{UUID: d.UUID(), State: provisioning.StateIdentified, Source: hello.Source,
		HelloVersion: 3, Session: &provisioning.SessionRecord{DeviceCertPin: make([]byte, 32), MatchedRoot: h.chain.Bundle.RootHash(amt.HashSHA256)}}
	require.NoError(t, h.store.Save(h.ctx, rec))
	_, err := h.provisioner().Provision(h.ctx, hello)
	assert.Equal(t, provisioning.ReasonDeviceUntrusted, provisioning.ReasonOf(err), "%v", err)
	after, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateIdentified, after.State, "the interrupted session's record is kept")
}

// An agent request is kept in the store: a restarted provisioner still expects
// it, and an impostor's failed session does not spend it.
func TestAgentRequestSurvivesRestartAndImpostor(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.fleet.Devices()[0]
	otp := amt.NewSecret("0tp-Agent-77")
	require.NoError(t, d.StartConfiguration(otp))
	require.NoError(t, h.provisioner().ExpectAgentRequest(h.ctx, provisioning.AgentRequest{UUID: d.UUID(), OTP: otp}))

	rogue, err := h.fleet.StartRogue(d, amtsim.RogueWrongUUID)
	require.NoError(t, err)
	p2 := h.provisioner() // a restart
	_, err = p2.Provision(h.ctx, h.helloFrom(rogue))
	require.Error(t, err)
	rec, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	require.NotNil(t, rec.Agent, "the impostor did not spend the request")

	rec, err = p2.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	assert.True(t, rec.AgentOTP)
	assert.Nil(t, rec.Agent, "spent by the successful session")
	assert.NotContains(t, fmt.Sprintf("%+v", rec), "0tp-Agent-77")
}

// Hellos beyond MaxQueued are dropped with an event instead of piling up.
func TestHandleHelloOverload(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 3, device: func(i int, c *amtsim.Config) { c.Behavior.Latency = 30 * time.Millisecond }})
	h.cfg.MaxSessions, h.cfg.MaxQueued = 1, 2
	p := h.provisioner()
	for _, d := range h.fleet.Devices() {
		p.HandleHello(h.ctx, h.helloFrom(d))
	}
	p.Wait()
	dropped, done := 0, 0
	for _, d := range h.fleet.Devices() {
		for _, e := range h.eventsFor(d.UUID()) {
			if e.Reason == provisioning.ReasonOverloaded {
				dropped++
			}
			if e.State == provisioning.StateProvisioned {
				done++
			}
		}
	}
	assert.Equal(t, 1, dropped)
	assert.Equal(t, 2, done)
}

// Wait may run while hellos still arrive (a WaitGroup would not allow it).
func TestWaitWhileHellosArrive(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 4, noInventory: true})
	p := h.provisioner()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			for _, d := range h.fleet.Devices() {
				p.HandleHello(h.ctx, h.helloFrom(d))
			}
		}
	}()
	for {
		p.Wait()
		select {
		case <-done:
			p.Wait()
			assert.Empty(t, p.Sessions())
			return
		default:
		}
	}
}

// Hellos with unknown UUIDs are reported but not stored unless asked for.
func TestUnknownDevicesNotStoredByDefault(t *testing.T) {
	h := newHarness(t, harnessOptions{noInventory: true})
	d := h.fleet.Devices()[0]
	_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	assert.Equal(t, provisioning.ReasonUnknownDevice, provisioning.ReasonOf(err))
	_, err = h.store.Load(h.ctx, d.UUID())
	assert.ErrorIs(t, err, provisioning.ErrNotFound)
	assert.NotEmpty(t, h.eventsFor(d.UUID()))
}

// A user account added by a session whose reply was lost is there when the
// device's next hello starts a new session: that session updates the account
// (UpdateUserAclEntryEx) with the password it records, instead of failing on a
// duplicate, and the device ends with one such account whose password is the
// record's.
func TestProvisionUsersAfterALostReply(t *testing.T) {
	adds := 0
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
		c.Behavior.DropFunc = func(op, _ string, _ int) amtsim.Drop {
			if op == "AddUserAclEntryEx" {
				if adds++; adds == 1 {
					return amtsim.DropResponse // the account is added; the reply never arrives
				}
			}
			return amtsim.DropNone
		}
	}})
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
		TLS:   &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
		Users: []provisioning.UserAccount{{Name: "helpdesk", Realms: []amt.Realm{amt.RealmRemoteControl}, Access: amt.AccessNetwork}},
	}
	d := h.fleet.Devices()[0]
	p := h.provisioner()
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err, "the lost reply fails the first session")
	users := func() []amtsim.UserInfo {
		var out []amtsim.UserInfo
		for _, u := range d.Snapshot().Users {
			if !u.System {
				out = append(out, u)
			}
		}
		return out
	}
	require.Len(t, users(), 1, "the account was added nonetheless")

	rec, err := p.Provision(h.ctx, h.helloFrom(d)) // the device's next hello
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State)
	require.Len(t, users(), 1, "updated, not added twice")
	assert.Equal(t, "helpdesk", users()[0].User)
	require.Len(t, rec.Users, 1)
	c, err := amt.NewClient(d.TLSEndpoint(), wsman.WithDigestAuth("helpdesk", rec.Users[0].Password.Reveal()), wsman.WithTLS(wsman.InsecureSkipVerify()), wsman.WithDialer(h.fleet.DialContext))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	_, err = amt.NewDevice(c).GeneralSettings(h.ctx)
	require.NoError(t, err, "the account signs in with the password the record holds")
}
