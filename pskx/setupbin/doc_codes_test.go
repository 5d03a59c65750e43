package setupbin_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every finding code the checker reports is in docs/pskx.md's table.
func TestEveryFindingIsDocumented(t *testing.T) {
	src, err := os.ReadFile("check.go")
	require.NoError(t, err)
	doc, err := os.ReadFile("../../docs/pskx.md")
	require.NoError(t, err)
	codes := regexp.MustCompile(`amt\.FindingCode = "([a-z0-9-]+)"`).FindAllSubmatch(src, -1)
	require.Greater(t, len(codes), 15)
	for _, c := range codes {
		assert.Contains(t, string(doc), "`"+string(c[1])+"`", "docs/pskx.md does not list %s", c[1])
	}
}
