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

// "hostbased-acm prov.pfx -endpoint …" stopped parsing at prov.pfx and activated a simulated
// device instead, exit status 0.
// Arguments that are not flags are refused with exit status 2.
func TestStrayArgumentsRefused(t *testing.T) {
	testenv.StrayArgumentsRefused(t, []string{"prov.pfx"}, []string{"prov.pfx", "-endpoint", "http://127.0.0.1:1/wsman"})
}
