package wsman_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/wsman"
)

// TestEnumStrings pins what String prints for every value of each enumeration
// from 0 to one past its last: the names, and the form of the unknown values
// between and after them. It was written against the hand-written methods
// before they were replaced by generated ones (go generate, stringer), so the
// generated methods print the same. One change on purpose: an unknown Phase
// printed "phase(n)" and prints stringer's "Phase(n)".
func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		name string
		str  func(int) string
		want []string // String of 0, 1, 2, …
	}{
		{"Phase", func(i int) string { return wsman.Phase(i).String() },
			[]string{"connect", "send", "receive", "Phase(3)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, w := range tc.want {
				assert.Equal(t, w, tc.str(i), "%s(%d)", tc.name, i)
			}
		})
	}
}
