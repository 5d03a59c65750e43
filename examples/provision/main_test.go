package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The default job must provision the good devices and refuse each planned one
// for its planned reason.
func TestRunPlannedOutcomes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var summary strings.Builder
	res, err := run(ctx, options{devices: 12, progress: io.Discard, summary: &summary})
	require.NoError(t, err)
	assert.Equal(t, 0, res.unexpected, summary.String())
	assert.Equal(t, 10, res.provisioned, summary.String())
	assert.Equal(t, 2, res.rejected, summary.String()) // 12/5 = 2 refusals: no-root, wrong-suffix
	assert.Contains(t, summary.String(), "Every device ended as planned.")
	assert.Contains(t, summary.String(), "no-matching-root")
	assert.Contains(t, summary.String(), "suffix-mismatch")
}

// Where loopback aliases cannot be bound (macOS), the fleet shares 127.0.0.1.
func TestRunSharedIP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var summary strings.Builder
	res, err := run(ctx, options{devices: 25, sharedIP: true, progress: io.Discard, summary: &summary})
	require.NoError(t, err)
	assert.Equal(t, 0, res.unexpected, summary.String())
	assert.Equal(t, 5, res.rejected, summary.String())
}

func TestPlans(t *testing.T) {
	ps := plans(25)
	require.Len(t, ps, 25)
	kinds := map[string]int{}
	for _, p := range ps {
		kinds[p.kind]++
	}
	for _, k := range []string{"no-root", "wrong-suffix", "bad-otp", "unknown", "rogue"} {
		assert.Equal(t, 1, kinds[k], k)
	}
	assert.Len(t, plans(1), 1)
	_, err := run(context.Background(), options{devices: 0, progress: io.Discard, summary: io.Discard})
	assert.Error(t, err)
}
