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
	args := [][]string{{"-n", "1", "pairs.csv"}, {"1", "-csv", "pairs.csv"}}
	for i, stdout := range testenv.StrayArgumentsRefused(t, args...) {
		assert.NotContains(t, stdout, "MEBx password", "%v: secrets printed", args[i])
	}
}
