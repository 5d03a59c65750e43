package apf_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/apf"
)

// AMT closes a channel right after its data, while the application reads
// it: no WINDOW_ADJUST may follow the CHANNEL_CLOSE that answers AMT's, or
// the late credit could land on a new channel AMT gives the same number.
// Queuing the adjust after Read let go of the channel's lock let the close
// overtake it, in 3 to 4 of 10 runs of this test (found by review, which
// wrote it).
func TestWindowAdjustNeverAfterCloseReply(t *testing.T) {
	s, f := handshake(t, apf.Config{Window: 2})
	for i := 0; i < 5000; i++ {
		dc := make(chan *apf.Channel, 1)
		go func() {
			c, err := s.DialPort(context.Background(), 16992)
			require.NoError(t, err)
			dc <- c
		}()
		open := f.recv().(apf.ChannelOpen)
		f.send(apf.ChannelOpenConfirmation{Recipient: open.Sender, Sender: uint32(1000 + i), Window: 100})
		ch := <-dc
		readDone := make(chan struct{})
		go func() {
			b := make([]byte, 1)
			_, _ = ch.Read(b)
			close(readDone)
		}()
		f.send(apf.ChannelData{Recipient: open.Sender, Data: []byte("x")})
		f.send(apf.ChannelClose{Recipient: open.Sender})
		<-readDone
		f.send(apf.KeepAliveRequest{Cookie: uint32(i)})
		closed := false
	loop:
		for {
			switch m := f.recv().(type) {
			case apf.ChannelClose:
				closed = true
			case apf.WindowAdjust:
				if closed {
					t.Fatalf("iteration %d: WINDOW_ADJUST %+v after the CHANNEL_CLOSE reply", i, m)
				}
			case apf.KeepAliveReply:
				break loop
			}
		}
		ch.Close()
	}
}
