package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/amt/pthi/pthitest"
)

// The status view prints what the firmware reports. A hostile or broken
// firmware controls the BIOS version (65 bytes) and every root hash's name (up
// to the message size): terminal control sequences in them must reach the
// terminal escaped, as the DNS suffix already does (%q), or a device could
// rewrite the operator's screen (clear it, retitle the window, fake lines).
func TestStatusEscapesFirmwareText(t *testing.T) {
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	const bios = "BIOS\x1b]0;owned\x07\r\x1b[2J"
	const name = "Root\x1b[31m\nAMT           99.0.0"
	versions, err := pthi.CodeVersions{BIOS: bios, Entries: []pthi.VersionEntry{{Description: "AMT", Version: "16.1.25"}}}.AppendBinary(nil)
	require.NoError(t, err)
	root, err := amt.ParseCertHash("CB3CCBB76031E5E0138F8DD39A23F9DE47FFC35E43C1144CEA27D46A5AB1CB5F")
	require.NoError(t, err)
	entry, err := pthi.CertHashEntry{Name: name, Hash: root, Active: true}.AppendBinary(nil)
	require.NoError(t, err)
	device := pthitest.NewReplay(
		pthitest.OK(pthi.CmdGetCodeVersions, nil, versions),
		pthitest.OK(pthi.CmdGetUUID, nil, make([]byte, 16)),
		pthitest.OK(pthi.CmdGetProvisioningState, nil, u32(0)),
		pthitest.OK(pthi.CmdGetControlMode, nil, u32(0)),
		pthitest.OK(pthi.CmdGetPKIDNSSuffix, nil, []byte{0, 0}),
		pthitest.OK(pthi.CmdEnumerateHashHandles, nil, append(u32(1), u32(0)...)),
		pthitest.OK(pthi.CmdGetCertHashEntry, u32(0), entry),
		pthitest.Fail(pthi.CmdGetLANInterfaceSettings, u32(0), amt.StatusInterfaceDoesNotExist),
		pthitest.Fail(pthi.CmdGetLANInterfaceSettings, u32(1), amt.StatusInterfaceDoesNotExist),
	)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, options{transport: device}))
	require.NoError(t, device.Done())
	t.Log(out.String())
	assert.NotContains(t, out.String(), "\x1b", "no escape character reaches the terminal")
	assert.NotContains(t, out.String(), "\x07")
	assert.NotContains(t, out.String(), "\r")
	assert.NotContains(t, out.String(), "\nAMT           99", "a name cannot forge a line")
	assert.Contains(t, out.String(), `BIOS\x1b]0;owned\a\r\x1b[2J`)
}
