package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// "-create psk -n 10000000000" ended in "fatal error: out of memory"; it is
// refused with the limit, as are zero and negative counts.
func TestBatchSizeIsBounded(t *testing.T) {
	var out strings.Builder
	for _, n := range []int{10_000_000_000, 0, -1} {
		err := run(&out, options{create: "psk", n: n})
		require.Error(t, err, n)
		assert.Contains(t, err.Error(), "-n", n)
	}
}
