package amt

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Every decoder of device input in this package (a parse* or Parse* function)
// is called by a Fuzz target of its tests, so that a new decoder cannot go
// unfuzzed. Helpers reached only through fuzzed decoders are listed.
func TestEveryDecoderIsFuzzed(t *testing.T) {
	decl := regexp.MustCompile(`(?m)^func ((?:parse|Parse)[A-Za-z0-9]*)[\[(]`)
	fuzzTarget := regexp.MustCompile(`(?s)\nfunc Fuzz.*?\n}\n`)
	var decoders []string
	var fuzzed strings.Builder
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, "_test.go") {
			for _, m := range fuzzTarget.FindAllString(string(b), -1) {
				fuzzed.WriteString(m)
			}
			continue
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			decoders = append(decoders, m[1])
		}
	}
	var missing []string
	for _, d := range decoders {
		switch d {
		case "parseAs", "parseSourced", "parseCertHash", "ParseCertHashAlg": // reached through fuzzed ones
			continue
		}
		if !regexp.MustCompile(`\b` + d + `\(`).MatchString(fuzzed.String()) {
			missing = append(missing, d)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("decoders of device input without a Fuzz target: %s", strings.Join(missing, ", "))
	}
}
