package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets a test run main with its own command line (PSKGEN_MAIN=1).
func TestMain(m *testing.M) {
	if os.Getenv("PSKGEN_MAIN") == "1" {
		os.Args = append(os.Args[:1], os.Args[2:]...) // drop "--" kept for the test binary
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// "pskgen -n 100 pairs.csv" (the -csv forgotten) or "pskgen 100 -csv pairs.csv"
// (flag parsing stops at the first argument) ignored what followed and printed
// the pairs' secrets on the terminal. Arguments that are not flags are refused.
func TestStrayArgumentsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"-n", "1", "pairs.csv"}, {"1", "-csv", "pairs.csv"}} {
		cmd := exec.Command(os.Args[0], append([]string{"--"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PSKGEN_MAIN=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%v: exit status 0; stdout:\n%s\nstderr:\n%s", args, stdout.String(), stderr.String())
		assert.Equal(t, 2, ee.ExitCode(), args)
		assert.NotContains(t, stdout.String(), "MEBx password", "%v: secrets printed", args)
		assert.Contains(t, stderr.String(), "unexpected argument", args)
	}
}
