package certs_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every certificate finding code is in docs/certs.md.
func TestEveryFindingIsDocumented(t *testing.T) {
	src, err := os.ReadFile("finding.go")
	require.NoError(t, err)
	doc, err := os.ReadFile("../docs/certs.md")
	require.NoError(t, err)
	codes := regexp.MustCompile(`FindingCode = "([a-z0-9-]+)"`).FindAllSubmatch(src, -1)
	require.Greater(t, len(codes), 30)
	for _, c := range codes {
		assert.Contains(t, string(doc), "`"+string(c[1])+"`", "docs/certs.md does not list %s", c[1])
	}
}
