package testvectors

import (
	"embed"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

//go:embed data/*.json
var data embed.FS

// File is the envelope every vector file uses.
type File[T any] struct {
	// Source names where the vectors come from (a document and section, a
	// repository path and commit, or "constructed" with how they were checked).
	Source  string `json:"source"`
	Vectors []T    `json:"vectors"`
}

// Load reads data/<name>.json into a File[T]. It fails the test if the file is
// missing, malformed, has no source or has no vectors.
func Load[T any](t testing.TB, name string) File[T] {
	t.Helper()
	b, err := data.ReadFile("data/" + name + ".json")
	if err != nil {
		t.Fatalf("testvectors: %v", err)
	}
	var f File[T]
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("testvectors: %s: %v", name, err)
	}
	if f.Source == "" {
		t.Fatalf("testvectors: %s: no source", name)
	}
	if len(f.Vectors) == 0 {
		t.Fatalf("testvectors: %s: no vectors", name)
	}
	return f
}

// Names lists the embedded vector files (without the .json extension).
func Names() []string {
	ents, _ := data.ReadDir("data")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	return out
}

// Hex is a byte string written in JSON as hexadecimal; spaces are ignored so long
// packets can be split for reading.
type Hex []byte

// UnmarshalJSON implements json.Unmarshaler.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// MarshalJSON implements json.Marshaler.
func (h Hex) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// inCI reports whether missing shared vectors must fail rather than skip.
func inCI() bool {
	return os.Getenv("CI") == "true" || os.Getenv("AMTKIT_REQUIRE_SHARED") == "1" || os.Getenv("AMTKIT_REQUIRE_INTEROP") == "1"
}

// SharedDir returns the absolute path of ../shared/vectors/<sub> beside the
// repository checkout. When it is absent the test is skipped, or failed when CI=true
// (or AMTKIT_REQUIRE_SHARED=1 or AMTKIT_REQUIRE_INTEROP=1) is set.
func SharedDir(t testing.TB, sub string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "..", "shared", "vectors", sub)
	if _, err := os.Stat(p); err != nil {
		if inCI() {
			t.Fatalf("shared vectors required in CI but missing: %s", p)
		}
		t.Skipf("shared vectors not present (%s); skipping", p)
	}
	return p
}

// SharedFile reads ../shared/vectors/<name>, skipping or failing like [SharedDir].
func SharedFile(t testing.TB, name string) []byte {
	t.Helper()
	p := SharedDir(t, name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading shared vector: %v", err)
	}
	return b
}

func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testvectors: cannot locate source file")
	}
	// file = <root>/internal/testvectors/testvectors.go
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
