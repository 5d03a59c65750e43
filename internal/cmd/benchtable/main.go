// Command benchtable runs the module's benchmarks and prints their medians, and
// each benchmark's ratio to its floor measured in the same run, as Markdown
// tables (the figures of docs/PERFORMANCE.md).
//
//	go run ./internal/cmd/benchtable                 # everything, -count 6
//	go run ./internal/cmd/benchtable -short          # without the 1,000-device runs
//	go run ./internal/cmd/benchtable -run 'Hello|Engine100' -count 10
//
// It compiles each package's test binary once, then runs the rounds: in every
// round each selected benchmark runs once (-test.count 1), package after
// package, so that a benchmark and its floor are measured minutes apart at
// most and under the same load, whatever the machine does meanwhile. Per
// benchmark it reports the median of the rounds and the spread (the larger
// distance of the minimum or maximum from the median); per floor pair, the
// median of the per-round ratios. The pairs and the performance budgets'
// targets (docs/PERFORMANCE.md) are declared in floors.go. Only the go command
// is needed (no benchstat); -o saves the raw output, which benchstat also reads.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

type options struct {
	count     int
	benchtime string
	run       *regexp.Regexp
	short     bool
	pkgs      []string
	raw       string
	list      bool
	verbose   bool
}

func main() {
	var o options
	var run string
	flag.IntVar(&o.count, "count", 6, "rounds: each benchmark runs once per round")
	flag.StringVar(&o.benchtime, "benchtime", "1s", "go test -benchtime for benchmarks without a fixed one (floors.go)")
	flag.StringVar(&run, "run", "", "regexp over \"pkg.Benchmark\" names (without the Benchmark prefix) selecting what runs; a floor is added when its benchmark is selected")
	flag.BoolVar(&o.short, "short", false, "skip the heavy benchmarks (1,000 simulated devices)")
	flag.StringVar(&o.raw, "o", "", "also write the raw go test output (benchstat format) to this file")
	flag.BoolVar(&o.list, "list", false, "list the selected benchmarks and exit")
	flag.BoolVar(&o.verbose, "v", false, "print the raw output while running")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: benchtable [flags] [packages]  (default ./...)\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if run != "" {
		re, err := regexp.Compile(run)
		if err != nil {
			fatalf("-run: %v", err)
		}
		o.run = re
	}
	if o.count < 1 {
		fatalf("-count must be at least 1")
	}
	o.pkgs = flag.Args()
	if len(o.pkgs) == 0 {
		o.pkgs = []string{"./..."}
	}
	// Ctrl-C stops the children (exec.CommandContext) and lets runAll's
	// deferred removal of its temporary directory (the test binaries) run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runAll(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchtable: "+format+"\n", args...)
	os.Exit(1)
}

// pkgInfo is one package with benchmarks.
type pkgInfo struct {
	ImportPath string
	Rel        string // relative to the module ("provisioning", "amt/pthi")
	Dir        string
	Bin        string
	Benches    []string // selected top-level benchmarks, without "Benchmark"
}

func runAll(ctx context.Context, o options, w io.Writer) error {
	module, err := goOutput(ctx, "", "list", "-m", "-f", "{{.Path}}")
	if err != nil {
		return err
	}
	module = strings.TrimSpace(module)
	pkgs, err := findPackages(ctx, module, o.pkgs)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "benchtable-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var selected []*pkgInfo
	for _, p := range pkgs {
		p.Bin = filepath.Join(tmp, strings.ReplaceAll(p.Rel, "/", "_")+".test")
		progress("building %s", p.ImportPath)
		if _, err := goOutput(ctx, "", "test", "-c", "-o", p.Bin, p.ImportPath); err != nil {
			return err
		}
		out, err := command(ctx, p.Dir, nil, p.Bin, "-test.list", "^Benchmark")
		if err != nil {
			return fmt.Errorf("%s: listing benchmarks: %w", p.ImportPath, err)
		}
		var all []string
		for _, l := range strings.Split(out, "\n") {
			if name, ok := strings.CutPrefix(strings.TrimSpace(l), "Benchmark"); ok && name != "" {
				all = append(all, name)
			}
		}
		p.Benches = selectBenches(p.Rel, all, o)
		if len(p.Benches) > 0 {
			selected = append(selected, p)
		}
	}
	if o.list {
		for _, p := range selected {
			for _, b := range p.Benches {
				fmt.Fprintf(w, "%s.%s\n", p.Rel, b)
			}
		}
		return nil
	}
	if len(selected) == 0 {
		return errors.New("no benchmark selected")
	}

	env := os.Environ()
	if !o.short {
		env = append(env, "AMTKIT_BENCH_ENGINE=1", "AMTKIT_BENCH_FLEET=1")
	}
	var raw bytes.Buffer
	rs := newResults(o.count)
	var loads []string
	startLoad := loadavg()
	start := time.Now()
	for r := 0; r < o.count; r++ {
		for _, p := range selected {
			for _, g := range groupByBenchtime(p, o.benchtime) {
				progress("round %d/%d: %s %s (benchtime %s)", r+1, o.count, p.Rel, strings.Join(g.names, " "), g.benchtime)
				args := []string{"-test.run", "^$", "-test.bench", "^Benchmark(" + strings.Join(g.names, "|") + ")$",
					"-test.benchtime", g.benchtime, "-test.count", "1", "-test.benchmem", "-test.timeout", "60m"}
				out, err := command(ctx, p.Dir, env, p.Bin, args...)
				raw.WriteString(out)
				if o.verbose {
					os.Stderr.WriteString(out)
				}
				if err != nil {
					progress("%s: %v\n%s", p.Rel, err, tail(out, 20))
				}
				rs.add(p.Rel, r, strings.NewReader(out))
			}
		}
		loads = append(loads, loadavg())
	}
	elapsed := time.Since(start)
	if o.raw != "" {
		if err := os.WriteFile(o.raw, raw.Bytes(), 0o644); err != nil {
			return err
		}
	}
	header(w, o, startLoad, loads, elapsed)
	printFigures(w, rs)
	printRatios(w, rs)
	printLimits(w, rs)
	printRounds(w, rs, loads)
	return nil
}

// selectBenches applies -run, -short and the exclusions; a floor whose
// benchmark is selected is selected too.
func selectBenches(rel string, all []string, o options) []string {
	want := map[string]bool{}
	for _, b := range all {
		key := rel + "." + b
		switch {
		case o.short && heavy[key]:
			continue
		case o.run != nil && !o.run.MatchString(key):
			continue
		case o.run == nil && excluded[key]:
			continue
		}
		want[b] = true
	}
	for _, pr := range pairs {
		if pr.Pkg != rel || !slices.Contains(all, pr.Floor) {
			continue
		}
		if o.short && heavy[rel+"."+pr.Floor] {
			continue
		}
		if want[strings.TrimSuffix(pr.Bench, "/*")] {
			want[pr.Floor] = true
		}
	}
	var out []string
	for _, b := range all {
		if want[b] {
			out = append(out, b)
		}
	}
	return out
}

type group struct {
	benchtime string
	names     []string
}

func groupByBenchtime(p *pkgInfo, def string) []group {
	var gs []group
	for _, b := range p.Benches {
		bt := def
		if v, ok := benchTime[p.Rel+"."+b]; ok {
			bt = v
		}
		i := slices.IndexFunc(gs, func(g group) bool { return g.benchtime == bt })
		if i < 0 {
			gs = append(gs, group{benchtime: bt})
			i = len(gs) - 1
		}
		gs[i].names = append(gs[i].names, regexp.QuoteMeta(b))
	}
	return gs
}

// findPackages lists the packages matching patterns that have a benchmark in
// their test files.
func findPackages(ctx context.Context, module string, patterns []string) ([]*pkgInfo, error) {
	args := append([]string{"list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .TestGoFiles \",\"}}\t{{join .XTestGoFiles \",\"}}"}, patterns...)
	out, err := goOutput(ctx, "", args...)
	if err != nil {
		return nil, err
	}
	var pkgs []*pkgInfo
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 4 {
			continue
		}
		has := false
		for _, name := range strings.Split(f[2]+","+f[3], ",") {
			if name == "" {
				continue
			}
			src, err := os.ReadFile(filepath.Join(f[1], name))
			if err == nil && bytes.Contains(src, []byte("\nfunc Benchmark")) {
				has = true
				break
			}
		}
		if !has {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		if rel == "" {
			rel = "."
		}
		pkgs = append(pkgs, &pkgInfo{ImportPath: f[0], Rel: rel, Dir: f[1]})
	}
	return pkgs, nil
}

func goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := command(ctx, dir, nil, "go", args...)
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, tail(out, 30))
	}
	return out, nil
}

func command(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	return buf.String(), err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// loadavg returns the 1-, 5- and 15-minute load averages ("" where unknown).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func header(w io.Writer, o options, startLoad string, loads []string, elapsed time.Duration) {
	v, _ := goOutput(context.Background(), "", "version")
	fmt.Fprintf(w, "benchtable %s — %s, %s/%s, %d CPUs (GOMAXPROCS %d), %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), strings.TrimSpace(strings.TrimPrefix(v, "go version ")),
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuName())
	fmt.Fprintf(w, "rounds %d, benchtime %s (fixed for the engine and fleet runs, see floors.go), short %v, took %s\n",
		o.count, o.benchtime, o.short, elapsed.Round(time.Second))
	if startLoad != "" {
		fmt.Fprintf(w, "load average (1/5/15 min) at start %s; after each round: %s\n", startLoad, strings.Join(loads, "; "))
	}
	fmt.Fprintln(w)
}

func cpuName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "cpu unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "cpu unknown"
}

// standard units are shown in their own columns; the rest are "other".
var standard = map[string]bool{"ns/op": true, "B/op": true, "allocs/op": true, "MB/s": true}

func printFigures(w io.Writer, rs *results) {
	fmt.Fprintln(w, "| Benchmark | time/op | allocs/op | B/op | other (median) |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, key := range rs.order {
		m := rs.data[key]
		t := summarize(m["ns/op"])
		if !t.ok() {
			continue
		}
		allocs, bytes := summarize(m["allocs/op"]), summarize(m["B/op"])
		var units []string
		for u := range m {
			if !standard[u] {
				units = append(units, u)
			}
		}
		sort.Strings(units)
		var other []string
		for _, u := range units {
			s := summarize(m[u])
			if s.ok() {
				other = append(other, formatNum(s.Median)+" "+u+formatSpread(s))
			}
		}
		fmt.Fprintf(w, "| %s | %s%s | %s | %s | %s |\n", key, formatTime(t.Median), formatSpread(t),
			optNum(allocs), optNum(bytes), strings.Join(other, ", "))
	}
	fmt.Fprintln(w)
}

func optNum(s summary) string {
	if !s.ok() {
		return ""
	}
	return formatNum(s.Median)
}

func printRatios(w io.Writer, rs *results) {
	fmt.Fprintln(w, "| Benchmark | Floor | Ratio (median of rounds) | Target | Status |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, pr := range pairs {
		floorKey := pr.Pkg + "." + pr.Floor
		for _, key := range matchingKeys(rs, pr) {
			unit := pr.Metric
			if unit == "" {
				unit = "ns/op"
			}
			times := pr.Times
			if times == 0 {
				times = 1
			}
			rat := summarize(rs.pairedRatios(key, floorKey, unit, times, pr.Higher))
			if !rat.ok() {
				continue
			}
			floor := floorKey
			if times != 1 {
				floor = fmt.Sprintf("%g × %s", times, floorKey)
			}
			how := ""
			if unit != "ns/op" {
				how = " of " + unit
			}
			status, text := "", ""
			if pr.Target != nil {
				text = pr.Target.Text
				status = check(rs, key, rat, pr)
			}
			fmt.Fprintf(w, "| %s | %s | %s%s%s | %s | %s |\n", key, floor, formatRatio(rat.Median), formatSpread(rat), how, text, status)
		}
	}
	fmt.Fprintln(w)
}

// matchingKeys returns the result keys pr.Bench names (sub-benchmarks for "/*").
func matchingKeys(rs *results, pr pair) []string {
	if prefix, ok := strings.CutSuffix(pr.Bench, "/*"); ok {
		var keys []string
		for _, k := range rs.order {
			if strings.HasPrefix(k, pr.Pkg+"."+prefix+"/") {
				keys = append(keys, k)
			}
		}
		return keys
	}
	k := pr.Pkg + "." + pr.Bench
	if _, ok := rs.data[k]; ok {
		return []string{k}
	}
	return nil
}

// check evaluates a pair's target: "met", or "MISSED (why)".
func check(rs *results, key string, rat summary, pr pair) string {
	t := pr.Target
	var missed []string
	if t.MaxRatio > 0 && rat.Median > t.MaxRatio {
		missed = append(missed, "ratio "+formatRatio(rat.Median))
	}
	if t.MinRatio > 0 && rat.Median < t.MinRatio {
		missed = append(missed, "ratio "+formatRatio(rat.Median))
	}
	if t.MaxNs > 0 {
		if s := summarize(rs.data[key]["ns/op"]); s.Median > t.MaxNs {
			missed = append(missed, formatTime(s.Median))
		}
	}
	if t.AllocsSet {
		if s := summarize(rs.data[key]["allocs/op"]); s.Median > t.MaxAllocs {
			missed = append(missed, formatNum(s.Median)+" allocs")
		}
	}
	if t.Metric != "" {
		if s := summarize(rs.data[key][t.Metric]); !s.ok() || s.Median != t.Value {
			missed = append(missed, fmt.Sprintf("%s %s", formatNum(s.Median), t.Metric))
		}
	}
	if len(missed) == 0 {
		return "met"
	}
	return "MISSED (" + strings.Join(missed, ", ") + ")"
}

// printLimits checks every limit whose benchmark ran: the metric's median
// against the budget, with the rounds' range.
func printLimits(w io.Writer, rs *results) {
	var rows []string
	for _, l := range limits {
		key := l.Pkg + "." + l.Bench
		m, ok := rs.data[key]
		if !ok {
			continue
		}
		s := summarize(m[l.Metric])
		if !s.ok() {
			continue
		}
		status := "met"
		if s.Median > l.Max {
			status = "MISSED"
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s%s | %s | %s |", key, l.Metric, formatNum(s.Median), formatSpread(s), l.Text, status))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "| Benchmark | Metric | Median | Budget | Status |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	fmt.Fprintln(w)
}

// printRounds lists, for every pair with a target, the ratio of each round
// with the 1-minute load average at the end of that round, so that quiet and
// busy rounds can be told apart.
func printRounds(w io.Writer, rs *results, loads []string) {
	var rows []string
	for _, pr := range pairs {
		if pr.Target == nil {
			continue
		}
		unit := pr.Metric
		if unit == "" {
			unit = "ns/op"
		}
		times := pr.Times
		if times == 0 {
			times = 1
		}
		for _, key := range matchingKeys(rs, pr) {
			b, f := rs.data[key][unit], rs.data[pr.Pkg+"."+pr.Floor][unit]
			if b == nil || f == nil {
				continue
			}
			cells := make([]string, rs.rounds)
			for i := range cells {
				r := rs.pairedRatio(b[i], f[i], times, pr.Higher)
				if math.IsNaN(r) {
					cells[i] = "—"
				} else {
					cells[i] = formatRatio(r)
				}
			}
			rows = append(rows, fmt.Sprintf("| %s | %s |", key, strings.Join(cells, " | ")))
		}
	}
	if len(rows) == 0 {
		return
	}
	head := make([]string, rs.rounds)
	sep := make([]string, rs.rounds)
	for i := range head {
		load := ""
		if i < len(loads) {
			load, _, _ = strings.Cut(loads[i], " ")
			load = " (load " + load + ")"
		}
		head[i] = fmt.Sprintf("round %d%s", i+1, load)
		sep[i] = "---"
	}
	fmt.Fprintf(w, "| Ratio per round | %s |\n|---|%s|\n", strings.Join(head, " | "), strings.Join(sep, "|"))
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	fmt.Fprintln(w)
}
