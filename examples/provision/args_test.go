package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/internal/testenv"
)

// TestMain lets a test run the command itself (testenv.RunMain).
func TestMain(m *testing.M) {
	testenv.MainIfAsked(main)
	os.Exit(m.Run())
}

// Arguments that are not flags are refused with exit status 2: flag parsing
// stops at the first one, and every flag after it would be ignored.
func TestStrayArgumentsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"100"}, {"100", "-quiet"}} {
		code, stdout, stderr := testenv.RunMain(t, dir, args...)
		assert.Equal(t, 2, code, "%v: stdout:\n%s\nstderr:\n%s", args, stdout, stderr)
		assert.Contains(t, stderr, "unexpected argument", args)
	}
}
