package main

// The floor pairs: every benchmark with a floor, the floor measured in the same
// run, and the budget's target (docs/PERFORMANCE.md) where there is one. This
// table is the one place where pairs are declared; a benchmark not listed here
// is still run and printed, without a ratio.

// pair links a benchmark to its floor.
type pair struct {
	// Pkg is the package path relative to the module ("provisioning").
	Pkg string
	// Bench is the benchmark name without "Benchmark"; a trailing "/*" matches
	// every sub-benchmark.
	Bench string
	// Floor is the floor benchmark in the same package.
	Floor string
	// Metric is the unit the ratio is taken on: "sec/op" (default) or a
	// throughput metric such as "hellos/s" (then Higher is set and the ratio
	// is bench/floor: the fraction of the floor's throughput reached).
	Metric string
	Higher bool
	// Times scales the floor: the benchmark does that many floor units of work
	// (three signatures for a whole chain).
	Times float64
	// Target is the performance budget (docs/PERFORMANCE.md), if any.
	Target *target
	// Note explains the pair in one line.
	Note string
}

// target is a budget; zero fields are not checked.
type target struct {
	MaxRatio  float64 // ratio ≤ MaxRatio (time-like metrics)
	MinRatio  float64 // ratio ≥ MinRatio (throughput metrics)
	MaxNs     float64 // median sec/op ≤ MaxNs nanoseconds
	MaxAllocs float64 // median allocs/op ≤ MaxAllocs (checked when MaxAllocs > 0 or AllocsSet)
	AllocsSet bool
	// Metric = Value: an exact custom metric (e.g. exchanges/op = 1).
	Metric string
	Value  float64
	Text   string // the budget in words, as docs/PERFORMANCE.md states it
}

var pairs = []pair{
	// amt/hello: the hello codec
	{Pkg: "amt/hello", Bench: "Decoder24", Floor: "CopyFloor",
		Target: &target{MaxNs: 250, MaxAllocs: 3, AllocsSet: true, Text: "≤ 250 ns, ≤ 3 allocs"},
		Note:   "hello.Decoder (the listener's path) on an 841-byte, 24-hash hello vs a copy of the bytes"},
	{Pkg: "amt/hello", Bench: "Parse24", Floor: "CopyFloor",
		Note: "hello.Parse (a fresh Message that owns its memory) on the same packet vs the copy"},
	{Pkg: "amt/hello", Bench: "Parse24", Floor: "AllocFloor",
		Note: "the same vs the three allocations its result needs, without decoding"},
	{Pkg: "amt/hello", Bench: "Append24", Floor: "CopyFloor",
		Note: "AppendBinary into a reused buffer vs a copy"},
	// provisioning: listener and engine
	{Pkg: "provisioning", Bench: "HelloListener", Floor: "HelloListenerFloor", Metric: "hellos/s", Higher: true,
		Target: &target{MinRatio: 0.5, Text: "≥ 0.5× the accept–read–close floor"},
		Note:   "hellos/s through HelloListener vs a bare accept–read–close server; load generator in a child process"},
	{Pkg: "provisioning", Bench: "HelloListener", Floor: "HelloListenerFloor", Metric: "cpu-µs/hello",
		Note: "the server process's CPU time per hello, same pair"},
	{Pkg: "provisioning", Bench: "Engine1000", Floor: "Engine1000Floor",
		Target: &target{MaxRatio: 2, Text: "≤ 2× the RSA/TLS floor"},
		Note:   "1,000 simulated devices provisioned concurrently vs their handshakes and signatures alone"},
	{Pkg: "provisioning", Bench: "Engine1000", Floor: "Engine1000Floor", Metric: "cpu-ms/device",
		Note: "the same in CPU time per device (less sensitive to other jobs on the machine)"},
	{Pkg: "provisioning", Bench: "Engine100", Floor: "Engine100Floor",
		Note: "the same with 100 devices"},
	{Pkg: "provisioning", Bench: "Engine100", Floor: "Engine100Floor", Metric: "cpu-ms/device",
		Note: "the same with 100 devices, CPU time per device"},
	{Pkg: "provisioning", Bench: "FleetEngine1000", Floor: "FleetEngine1000Floor", Metric: "cpu-ms/device",
		Target: &target{MaxRatio: 1.5, Text: "≤ 1.5× the engine side's crypto floor, fleet out of process"},
		Note:   "the engine's own CPU per device, the 1,000 simulated devices in processes of their own, vs its side of the handshakes and signatures (floor servers out of process too)"},
	{Pkg: "provisioning", Bench: "FleetEngine1000", Floor: "FleetEngine1000Floor",
		Note: "the same in wall time (both processes share the machine's cores)"},

	// wsman
	{Pkg: "wsman", Bench: "EnvelopeGet", Floor: "EnvelopeGetFloor",
		Target: &target{MaxRatio: 1.6, Text: "≤ 1.6× an encoding/xml token loop"},
		Note:   "build a Get envelope and parse the ~2.6 KB AMT_GeneralSettings response vs encoding/xml tokens"},
	{Pkg: "wsman", Bench: "GetRoundTripDigest", Floor: "GetRoundTripFloor",
		Target: &target{MaxRatio: 3, Metric: "exchanges/op", Value: 1, Text: "≤ 3× bare keep-alive net/http; 1 exchange per call"},
		Note:   "Get round trip on loopback with digest (steady state) vs bare keep-alive net/http of the same bytes"},
	{Pkg: "wsman", Bench: "ReadXML", Floor: "ReadXMLEtree",
		Note: "the envelope reader vs etree's own reader (comparison, not a floor)"},

	// amt
	{Pkg: "amt", Bench: "DecodeGeneralSettings", Floor: "DecodeGeneralSettingsFloor",
		Note: "typed decode incl. envelope parse vs the envelope parse alone"},
	{Pkg: "amt", Bench: "DeviceGeneralSettings", Floor: "DeviceGeneralSettingsFloor",
		Note: "Device.GeneralSettings over loopback vs the same wsman Get without decode"},

	// amt/pthi
	{Pkg: "amt/pthi", Bench: "DecodeCertHashEntry", Floor: "FloorCertHashEntryCopy",
		Note: "GetCertHashEntry response decode vs a copy"},
	{Pkg: "amt/pthi", Bench: "DecodeCodeVersions", Floor: "FloorCodeVersionsCopy",
		Note: "GetCodeVersions response decode vs a copy"},

	// pskx/setupbin, pskx/tlspsk
	{Pkg: "pskx/setupbin", Bench: "DecodeSetupFile", Floor: "DecodeSetupFileFloor",
		Note: "decode of ACU's 1024-byte setup.bin vs a copy"},
	{Pkg: "pskx/setupbin", Bench: "EncodeSetupFile", Floor: "DecodeSetupFileFloor",
		Note: "encode of the same file vs a copy"},
	{Pkg: "pskx/tlspsk", Bench: "HandshakePSK/*", Floor: "HandshakeFloorCryptoTLS",
		Note: "TLS-PSK handshake (both sides) vs a crypto/tls ECDHE-ECDSA-P256 handshake"},
	{Pkg: "pskx/tlspsk", Bench: "TransferPSK", Floor: "TransferFloorTCP",
		Note: "1 MiB over TLS-PSK (AES-128-CBC-SHA) vs bare TCP"},

	// certs
	{Pkg: "certs", Bench: "CheckProvisioning", Floor: "RSAVerify2048",
		Note: "all provisioning-certificate checks vs one RSA-2048 verification"},

	// certs/certstest
	{Pkg: "certs/certstest", Bench: "ProvisioningChain", Floor: "RSASign2048", Times: 3,
		Note: "root + intermediate + leaf vs three RSA-2048 signatures"},
	{Pkg: "certs/certstest", Bench: "ProvisioningLeaf", Floor: "RSASign2048",
		Note: "a leaf from an existing CA vs one signature"},
	{Pkg: "certs/certstest", Bench: "CAIssueDeviceTLS", Floor: "RSASign2048",
		Note: "AMT's TLS certificate vs one signature"},
}

// limit is a budget on one benchmark's own metric, without a floor.
type limit struct {
	Pkg, Bench string // Bench may name a sub-benchmark ("RoundTrips/…")
	Metric     string
	Max        float64
	Text       string
}

// limits are the budgets checked on a metric's median.
var limits = []limit{
	{Pkg: "provisioning", Bench: "Fleet10000", Metric: "peak-B/session", Max: 64 << 10,
		Text: "≤ 64 KB of engine memory per in-flight session (10,000 devices, firmware latency)"},
	{Pkg: "provisioning", Bench: "Fleet10000", Metric: "leaked-goroutines", Max: 0,
		Text: "nothing left when every session has ended"},
	{Pkg: "provisioning", Bench: "RoundTrips/bare-metal_PKI_ACM_with_a_TLS_profile", Metric: "exchanges/device", Max: 21,
		Text: "≤ 21 exchanges, read-back included"},
	{Pkg: "provisioning", Bench: "RoundTrips/bare-metal_PKI_ACM_with_a_TLS_profile", Metric: "full-handshakes/device", Max: 2,
		Text: "≤ 2 full TLS handshakes, read-back included"},
}

// benchTime gives benchmarks that must run a fixed number of times their
// -benchtime; everything else uses the -benchtime flag.
var benchTime = map[string]string{
	"provisioning.Engine1000":            "1x",
	"provisioning.Engine1000Floor":       "1x",
	"provisioning.Engine100":             "1x",
	"provisioning.Engine100Floor":        "1x",
	"provisioning.HelloListenerIdle5000": "1x",
	"provisioning.EngineQueuedHellos":    "1x",
	"amt/amtsim.FleetStart":              "1x",
	"provisioning.FleetEngine1000":       "1x",
	"provisioning.FleetEngine1000Floor":  "1x",
	"provisioning.Fleet10000":            "1x",
	"provisioning.RoundTrips":            "1x",
	"certs/certstest.RSAGenerate2048":    "5x",
}

// heavy benchmarks are skipped by -short.
var heavy = map[string]bool{
	"provisioning.Engine1000":           true,
	"provisioning.Engine1000Floor":      true,
	"amt/amtsim.FleetStart":             true,
	"provisioning.FleetEngine1000":      true,
	"provisioning.FleetEngine1000Floor": true,
	"provisioning.Fleet10000":           true,
}

// excluded benchmarks run only when -run names them: slow, and not a figure
// any performance budget asks for.
var excluded = map[string]bool{
	"certs/certstest.RSAGenerate2048": true,
}
