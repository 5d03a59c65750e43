package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/wsman"
)

// What a device reports is printed one line per property: a hostile or
// broken firmware must not reach the terminal with control sequences or a
// newline that forges a property line.
func TestDevicePropertiesAreEscaped(t *testing.T) {
	const gs = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
	el := wsman.NewInstance(gs,
		wsman.Prop("HostName", "host\x1b]0;owned\x07\x1b[2J\nAMTNetworkEnabled: 1"),
		wsman.Prop("DomainName", "example.com"))
	var b strings.Builder
	printInstance(&b, el, false)
	out := b.String()
	assert.Contains(t, out, "DomainName: example.com\n")
	assert.NotContains(t, out, "\x1b")
	assert.NotContains(t, out, "\x07")
	assert.NotContains(t, out, "\nAMTNetworkEnabled", out)
}
