package provisioning_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/provisioning"
)

// TestEnumStrings pins what String prints for every value of each enumeration
// from 0 to one past its last: the names, and the form of the unknown values
// between and after them. It was written against the hand-written methods
// before they were replaced by generated ones (go generate, stringer), so the
// generated methods print the same.
func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		name string
		str  func(int) string
		want []string // String of 0, 1, 2, …
	}{
		{"State", func(i int) string { return provisioning.State(i).String() },
			[]string{"New", "Authorized", "Connected", "Identified", "Configured", "Committed", "Provisioned", "Rejected", "Failed", "State(9)"}},
		{"ListenerEventKind", func(i int) string { return provisioning.ListenerEventKind(i).String() },
			[]string{"ListenerEventKind(0)", "hello-received", "hello-malformed", "hello-duplicate", "hello-oversize", "hello-timeout", "probe", "rate-limited", "evicted", "read-error", "accept-error", "ListenerEventKind(11)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, w := range tc.want {
				assert.Equal(t, w, tc.str(i), "%s(%d)", tc.name, i)
			}
		})
	}
}
