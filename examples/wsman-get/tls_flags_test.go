package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The TLS flags given with an http:// endpoint were ignored: the operator
// who pinned the device believed it authenticated while the digest exchange
// went out in plain HTTP. They are refused.
func TestTLSFlagsWithPlainHTTPRefused(t *testing.T) {
	for _, tc := range []struct {
		endpoint, pin, ca, host, cert string
		insecure                      bool
		ok                            bool
	}{
		{endpoint: "http://10.0.0.5:16992/wsman", pin: "ab", ok: false},
		{endpoint: "http://10.0.0.5:16992/wsman", ca: "ca.pem", ok: false},
		{endpoint: "http://10.0.0.5:16992/wsman", host: "pc7", ok: false},
		{endpoint: "http://10.0.0.5:16992/wsman", insecure: true, ok: false},
		{endpoint: "http://10.0.0.5:16992/wsman", cert: "c.pem", ok: false},
		{endpoint: "http://10.0.0.5:16992/wsman", ok: true},
		{endpoint: "https://10.0.0.5:16993/wsman", pin: "ab", ok: true},
	} {
		err := checkTLSFlags(tc.endpoint, tc.pin, tc.ca, tc.host, tc.cert, tc.insecure)
		if tc.ok {
			assert.NoError(t, err, "%+v", tc)
		} else {
			assert.ErrorContains(t, err, "https", "%+v", tc)
		}
	}
}
