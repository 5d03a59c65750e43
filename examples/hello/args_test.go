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

// "hello 0300…" (the -hex forgotten) decoded the built-in sample hello, with its made-up
// UUID and hashes, exit status 0.
// Arguments that are not flags are refused with exit status 2.
func TestStrayArgumentsRefused(t *testing.T) {
	testenv.StrayArgumentsRefused(t, []string{"860a54b2"}, []string{"860a54b2", "-cert", "prov.contoso.com"})
}
