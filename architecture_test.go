package amtkit_test

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/amtkit/amtkit"

// The layers of docs/architecture.md: what each library package may import
// of this module (besides internal/ packages, which any may use). A package
// not listed here is checked only against the test-kit rule below.
var allowedImports = map[string][]string{
	"wsman":                 {},
	"wsman/transcript":      {"wsman"},
	"seal":                  {},
	"amt":                   {"wsman"},
	"amt/hello":             {"amt"},
	"amt/pthi":              {"amt"},
	"amt/apf":               {"amt", "amt/pthi"},
	"certs":                 {"amt", "wsman"},
	"pskx":                  {"amt", "certs"},
	"provisioning":          {"amt", "amt/hello", "certs", "pskx", "seal", "wsman"},
	"provisioning/sqlstore": {"amt", "provisioning", "pskx", "seal"},
}

// testKits are imported only by tests, examples and other test kits, like
// net/http/httptest: no library package depends on them.
var testKits = []string{"amt/amtsim", "certs/certstest", "wsman/wsmantest", "amt/pthi/pthitest", "provisioning/storetest", "amt/apf/apftest"}

// TestImportLayers fails when a package imports across the layers the design
// sets (e.g. wsman importing amt, provisioning importing amt/pthi, a library
// package importing the simulator).
func TestImportLayers(t *testing.T) {
	pkgs := modulePackages(t)
	require.Contains(t, pkgs, "provisioning")
	for rel, imports := range pkgs {
		isKit := slices.Contains(testKits, rel) || isUnder(rel, testKits)
		isExample := strings.HasPrefix(rel, "examples/") || strings.HasPrefix(rel, "internal/cmd/")
		for _, imp := range imports {
			dep, ok := strings.CutPrefix(imp, module+"/")
			if !ok || strings.HasPrefix(dep, "internal/") || isUnder(dep, []string{rel}) {
				continue
			}
			if (slices.Contains(testKits, dep) || isUnder(dep, testKits)) && !isKit && !isExample {
				t.Errorf("%s imports the test kit %s: only tests, examples and other kits may", rel, dep)
			}
			allowed, layered := allowedImports[rel]
			if !layered {
				continue
			}
			ok = false
			for _, a := range allowed {
				ok = ok || dep == a || isUnder(dep, []string{a})
			}
			if !ok {
				t.Errorf("%s imports %s; docs/architecture.md allows it %v", rel, dep, allowed)
			}
		}
	}
}

func isUnder(p string, parents []string) bool {
	for _, par := range parents {
		if strings.HasPrefix(p, par+"/") {
			return true
		}
	}
	return false
}

// modulePackages returns every package of the module (relative path → the
// imports of its non-test files).
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.Default.ImportDir(path, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			return err
		}
		rel := filepath.ToSlash(path)
		out[rel] = pkg.Imports
		return nil
	})
	require.NoError(t, err)
	_, statErr := os.Stat("go.mod")
	assert.NoError(t, statErr, "run from the module root")
	return out
}
