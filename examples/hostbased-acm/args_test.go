package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets a test run main with its own command line (HOSTBASED_ACM_MAIN=1).
func TestMain(m *testing.M) {
	if os.Getenv("HOSTBASED_ACM_MAIN") == "1" {
		os.Args = append(os.Args[:1], os.Args[2:]...) // drop "--" kept for the test binary
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// "hostbased-acm prov.pfx -endpoint …" stopped parsing at prov.pfx and activated a simulated
// device instead, exit status 0.
// Arguments that are not flags are refused with exit status 2.
func TestStrayArgumentsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"prov.pfx"}, {"prov.pfx", "-endpoint", "http://127.0.0.1:1/wsman"}} {
		cmd := exec.Command(os.Args[0], append([]string{"--"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOSTBASED_ACM_MAIN=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%v: exit status 0; stdout:\n%s\nstderr:\n%s", args, stdout.String(), stderr.String())
		assert.Equal(t, 2, ee.ExitCode(), args)
		assert.Contains(t, stderr.String(), "unexpected argument", args)
	}
}
