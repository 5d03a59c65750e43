package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The -demo path without LMS: the path chosen and said, and a CCM activation
// of the simulated device through LME/APF.
func TestDemoLME(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, lmeDemo(context.Background(), &out))
	s := out.String()
	assert.Contains(t, s, `msg="local AMT path" path=LME/APF reason="LMS did not answer on 127.0.0.1:`)
	assert.Contains(t, s, "before: control mode None")
	assert.Contains(t, s, "after: Post, control mode CCM; admin password set: true")
	assert.Contains(t, s, "protocol violations: <nil>")
}
