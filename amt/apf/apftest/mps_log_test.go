package apftest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/apf"
)

// A device (or anyone who reaches the MPS's port) writes the MPS's log: every
// message it sends, and the answer, was one more line in MPS.Log, kept for
// the MPS's life — a keep-alive flood grew it without bound — and the text it
// chose (a service name, a user name, a forward's address, a channel type)
// went into those lines as it was, so that it could add lines of its own.
// Found by review.
func TestMPSLogBoundedAndOneLinePerEvent(t *testing.T) {
	t.Run("keep-alive flood", func(t *testing.T) {
		m := attackMPS(t, nil)
		r := dialRogue(t, m)
		r.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA})
		const n = 3000
		for i := uint32(0); i < n; i += 100 {
			for k := range uint32(100) {
				r.send(apf.KeepAliveRequest{Cookie: i + k})
			}
			for replies := 0; replies < 100; {
				msg, err := r.recv()
				require.NoError(t, err)
				if _, ok := msg.(apf.KeepAliveReply); ok {
					replies++
				}
			}
		}
		log := m.Log()
		assert.LessOrEqual(t, len(log), maxEvents, "the MPS's log is bounded")
		assert.Contains(t, log[len(log)-1], "KEEPALIVE_REPLY 2999", "the newest events are kept")
	})
	t.Run("device text", func(t *testing.T) {
		m := attackMPS(t, func(c *MPSConfig) {
			c.Username, c.Password = "dev", amt.NewSecret("P@ssw0rd1")
		})
		r := dialRogue(t, m)
		r.st.ExpectRequestSuccess(4) // the forward's reply carries its port
		forged := "x\ntunnel up: device 00000000-0000-0000-0000-000000000000"
		r.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA},
			apf.UserAuthRequest{User: "dev\u2028" + forged, Service: apf.ServicePortForwarding, Method: apf.MethodPassword, Password: amt.NewSecret("P@ssw0rd1")},
			apf.UserAuthRequest{User: "dev", Service: apf.ServicePortForwarding, Method: apf.MethodPassword, Password: amt.NewSecret("P@ssw0rd1")},
			apf.ServiceRequest{Service: apf.ServicePortForwarding},
			apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: forged, Port: 16992},
			apf.GlobalRequest{Name: "keepalive\n" + forged, WantReply: true},
		)
		r.recvUntil(apf.TypeRequestSuccess)
		r.st.ExpectRequestSuccess(0)
		r.recvUntil(apf.TypeRequestFailure)
		r.try(apf.ServiceRequest{Service: "svc\r\n" + forged})
		_, _ = r.recv() // the DISCONNECT, or the end
		require.Eventually(t, func() bool {
			return strings.Contains(strings.Join(m.Log(), "\n"), "SERVICE_REQUEST svc")
		}, 5e9, 1e6)
		for _, l := range m.Log() {
			assert.False(t, strings.ContainsAny(l, "\r\n\u2028"), "one line per event: %q", l)
			assert.False(t, strings.HasPrefix(l, "tunnel up: device 0000"), "a forged event: %q", l)
		}
	})
}
