package provisioning_test

import (
	"testing"

	"github.com/amtkit/amtkit/internal/testenv"
)

// Every reason code is explained in docs/troubleshooting.md: Reason's doc
// sends integrators there, and an event with an undocumented code says nothing
// about what to do. So is every Audit finding code.
func TestEveryCodeIsDocumented(t *testing.T) {
	testenv.CodesDocumented(t, "reason.go", `Reason += "([a-z0-9-]+)"`, "../docs/troubleshooting.md", 30)
	testenv.CodesDocumented(t, "audit.go", `Code = "([a-z0-9-]+)"`, "../docs/troubleshooting.md", 20)
}
