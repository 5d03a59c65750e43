package provisioning_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/pskx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Round trips per device for every flow, counted at the simulated device
// (amtsim.Counters): the exchanges (HTTP request/response pairs, digest
// challenges included) and the full TLS handshakes a flow costs. On real
// firmware each exchange takes tenths of a second and each full handshake a
// second or more (amtsim.FirmwareLatency), so these counts, not the engine's
// CPU, set how long a device takes. docs/PERFORMANCE.md tabulates them beside
// the peers' counts.

// flow is one way to activate a device.
type flow struct {
	name string
	// peers is what other tools need for the same end state (docs/PERFORMANCE.md).
	peers string
	run   func(t testing.TB) *amtsim.Device
	// want pins the counts: exchanges, full and resumed handshakes.
	exchanges, full, resumed int64
}

// roundTrips is what one flow cost, counted at the device.
type roundTrips struct {
	amtsim.Counters
}

func (r roundTrips) String() string {
	return fmt.Sprintf("%d exchanges (%d digest challenges), %d full + %d resumed TLS handshakes",
		r.Exchanges, r.Unauthorized, r.FullHandshakes, r.ResumedHandshakes)
}

// engineFlow provisions one device of a fresh harness through the engine.
func engineFlow(t testing.TB, o harnessOptions, prepare func(h *harness, p *provisioning.Provisioner, d *amtsim.Device)) *amtsim.Device {
	h := newHarness(asT(t), o)
	d := h.fleet.Devices()[0]
	p := h.provisioner()
	if prepare != nil {
		prepare(h, p, d)
	}
	d.ResetCounters()
	rec, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	require.Equal(t, provisioning.StateProvisioned, rec.State)
	return d
}

// asT returns the *testing.T a harness needs (benchmarks run the flows
// through a sub-test).
func asT(t testing.TB) *testing.T {
	if tt, ok := t.(*testing.T); ok {
		return tt
	}
	panic("flows run under a *testing.T")
}

var flows = []flow{
	{
		name:      "bare-metal PKI, ACM with a TLS profile",
		peers:     "MeshCentral 22–23 over 1 handshake, no read-back; RPS 25–26 over LMS",
		run:       func(t testing.TB) *amtsim.Device { return engineFlow(t, harnessOptions{}, nil) },
		exchanges: 16, full: 3, resumed: 0,
	},
	{
		name:  "bare-metal PKI, ACM with a TLS profile, device resuming TLS sessions",
		peers: "(no public source shows AMT resuming TLS sessions)",
		run: func(t testing.TB) *amtsim.Device {
			return engineFlow(t, harnessOptions{template: func(c *amtsim.Config) { c.Behavior.TLSResumption = amtsim.On }}, nil)
		},
		exchanges: 16, full: 2, resumed: 1,
	},
	{
		name:  "bare-metal PKI, ACM without TLS profile",
		peers: "MeshCentral ~14 over 1 handshake, no read-back",
		run: func(t testing.TB) *amtsim.Device {
			return engineFlow(t, harnessOptions{config: func(c *provisioning.Config) {
				c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{}
			}}, nil)
		},
		exchanges: 10, full: 3, resumed: 0,
	},
	{
		name:  "PSK (AMT 6.2, TLS 1.0), without TLS profile",
		peers: "no peer still supports PSK",
		run: func(t testing.TB) *amtsim.Device {
			pair, err := pskx.GeneratePair(nil)
			require.NoError(t, err)
			store := &pskx.MemoryStore{}
			require.NoError(t, store.Put(context.Background(), pair))
			return engineFlow(t, harnessOptions{
				device: func(_ int, c *amtsim.Config) {
					c.Version = amt.MustParseVersion("6.2.10")
					c.PSK = &pair
				},
				config: func(c *provisioning.Config) {
					c.PSK = store
					c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{AllowLegacyTLS: true}
				},
			}, nil)
		},
		exchanges: 10, full: 1, resumed: 0,
	},
	{
		name:  "agent-initiated PKI with OTP, ACM with a TLS profile",
		peers: "—",
		run: func(t testing.TB) *amtsim.Device {
			otp := amt.NewSecret("0tp-Agent-42")
			return engineFlow(t, harnessOptions{}, func(h *harness, p *provisioning.Provisioner, d *amtsim.Device) {
				require.NoError(t, d.StartConfiguration(otp))
				require.NoError(t, p.ExpectAgentRequest(h.ctx, provisioning.AgentRequest{UUID: d.UUID(), OTP: otp}))
			})
		},
		exchanges: 17, full: 3, resumed: 0,
	},
	{
		name:  "host-based CCM (LMS, non-TLS)",
		peers: "rpc-go local CCM",
		run: func(t testing.TB) *amtsim.Device {
			sim, login := localDevice(asT(t), amtsim.Config{})
			sim.ResetCounters()
			opts := provisioning.HostBasedOptions{UUID: sim.UUID(), SignIn: signIn(login)}
			require.NoError(t, provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), amt.NewSecret("N3w-Admin-pw"), opts))
			return sim
		},
		exchanges: 6, full: 0, resumed: 0,
	},
	{
		name:  "host-based ACM (LMS, non-TLS)",
		peers: "RPS 25–26 over LMS (with TLS profile)",
		run: func(t testing.TB) *amtsim.Device {
			chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
			root := chain.Bundle.RootHash(amt.HashSHA256)
			sim, login := localDevice(asT(t), amtsim.Config{
				TrustedDNSSuffix: "contoso.com",
				UserRootHashes:   []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
			})
			sim.ResetCounters()
			opts := provisioning.HostBasedOptions{UUID: sim.UUID(), TrustedHashes: []amt.CertHash{root}, MEBxPassword: mebxPW, SignIn: signIn(login)}
			require.NoError(t, provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, amt.NewSecret("N3w-Admin-pw"), opts))
			return sim
		},
		// 11: the nonce of the first IPS_HostBasedSetupService Get is signed,
		// not read again after the chain (TestHostBasedNonceReadBeforeChain).
		exchanges: 11, full: 0, resumed: 0,
	},
	{
		name:  "TLS host-based ACM (ActivateTLS, AMT 19)",
		peers: "RPS on AMT 19+ ~30–32 over 3 or more",
		run: func(t testing.TB) *amtsim.Device {
			chain := tlsChain(asT(t), "19.0.5")
			root := chain.Bundle.RootHash(amt.HashSHA256)
			sim, opts, _ := tlsDevice(asT(t), "19.0.5", func(c *amtsim.Config) {
				c.UserRootHashes = []amtsim.RootHash{{Name: "test", Hash: root, Active: true}}
			})
			opts.TrustedHashes = []amt.CertHash{root}
			sim.ResetCounters()
			require.NoError(t, provisioning.ActivateTLS(context.Background(), sim.Agent(), chain.Bundle, amt.NewSecret("N3w-Admin-pw"), opts))
			return sim
		},
		exchanges: 4, full: 1, resumed: 0,
	},
}

// roundTripsEnv makes TestRoundTrips print one JSON line per flow (the child
// process of BenchmarkRoundTrips).
const roundTripsEnv = "AMTKIT_ROUNDTRIPS_JSON"

// flowResult is one flow's line.
type flowResult struct {
	Name     string          `json:"name"`
	Counters amtsim.Counters `json:"counters"`
}

// TestRoundTrips counts every flow's round trips at the device and pins
// them: a change that adds a round trip fails here and must say why.
func TestRoundTrips(t *testing.T) {
	var table strings.Builder
	for _, f := range flows {
		t.Run(f.name, func(t *testing.T) {
			d := f.run(t)
			rt := roundTrips{d.Counters()}
			assert.Equal(t, f.exchanges, rt.Exchanges, "exchanges")
			assert.Equal(t, f.full, rt.FullHandshakes, "full TLS handshakes")
			assert.Equal(t, f.resumed, rt.ResumedHandshakes, "resumed TLS handshakes")
			fmt.Fprintf(&table, "%-55s %s  [peers: %s]\n", f.name, rt, f.peers)
			if os.Getenv(roundTripsEnv) != "" {
				line, err := json.Marshal(flowResult{Name: f.name, Counters: rt.Counters})
				require.NoError(t, err)
				fmt.Printf("%s\n", line)
			}
		})
	}
	t.Logf("round trips per device:\n%s", table.String())
}

// BenchmarkRoundTrips reports each flow's round trips per device as metrics
// (exchanges/device, 401/device, full-handshakes/device,
// resumed-handshakes/device) for the bench tool's table. The flows need a
// *testing.T, so it runs TestRoundTrips in a child process (this test binary)
// and reads its lines; the counts do not depend on timing.
func BenchmarkRoundTrips(b *testing.B) {
	var results []flowResult
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestRoundTrips$", "-test.count", "1")
		cmd.Env = append(os.Environ(), roundTripsEnv+"=1")
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("TestRoundTrips: %v\n%s", err, out)
		}
		results = results[:0]
		for _, line := range strings.Split(string(out), "\n") {
			var r flowResult
			if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &r) == nil {
				results = append(results, r)
			}
		}
	}
	if len(results) != len(flows) {
		b.Fatalf("%d flows counted, want %d", len(results), len(flows))
	}
	for _, r := range results {
		b.Run(flowKey(r.Name), func(b *testing.B) {
			b.ReportMetric(float64(r.Counters.Exchanges), "exchanges/device")
			b.ReportMetric(float64(r.Counters.Unauthorized), "401/device")
			b.ReportMetric(float64(r.Counters.FullHandshakes), "full-handshakes/device")
			b.ReportMetric(float64(r.Counters.ResumedHandshakes), "resumed-handshakes/device")
		})
	}
}

// flowKey turns a flow's name into a sub-benchmark name.
func flowKey(name string) string {
	return strings.NewReplacer(" ", "_", ",", "", "(", "", ")", "").Replace(name)
}
