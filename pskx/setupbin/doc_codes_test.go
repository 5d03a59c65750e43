package setupbin_test

import (
	"testing"

	"github.com/amtkit/amtkit/internal/testenv"
)

// Every finding code the checker reports is in docs/pskx.md's table.
func TestEveryFindingIsDocumented(t *testing.T) {
	testenv.CodesDocumented(t, "check.go", `amt\.FindingCode = "([a-z0-9-]+)"`, "../../docs/pskx.md", 15)
}
