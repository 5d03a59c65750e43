package apftest

import (
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/internal/leakcheck"
)

// TestMPSHostileDevicesLeaveNothing: devices that stop at each point of the
// handshake, flood the MPS or break the protocol, then hang up, leave no
// goroutine or descriptor behind once the MPS is closed.
func TestMPSHostileDevicesLeaveNothing(t *testing.T) {
	leakcheck.Verify(t)
	m := attackMPS(t, func(c *MPSConfig) {
		c.Username, c.Password = "dev", amt.NewSecret("P@ssw0rd1")
	})
	good := apf.UserAuthRequest{User: "dev", Service: apf.ServicePortForwarding, Method: apf.MethodPassword, Password: amt.NewSecret("P@ssw0rd1")}
	pv := apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA}
	for name, ms := range map[string][]apf.Message{
		"silent":           nil,
		"version only":     {pv},
		"bad password":     {pv, apf.UserAuthRequest{User: "dev", Service: apf.ServicePortForwarding, Method: apf.MethodPassword, Password: amt.NewSecret("x")}},
		"pfwd before auth": {pv, apf.ServiceRequest{Service: apf.ServicePortForwarding}},
		"global flood":     append([]apf.Message{pv, good, apf.ServiceRequest{Service: apf.ServicePortForwarding}}, repeat(apf.GlobalRequest{Name: "x", WantReply: true}, 2000)...),
		"keep-alive flood": append([]apf.Message{pv}, repeat(apf.KeepAliveRequest{Cookie: 1}, 2000)...),
		"window abuse": {pv, good, apf.ServiceRequest{Service: apf.ServicePortForwarding},
			apf.ChannelData{Recipient: 7, Data: make([]byte, 1000)}, apf.WindowAdjust{Recipient: 7, Bytes: 1 << 31}},
	} {
		t.Run(name, func(t *testing.T) {
			r := dialRogue(t, m)
			r.try(ms...)
			r.st.Close()
		})
	}
	m.Close()
}

func repeat(m apf.Message, n int) []apf.Message {
	out := make([]apf.Message, n)
	for i := range out {
		out[i] = m
	}
	return out
}
