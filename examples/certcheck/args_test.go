package main

import (
	"os"
	"testing"

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
	testenv.StrayArgumentsRefused(t, []string{"prov.pfx"}, []string{"prov.pfx", "-suffix", "example.com"})
}
