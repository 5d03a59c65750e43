package amt_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

var updateFirmwareDoc = flag.Bool("update-firmware-doc", false, "rewrite the amt.FirmwareRules block of docs/firmware-rules.md")

const (
	firmwareDoc      = "../docs/firmware-rules.md"
	firmwareDocBegin = "<!-- BEGIN amt.FirmwareRules -->\n"
	firmwareDocEnd   = "<!-- END amt.FirmwareRules -->"
)

// firmwareRulesTable is the Markdown table docs/firmware-rules.md mirrors.
func firmwareRulesTable() string {
	var b strings.Builder
	b.WriteString("| Field | Versions | Source | Evidence |\n|---|---|---|---|\n")
	for _, r := range amt.FirmwareRules() {
		b.WriteString("| `" + r.Field + "` | " + r.Versions + " | " + strings.ReplaceAll(r.Source, "|", `\|`) + " | " + r.Confidence.String() + " |\n")
	}
	return b.String()
}

// Every rule of amt.FirmwareRules appears in docs/firmware-rules.md, with its
// versions, source and evidence, in the table's order.
func TestFirmwareRulesDocumented(t *testing.T) {
	doc, err := os.ReadFile(firmwareDoc)
	require.NoError(t, err)
	s := string(doc)
	i, j := strings.Index(s, firmwareDocBegin), strings.Index(s, firmwareDocEnd)
	require.True(t, i >= 0 && j > i, "docs/firmware-rules.md lost its amt.FirmwareRules markers")
	want := firmwareRulesTable()
	if *updateFirmwareDoc {
		s = s[:i+len(firmwareDocBegin)] + want + s[j:]
		require.NoError(t, os.WriteFile(firmwareDoc, []byte(s), 0o644))
		return
	}
	require.Equal(t, want, s[i+len(firmwareDocBegin):j], "docs/firmware-rules.md is out of date: go test ./amt -run TestFirmwareRulesDocumented -update-firmware-doc")
}
