//go:build unix

package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Not a test: the program's main, run by TestInterruptRemovesTempState in a
// child process.
func TestHelperProvisionMain(t *testing.T) {
	if os.Getenv("PROVISION_HELPER") != "1" {
		t.Skip("helper")
	}
	os.Args = []string{"provision"}
	main()
}

// -state's default is "a new file in a temporary directory, removed at
// exit": Ctrl-C must not leave the state file and its sealing key behind.
func TestInterruptRemovesTempState(t *testing.T) {
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProvisionMain$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PROVISION_HELPER=1", "TMPDIR="+tmp)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	// Interrupted once the run is under way (its state file exists).
	lines := bufio.NewScanner(out)
	require.True(t, lines.Scan(), "the program printed nothing")
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	go func() { _, _ = io.Copy(io.Discard, out) }()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("no exit within 10s of SIGINT")
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "amtkit-provision-*", "*"))
	assert.Empty(t, left, "left behind after Ctrl-C")
}
