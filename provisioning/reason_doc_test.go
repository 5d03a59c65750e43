package provisioning_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every reason code is explained in docs/troubleshooting.md: Reason's doc
// sends integrators there, and an event with an undocumented code says nothing
// about what to do.
func TestEveryReasonIsDocumented(t *testing.T) {
	src, err := os.ReadFile("reason.go")
	require.NoError(t, err)
	doc, err := os.ReadFile("../docs/troubleshooting.md")
	require.NoError(t, err)
	codes := regexp.MustCompile(`Reason += "([a-z0-9-]+)"`).FindAllSubmatch(src, -1)
	require.Greater(t, len(codes), 30)
	for _, c := range codes {
		assert.Contains(t, string(doc), "`"+string(c[1])+"`", "docs/troubleshooting.md does not explain %s", c[1])
	}
}

// Every Audit finding code is in docs/troubleshooting.md's audit table.
func TestEveryAuditCodeIsDocumented(t *testing.T) {
	src, err := os.ReadFile("audit.go")
	require.NoError(t, err)
	doc, err := os.ReadFile("../docs/troubleshooting.md")
	require.NoError(t, err)
	codes := regexp.MustCompile(`Code = "([a-z0-9-]+)"`).FindAllSubmatch(src, -1)
	require.Greater(t, len(codes), 20)
	for _, c := range codes {
		assert.Contains(t, string(doc), "`"+string(c[1])+"`", "docs/troubleshooting.md does not explain audit code %s", c[1])
	}
}
