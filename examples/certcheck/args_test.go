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

// "certcheck prov.pfx" (the -in forgotten) ran the demo on made-up bundles and exited 0, as
// if the file had been checked.
// Arguments that are not flags are refused with exit status 2.
func TestStrayArgumentsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"prov.pfx"}, {"prov.pfx", "-suffix", "example.com"}} {
		code, stdout, stderr := testenv.RunMain(t, dir, args...)
		assert.Equal(t, 2, code, "%v: stdout:\n%s\nstderr:\n%s", args, stdout, stderr)
		assert.Contains(t, stderr, "unexpected argument", args)
	}
}
