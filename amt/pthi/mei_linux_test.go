//go:build linux

package pthi

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests never touch an MEI device: they check the errors for an absent device
// and for a path that is not a character device.

func TestOpenMEIAbsentDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mei0")
	m, err := OpenMEI(context.Background(), MEIConfig{Device: path})
	assert.Nil(t, m)
	require.ErrorIs(t, err, ErrNoDevice)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), path)
}

func TestOpenMEINotCharDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regular")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	_, err := OpenMEI(context.Background(), MEIConfig{Device: path})
	assert.ErrorIs(t, err, ErrNotMEIDevice)
}

func TestOpenMEICancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := OpenMEI(ctx, MEIConfig{Device: filepath.Join(t.TempDir(), "mei0")})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestClosedMEI(t *testing.T) {
	m := &MEI{}
	require.NoError(t, m.Close())
	_, err := m.Send(context.Background(), []byte{1})
	assert.ErrorIs(t, err, ErrClosed)
}

// /dev/null is a character device without the MEI ioctl: the connect fails with
// ENOTTY, which is what a kernel without the firmware client answers.
func TestOpenMEIWithoutClient(t *testing.T) {
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	_, err := OpenMEI(context.Background(), MEIConfig{Device: "/dev/null"})
	assert.ErrorIs(t, err, ErrClientNotFound)
}
