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

// "pskgen -n 100 pairs.csv" (the -csv forgotten) or "pskgen 100 -csv pairs.csv"
// (flag parsing stops at the first argument) ignored what followed and printed
// the pairs' secrets on the terminal. Arguments that are not flags are refused.
func TestStrayArgumentsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"-n", "1", "pairs.csv"}, {"1", "-csv", "pairs.csv"}} {
		code, stdout, stderr := testenv.RunMain(t, dir, args...)
		assert.Equal(t, 2, code, "%v: stdout:\n%s\nstderr:\n%s", args, stdout, stderr)
		assert.NotContains(t, stdout, "MEBx password", "%v: secrets printed", args)
		assert.Contains(t, stderr, "unexpected argument", args)
	}
}
