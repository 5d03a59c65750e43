package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
)

// Anyone can send a version 2 hello whose 8 PID bytes are terminal control
// sequences; printed raw, they clear the operator's screen, retitle the window
// or hide what follows (found by review). A PID is 8 characters A-Z and 0-9
// (Intel Technology Journal 2008, "Configuring Intel AMT — Pre-Shared Key
// Protocol"); anything else is printed quoted.
func TestAttackPIDControlBytesNotPrinted(t *testing.T) {
	for _, tc := range []struct {
		name, pid, want string
	}{
		{"a real PID", "ABCD2345", "PID ABCD2345\n"},
		{"clear screen", "\x1b[2J\x1b[H!", `PID "\x1b[2J\x1b[H!"`},
		{"window title", "\x1b]0;ok\x07\r", `PID "\x1b]0;ok\a\r"`},
		{"invalid UTF-8", "\xff\xfe\x9b31m\n!", `PID "\xff\xfe\x9b31m\n!"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out syncBuilder
			done := make(chan error, 1)
			go func() { done <- run(ctx, ln, &out, false) }()
			u, err := amt.ParseUUID("d2ffc23e-9dd1-412d-860a-54b2039b72ff")
			require.NoError(t, err)
			h := hello.Message{Version: hello.VersionPSK, UUID: u}
			copy(h.PID[:], tc.pid)
			pkt, err := h.MarshalBinary()
			require.NoError(t, err)
			c, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			_, err = c.Write(pkt)
			require.NoError(t, err)
			require.NoError(t, c.Close())
			require.Eventually(t, func() bool { return strings.Contains(out.String(), "PID ") }, 5*time.Second, time.Millisecond)
			cancel()
			<-done
			s := out.String()
			assert.Contains(t, s, tc.want)
			for _, r := range s {
				assert.False(t, r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD'),
					"control character %q printed: %q", r, s)
			}
		})
	}
}
