package main

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		name string
		n    int64
		m    map[string]float64
	}{
		{"BenchmarkParseHello24-2   \t 1954096\t       614.0 ns/op\t1371.20 MB/s\t    1856 B/op\t       3 allocs/op", true,
			"ParseHello24", 1954096, map[string]float64{"ns/op": 614, "MB/s": 1371.2, "B/op": 1856, "allocs/op": 3}},
		{"BenchmarkHelloListener-2 6813 289501 ns/op 3454 hellos/s 3419 B/op 13 allocs/op", true,
			"HelloListener", 6813, map[string]float64{"ns/op": 289501, "hellos/s": 3454, "B/op": 3419, "allocs/op": 13}},
		{"BenchmarkHandshakePSK/TLS_1.0-2  100  1200000 ns/op", true, "HandshakePSK/TLS_1.0", 100, map[string]float64{"ns/op": 1.2e6}},
		{"BenchmarkNoProcs 10 5 ns/op", true, "NoProcs", 10, map[string]float64{"ns/op": 5}},
		{"BenchmarkEngine1000-2 1 5.5e+09 ns/op 180.5 devices/s", true, "Engine1000", 1, map[string]float64{"ns/op": 5.5e9, "devices/s": 180.5}},
		{"PASS", false, "", 0, nil},
		{"goos: linux", false, "", 0, nil},
		{"--- SKIP: BenchmarkEngine1000", false, "", 0, nil},
		{"BenchmarkBroken-2 notanumber 5 ns/op", false, "", 0, nil},
		{"BenchmarkOdd-2 10 5 ns/op 7", false, "", 0, nil},
		{"BenchmarkBadValue-2 10 x ns/op", false, "", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			bl, ok := parseLine(tt.line)
			require.Equal(t, tt.ok, ok)
			if !ok {
				return
			}
			assert.Equal(t, tt.name, bl.Name)
			assert.Equal(t, tt.n, bl.N)
			assert.Equal(t, tt.m, bl.Metrics)
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name   string
		in     []float64
		median float64
		spread float64
		n      int
	}{
		{"odd", []float64{5, 1, 3}, 3, 2.0 / 3, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5, 1.5 / 2.5, 4},
		{"one", []float64{7}, 7, 0, 1},
		{"NaN ignored", []float64{math.NaN(), 10, 12, 11}, 11, 1.0 / 11, 3},
		{"empty", nil, 0, 0, 0},
		{"all NaN", []float64{math.NaN()}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(tt.in)
			assert.Equal(t, tt.n, s.N)
			assert.InDelta(t, tt.median, s.Median, 1e-12)
			assert.InDelta(t, tt.spread, s.Spread, 1e-12)
		})
	}
}

const sampleRound = `goos: linux
pkg: github.com/amtkit/amtkit/provisioning
BenchmarkParseHello24-2   	 1000	 600 ns/op	 1856 B/op	 3 allocs/op
BenchmarkHelloCopyFloor-2 	 1000	 10 ns/op	 0 B/op	 0 allocs/op
BenchmarkHelloListener-2  	 1000	 400 ns/op	 2500 hellos/s
BenchmarkHelloListenerFloor-2 1000 200 ns/op	 5000 hellos/s
PASS
`

func TestResultsRatios(t *testing.T) {
	rs := newResults(3)
	rs.add("provisioning", 0, strings.NewReader(sampleRound))
	// Round 1 is missing the floor; round 2 has everything twice as slow.
	rs.add("provisioning", 1, strings.NewReader("BenchmarkParseHello24-2 1000 900 ns/op\n"))
	rs.add("provisioning", 2, strings.NewReader(strings.NewReplacer(" 600 ns/op", " 1200 ns/op", " 10 ns/op", " 20 ns/op").Replace(sampleRound)))

	assert.Equal(t, []string{"provisioning.ParseHello24", "provisioning.HelloCopyFloor", "provisioning.HelloListener", "provisioning.HelloListenerFloor"}, rs.order)
	assert.Equal(t, []float64{600, 900, 1200}, rs.samples("provisioning.ParseHello24", "ns/op"))
	assert.Equal(t, []float64{10, 20}, rs.samples("provisioning.HelloCopyFloor", "ns/op"))

	// Paired per round: 600/10 and 1200/20; round 1 has no floor.
	assert.Equal(t, []float64{60, 60}, rs.pairedRatios("provisioning.ParseHello24", "provisioning.HelloCopyFloor", "ns/op", 1, false))
	assert.Equal(t, []float64{20, 20}, rs.pairedRatios("provisioning.ParseHello24", "provisioning.HelloCopyFloor", "ns/op", 3, false))
	// Throughput: bench/floor.
	assert.Equal(t, []float64{0.5, 0.5}, rs.pairedRatios("provisioning.HelloListener", "provisioning.HelloListenerFloor", "hellos/s", 1, true))
	assert.Nil(t, rs.pairedRatios("provisioning.ParseHello24", "provisioning.Nothing", "ns/op", 1, false))
}

func TestCheck(t *testing.T) {
	rs := newResults(1)
	rs.add("wsman", 0, strings.NewReader("BenchmarkGetRoundTripDigest-2 100 30000 ns/op 1 exchanges/op 40 allocs/op\n"+
		"BenchmarkParse-2 100 300 ns/op 4 allocs/op\n"))
	rt := pair{Target: &target{MaxRatio: 3, Metric: "exchanges/op", Value: 1}}
	assert.Equal(t, "met", check(rs, "wsman.GetRoundTripDigest", summary{Median: 2.5, N: 1}, rt))
	assert.Equal(t, "MISSED (ratio 3.50×)", check(rs, "wsman.GetRoundTripDigest", summary{Median: 3.5, N: 1}, rt))
	parse := pair{Target: &target{MaxNs: 250, MaxAllocs: 3, AllocsSet: true}}
	assert.Equal(t, "MISSED (300 ns, 4 allocs)", check(rs, "wsman.Parse", summary{Median: 30, N: 1}, parse))
	tput := pair{Target: &target{MinRatio: 0.5}}
	assert.Equal(t, "met", check(rs, "wsman.Parse", summary{Median: 0.6, N: 1}, tput))
	assert.Equal(t, "MISSED (ratio 0.40×)", check(rs, "wsman.Parse", summary{Median: 0.4, N: 1}, tput))
	exch := pair{Target: &target{Metric: "exchanges/op", Value: 1}}
	assert.Equal(t, "MISSED (0 exchanges/op)", check(rs, "wsman.Parse", summary{Median: 1, N: 1}, exch))
}

func TestSelectBenches(t *testing.T) {
	all := []string{"Engine1000", "Engine1000Floor", "Engine100", "Engine100Floor", "HelloCopyFloor", "ParseHello24"}
	tests := []struct {
		name  string
		o     options
		want  []string
		certs []string
	}{
		{"everything", options{}, all, []string{"RSASign2048", "ProvisioningChain"}},
		{"short drops the 1,000-device pair", options{short: true}, []string{"Engine100", "Engine100Floor", "HelloCopyFloor", "ParseHello24"}, nil},
		{"-run on a floor alone", options{run: regexp.MustCompile(`Engine100Floor`)}, []string{"Engine100Floor"}, nil},
		{"-run with short", options{short: true, run: regexp.MustCompile(`Engine1000`)}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, selectBenches("provisioning", all, tt.o))
		})
	}
	// -run adds the floor of a selected benchmark.
	assert.Equal(t, []string{"CopyFloor", "Parse24"}, selectBenches("amt/hello", []string{"CopyFloor", "Parse24", "Decoder24"}, options{run: regexp.MustCompile(`Parse24`)}))
	// RSAGenerate2048 is excluded unless -run names it.
	gen := []string{"RSASign2048", "RSAGenerate2048"}
	assert.Equal(t, []string{"RSASign2048"}, selectBenches("certs/certstest", gen, options{}))
	assert.Equal(t, []string{"RSAGenerate2048"}, selectBenches("certs/certstest", gen, options{run: regexp.MustCompile(`Generate`)}))
}

func TestGroupByBenchtime(t *testing.T) {
	p := &pkgInfo{Rel: "provisioning", Benches: []string{"Engine100", "ParseHello24", "Engine100Floor", "HelloCopyFloor"}}
	assert.Equal(t, []group{
		{benchtime: "1x", names: []string{"Engine100", "Engine100Floor"}},
		{benchtime: "500ms", names: []string{"ParseHello24", "HelloCopyFloor"}},
	}, groupByBenchtime(p, "500ms"))
}

func TestPairsAreWellFormed(t *testing.T) {
	for _, p := range pairs {
		assert.NotEmpty(t, p.Pkg, "%+v", p)
		assert.NotEmpty(t, p.Bench, "%+v", p)
		assert.NotEmpty(t, p.Floor, "%+v", p)
		assert.NotEqual(t, p.Bench, p.Floor)
		assert.NotEmpty(t, p.Note, "%s.%s", p.Pkg, p.Bench)
		if p.Higher {
			assert.NotEmpty(t, p.Metric, "a throughput pair names its metric: %s.%s", p.Pkg, p.Bench)
		}
	}
}

func TestFormat(t *testing.T) {
	assert.Equal(t, "614 ns", formatTime(614))
	assert.Equal(t, "1.21 ms", formatTime(1.21e6))
	assert.Equal(t, "5.50 s", formatTime(5.5e9))
	assert.Equal(t, "12.5 µs", formatTime(12500))
	assert.Equal(t, "1856", formatNum(1856))
	assert.Equal(t, "205k", formatNum(204505))
	assert.Equal(t, "198M", formatNum(197582128))
	assert.Equal(t, "1.97×", formatRatio(1.97))
	assert.Equal(t, "64.0×", formatRatio(64))
	assert.Equal(t, " ±10%", formatSpread(summary{Median: 1, Spread: 0.1, N: 3}))
	assert.Equal(t, "", formatSpread(summary{Median: 1, N: 1}))
}

func TestPrintRounds(t *testing.T) {
	rs := newResults(2)
	rs.add("provisioning", 0, strings.NewReader(sampleRound))
	rs.add("amt/hello", 0, strings.NewReader("BenchmarkCopyFloor-2 1000 10 ns/op\nBenchmarkDecoder24-2 1000 120 ns/op\n"))
	rs.add("provisioning", 1, strings.NewReader("BenchmarkHelloListener-2 1000 400 ns/op 3000 hellos/s\n"))
	var out strings.Builder
	printRounds(&out, rs, []string{"0.50 1.00 2.00", "3.25 1.00 2.00"})
	want := "| Ratio per round | round 1 (load 0.50) | round 2 (load 3.25) |\n|---|---|---|\n" +
		"| amt/hello.Decoder24 | 12.0× | — |\n" +
		"| provisioning.HelloListener | 0.50× | — |\n\n"
	assert.Equal(t, want, out.String())
}

func TestPrintLimits(t *testing.T) {
	rs := newResults(2)
	out := "BenchmarkFleet10000-2 1 9e10 ns/op 40000 peak-B/session 0 leaked-goroutines\n" +
		"BenchmarkRoundTrips/bare-metal_PKI_ACM_with_a_TLS_profile-2 1 1 ns/op 23 exchanges/device 3 full-handshakes/device\n"
	rs.add("provisioning", 0, strings.NewReader(out))
	rs.add("provisioning", 1, strings.NewReader(strings.ReplaceAll(out, "40000", "80000")))
	var b strings.Builder
	printLimits(&b, rs)
	got := b.String()
	assert.Contains(t, got, "| provisioning.Fleet10000 | peak-B/session | 60.0k ±33%")
	assert.Contains(t, got, "| met |", "60,000 B is within 64 KB")
	assert.Contains(t, got, "| provisioning.RoundTrips/bare-metal_PKI_ACM_with_a_TLS_profile | exchanges/device | 23")
	assert.Equal(t, 2, strings.Count(got, "MISSED"), "23 exchanges and 3 handshakes are over budget")

	var empty strings.Builder
	printLimits(&empty, newResults(1))
	assert.Empty(t, empty.String(), "no table when no limited benchmark ran")
}
