package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunSimulated(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(context.Background(), &out, options{}))
	s := out.String()
	assert.Contains(t, s, "before: control mode None")
	assert.Contains(t, s, "after: control mode ACM")
	assert.Contains(t, s, "password set: true, MEBx password set: true")
}

// -tls: secure host-based configuration of simulated AMT 19, 21 and 22 devices.
func TestRunSimulatedTLS(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(context.Background(), &out, options{tls: true, versions: []string{"19.0.5", "21.0.6", "22.0.0"}}))
	s := out.String()
	t.Log("\n" + s)
	for _, v := range []string{"19.0.5", "21.0.6", "22.0.0"} {
		assert.Contains(t, s, "simulated AMT "+v)
	}
	assert.Equal(t, 3, strings.Count(s, "after: Post, control mode ACM; admin password set: true, MEBx password set: true"))
	assert.Equal(t, 3, strings.Count(s, "verify              Provisioned Post, ACM (read over PTHI)"))
}
