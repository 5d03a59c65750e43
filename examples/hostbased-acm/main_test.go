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
	require.NoError(t, run(context.Background(), &out, "", "", ""))
	s := out.String()
	assert.Contains(t, s, "before: control mode None")
	assert.Contains(t, s, "after: control mode ACM")
	assert.Contains(t, s, "password set: true")
}
