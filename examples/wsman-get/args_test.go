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

// "wsman-get AMT_GeneralSettings -endpoint …" stopped parsing at the class name, queried the
// built-in simulated device and printed its answers, exit status 0.
// Arguments that are not flags are refused with exit status 2.
func TestStrayArgumentsRefused(t *testing.T) {
	testenv.StrayArgumentsRefused(t, []string{"AMT_GeneralSettings"}, []string{"AMT_GeneralSettings", "-endpoint", "http://127.0.0.1:1/wsman"})
}
