package certs_test

import (
	"testing"

	"github.com/amtkit/amtkit/internal/testenv"
)

// Every certificate finding code is in docs/certs.md.
func TestEveryFindingIsDocumented(t *testing.T) {
	testenv.CodesDocumented(t, "finding.go", `FindingCode = "([a-z0-9-]+)"`, "../docs/certs.md", 30)
}
