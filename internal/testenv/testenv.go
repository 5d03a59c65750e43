// Package testenv holds what the module's tests share about their
// environment. Tests that need real peers (lighttpd, openssl) use it to decide
// whether to run: outside CI a missing peer skips the test; with
// AMTKIT_REQUIRE_INTEROP=1 (set by .ci/run) it fails it. Tests that keep the
// docs in step with the code use [CodesDocumented]. A command's tests run the
// command itself, exit status included, with [MainIfAsked] and [RunMain].
package testenv

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// CodesDocumented fails t unless every code that pattern's first group finds
// in the source file src (at least min of them) appears in backquotes in the
// Markdown file doc. Paths are relative to the test's package directory.
func CodesDocumented(t testing.TB, src, pattern, doc string, min int) {
	t.Helper()
	code, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	found := regexp.MustCompile(pattern).FindAllSubmatch(code, -1)
	if len(found) < min {
		t.Fatalf("%s: %d codes match %q, want at least %d: has the pattern gone stale?", src, len(found), pattern, min)
	}
	for _, m := range found {
		if !strings.Contains(string(text), "`"+string(m[1])+"`") {
			t.Errorf("%s does not explain %s (from %s)", doc, m[1], src)
		}
	}
}

// InteropRequired reports whether AMTKIT_REQUIRE_INTEROP=1 is set.
func InteropRequired() bool { return os.Getenv("AMTKIT_REQUIRE_INTEROP") == "1" }

// LookPath returns the path of the named program (searching PATH, then the sbin
// directories), or skips the test (fails it when interop is required) when it is
// not installed.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		// Daemons such as lighttpd live in /usr/sbin, which a non-root PATH may lack.
		for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
			if q, err2 := exec.LookPath(dir + "/" + name); err2 == nil {
				return q
			}
		}
		if InteropRequired() {
			t.Fatalf("interop peer %q is required (AMTKIT_REQUIRE_INTEROP=1) but not installed: %v", name, err)
		}
		t.Skipf("interop peer %q not installed; skipping", name)
	}
	return p
}

// LongTestsEnv is the environment variable that turns on long load and soak
// tests (.ci/run sets it); `go test ./...` skips them so the suite stays fast.
const LongTestsEnv = "AMTKIT_LONG_TESTS"

// Long skips a long load or soak test unless AMTKIT_LONG_TESTS=1, and always
// under -short.
func Long(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("long test skipped under -short")
	}
	if os.Getenv(LongTestsEnv) != "1" {
		t.Skip("long test: set " + LongTestsEnv + "=1 to run it (CI does)")
	}
}

// runMainEnv, set to "1" by [RunMain], makes a command's test binary run the
// command's main instead of its tests (see [MainIfAsked]).
const runMainEnv = "AMTKIT_TEST_RUN_MAIN"

// MainIfAsked runs main and exits 0 when the test binary was started by
// [RunMain]; a command's TestMain calls it first, so that a test can run the
// command itself, exit status included.
func MainIfAsked(main func()) {
	if os.Getenv(runMainEnv) != "1" {
		return
	}
	os.Args = append(os.Args[:1], os.Args[2:]...) // drop the "--" kept for the test binary
	main()
	os.Exit(0)
}

// RunMain runs the command under test — this test binary, whose TestMain
// calls [MainIfAsked] — with args in dir, and returns its exit status and
// what it wrote.
func RunMain(t testing.TB, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// StrayArgumentsRefused runs the command under test (see [RunMain]) with each
// of argSets and fails t unless every run exits with status 2 and says
// "unexpected argument": flag parsing stops at the first argument that is not
// a flag, so it and every flag after it would be ignored. It returns what
// each run wrote to stdout, for checks of its own.
func StrayArgumentsRefused(t testing.TB, argSets ...[]string) (stdouts []string) {
	t.Helper()
	dir := t.TempDir()
	for _, args := range argSets {
		code, stdout, stderr := RunMain(t, dir, args...)
		if code != 2 || !strings.Contains(stderr, "unexpected argument") {
			t.Errorf("%q: exit status %d, want 2 with \"unexpected argument\"; stdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
		}
		stdouts = append(stdouts, stdout)
	}
	return stdouts
}
