package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// results holds every sample: key "pkg.Name" → metric unit → one value per
// round (NaN where the round produced none).
type results struct {
	rounds int
	data   map[string]map[string][]float64
	order  []string // keys in first-seen order
}

func newResults(rounds int) *results {
	return &results{rounds: rounds, data: map[string]map[string][]float64{}}
}

// benchLine is one parsed result line of `go test -bench`.
type benchLine struct {
	Name    string // without "Benchmark" and the -GOMAXPROCS suffix
	N       int64
	Metrics map[string]float64 // unit → value, e.g. "ns/op" → 614
}

// parseLine parses "BenchmarkX-2  100  614 ns/op  3 allocs/op ..."; ok is false
// for any other line.
func parseLine(line string) (benchLine, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return benchLine{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return benchLine{}, false
	}
	name := strings.TrimPrefix(f[0], "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	bl := benchLine{Name: name, N: n, Metrics: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return benchLine{}, false
		}
		bl.Metrics[f[i+1]] = v
	}
	return bl, true
}

// add records every result line of out for round r of package pkg.
func (rs *results) add(pkg string, r int, out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		bl, ok := parseLine(sc.Text())
		if !ok {
			continue
		}
		key := pkg + "." + bl.Name
		m := rs.data[key]
		if m == nil {
			m = map[string][]float64{}
			rs.data[key] = m
			rs.order = append(rs.order, key)
		}
		for unit, v := range bl.Metrics {
			s := m[unit]
			if s == nil {
				s = make([]float64, rs.rounds)
				for i := range s {
					s[i] = math.NaN()
				}
				m[unit] = s
			}
			s[r] = v
		}
	}
}

// samples returns the non-NaN values of key's metric.
func (rs *results) samples(key, unit string) []float64 {
	var out []float64
	for _, v := range rs.data[key][unit] {
		if !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out
}

// summary is a median with its spread.
type summary struct {
	Median float64
	Spread float64 // largest distance of min or max from the median, as a fraction of it
	N      int
}

func (s summary) ok() bool { return s.N > 0 }

// summarize returns the median and the spread of xs (NaN ignored).
func summarize(xs []float64) summary {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return summary{}
	}
	slices.Sort(v)
	med := median(v)
	s := summary{Median: med, N: len(v)}
	if med != 0 {
		s.Spread = math.Max(med-v[0], v[len(v)-1]-med) / math.Abs(med)
	}
	return s
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// pairedRatios returns, per round where both have a value, bench/floor of the
// metric (floor scaled by times).
func (rs *results) pairedRatios(bench, floor, unit string, times float64, higher bool) []float64 {
	b, f := rs.data[bench][unit], rs.data[floor][unit]
	if b == nil || f == nil {
		return nil
	}
	var out []float64
	for i := range b {
		if r := rs.pairedRatio(b[i], f[i], times, higher); !math.IsNaN(r) {
			out = append(out, r)
		}
	}
	return out
}

// pairedRatio is one round's ratio of bench value b to floor value f (NaN when
// either is missing).
func (rs *results) pairedRatio(b, f, times float64, higher bool) float64 {
	if math.IsNaN(b) || math.IsNaN(f) || f == 0 {
		return math.NaN()
	}
	if higher {
		return b / (f / times)
	}
	return b / (f * times)
}

// formatTime formats nanoseconds with three significant digits.
func formatTime(ns float64) string {
	switch {
	case ns >= 1e9:
		return sig3(ns/1e9) + " s"
	case ns >= 1e6:
		return sig3(ns/1e6) + " ms"
	case ns >= 1e3:
		return sig3(ns/1e3) + " µs"
	}
	return sig3(ns) + " ns"
}

// formatNum formats a count or size with three significant digits and k/M/G.
func formatNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a < 1e4 && v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1e9:
		return sig3(v/1e9) + "G"
	case a >= 1e6:
		return sig3(v/1e6) + "M"
	case a >= 1e4:
		return sig3(v/1e3) + "k"
	}
	return sig3(v)
}

func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func formatSpread(s summary) string {
	if s.N < 2 {
		return ""
	}
	return fmt.Sprintf(" ±%.0f%%", 100*s.Spread)
}

func formatRatio(r float64) string {
	switch {
	case r >= 100:
		return strconv.FormatFloat(r, 'f', 0, 64) + "×"
	case r >= 10:
		return strconv.FormatFloat(r, 'f', 1, 64) + "×"
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "×"
}
