package pthi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/amt/pthi"
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
		{"TLSMode", func(i int) string { return pthi.TLSMode(i).String() },
			[]string{"NotReady", "PSK", "PKI", "TLSMode(3)"}},
		{"RNGStatus", func(i int) string { return pthi.RNGStatus(i).String() },
			[]string{"Exists", "InProgress", "Missing", "RNGStatus(3)"}},
		{"Interface", func(i int) string { return pthi.Interface(i).String() },
			[]string{"wired", "wireless", "Interface(2)"}},
		{"DHCPMode", func(i int) string { return pthi.DHCPMode(i).String() },
			[]string{"DHCPMode(0)", "active", "passive", "DHCPMode(3)"}},
		{"MEIClient", func(i int) string { return pthi.MEIClient(i).String() },
			[]string{"AMTHI", "watchdog", "LME", "MEIClient(3)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, w := range tc.want {
				assert.Equal(t, w, tc.str(i), "%s(%d)", tc.name, i)
			}
		})
	}
}
