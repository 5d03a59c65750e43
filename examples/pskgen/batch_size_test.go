package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// "-n 10000000000" (a few zeros too many) ended in "fatal error: out of
// memory" with nothing said about -n; it is refused with the limit.
func TestBatchSizeIsBounded(t *testing.T) {
	var out bytes.Buffer
	err := run(&out, 10_000_000_000, "", "", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-n")
	require.NoError(t, run(&out, maxPairs, "", "", ""))
}
