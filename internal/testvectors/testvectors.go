package testvectors

import (
	"embed"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
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
// inCI reports whether shared vectors are required: only when asked for
// (amtkit's own .ci/run sets AMTKIT_REQUIRE_SHARED=1), not whenever CI=true,
// which every CI runner sets — an integrator's pipeline running these tests
// on a plain clone must see them skip.
func inCI() bool {
	return os.Getenv("AMTKIT_REQUIRE_SHARED") == "1" || os.Getenv("AMTKIT_REQUIRE_INTEROP") == "1"
}

// SharedDir returns the absolute path of ../shared/vectors/<sub> beside the
// repository checkout. When it is absent the test is skipped, or failed when
// AMTKIT_REQUIRE_SHARED=1 (or AMTKIT_REQUIRE_INTEROP=1) is set.
//
// Call it (and [SharedFile], [SharedFiles]) from the test's own goroutine, before
// any server or handler starts: t.Skip and t.Fatal stop only the goroutine that
// calls them, so from an HTTP handler they kill the handler, the client reads EOF
// and the test fails instead of skipping.
func SharedDir(t testing.TB, sub string) string {
	t.Helper()
	p := sharedPath(t, sub)
	if _, err := os.Stat(p); err != nil {
		missingShared(t, p)
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

// SharedFiles reads ../shared/vectors/<dir>/<name> for every name (a slash-separated
// path below dir) and returns the contents by name. It reads everything at once so
// that a test can load its vectors before it starts any server; a missing
// directory or file skips the test like [SharedDir] (fails it in CI).
func SharedFiles(t testing.TB, dir string, names ...string) map[string][]byte {
	t.Helper()
	root := SharedDir(t, dir)
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		p := filepath.Join(root, filepath.FromSlash(n))
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			missingShared(t, p)
		}
		if err != nil {
			t.Fatalf("reading shared vector: %v", err)
		}
		out[n] = b
	}
	return out
}

func sharedPath(t testing.TB, sub string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), "..", "shared", "vectors", filepath.FromSlash(sub))
}

// missingShared skips the test, or fails it when shared vectors are required.
func missingShared(t testing.TB, p string) {
	t.Helper()
	if inCI() {
		t.Fatalf("shared vectors required in CI but missing: %s", p)
	}
	t.Skipf("shared vectors not present (%s); skipping", p)
}

// Response is one of amtkit's own WS-Management response vectors: the content of
// a response's s:Body, with the Action and ResourceURI of its header. The body
// uses the prefixes s, wsa, wsman, wsen and wxf, which [ResponseEnvelopes]
// declares on the envelope it wraps around it.
type Response struct {
	Name        string `json:"name"`
	Action      string `json:"action"`
	ResourceURI string `json:"resource_uri"`
	Note        string `json:"note,omitempty"`
	Body        string `json:"body"`
}

// ResponseEnvelopes loads data/<name>.json as [Response] vectors and returns
// each as a complete SOAP 1.2 envelope, by vector name. Duplicate names fail the
// test.
func ResponseEnvelopes(t testing.TB, name string) map[string][]byte {
	t.Helper()
	f := Load[Response](t, name)
	out := make(map[string][]byte, len(f.Vectors))
	for i, v := range f.Vectors {
		if v.Name == "" {
			t.Fatalf("testvectors: %s: vector %d has no name", name, i)
		}
		if _, dup := out[v.Name]; dup {
			t.Fatalf("testvectors: %s: duplicate vector %q", name, v.Name)
		}
		out[v.Name] = envelope(i+1, v)
	}
	return out
}

// envelope wraps a response body in a SOAP 1.2 envelope with the WS-Addressing
// and WS-Management header of a response (DSP0226 §5, Annex A prefixes).
func envelope(seq int, v Response) []byte {
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"` +
		` xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"` +
		` xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"` +
		` xmlns:wsen="http://schemas.xmlsoap.org/ws/2004/09/enumeration"` +
		` xmlns:wxf="http://schemas.xmlsoap.org/ws/2004/09/transfer">`)
	b.WriteString(`<s:Header><wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>`)
	b.WriteString(`<wsa:Action s:mustUnderstand="true">` + esc(v.Action) + `</wsa:Action>`)
	fmt.Fprintf(&b, `<wsa:MessageID>uuid:6d4a7a10-0000-4000-8000-%012d</wsa:MessageID>`, seq)
	b.WriteString(`<wsman:ResourceURI>` + esc(v.ResourceURI) + `</wsman:ResourceURI></s:Header>`)
	b.WriteString(`<s:Body>` + v.Body + `</s:Body></s:Envelope>`)
	return []byte(b.String())
}

func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testvectors: cannot locate source file")
	}
	// file = <root>/internal/testvectors/testvectors.go
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
