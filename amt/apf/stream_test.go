package apf_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/apf"
)

// successData is the REQUEST_SUCCESS data length of a golden message.
func successData(m apf.Message) int {
	if rs, ok := m.(apf.RequestSuccess); ok {
		return len(rs.Data)
	}
	return 0
}

// streamFramed reports whether a golden message can be framed on a stream:
// an unknown type cannot, nor a global request of an unknown name with data.
func streamFramed(m apf.Message) bool {
	switch m := m.(type) {
	case apf.Unknown:
		return false
	case apf.GlobalRequest:
		return m.Name == apf.RequestTCPForward || m.Name == apf.RequestCancelTCPForward || m.Name == apf.RequestUDPSendTo || len(m.Data) == 0
	}
	return true
}

// FrameLength reads every message's length from its fields, and every strict
// prefix asks for more.
func TestFrameLength(t *testing.T) {
	for _, g := range golden(t) {
		if !streamFramed(g.msg) {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			sd := successData(g.msg)
			n, err := apf.FrameLength(append(bytes.Clone(g.wire), 0x5e, 0, 0), sd)
			require.NoError(t, err)
			assert.Equal(t, len(g.wire), n, "the message, not what follows it")
			for i := range len(g.wire) {
				_, err := apf.FrameLength(g.wire[:i], sd)
				assert.ErrorIs(t, err, apf.ErrIncomplete, "%d of %d bytes", i, len(g.wire))
			}
		})
	}
	_, err := apf.FrameLength([]byte{0x60, 1}, 0)
	assert.ErrorIs(t, err, apf.ErrUnframeable)
	// A string longer than MaxStringLength is refused, not waited for.
	_, err = apf.FrameLength([]byte{5, 0, 0, 0x10, 0}, 0)
	var fe *apf.FormatError
	assert.ErrorAs(t, err, &fe)
	// A huge CHANNEL_DATA length waits for bytes; it does not overflow.
	_, err = apf.FrameLength([]byte{0x5e, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, 0)
	assert.ErrorIs(t, err, apf.ErrIncomplete)
	// Unknown global requests carry no data (MeshCentral's MPS reads none).
	n, err := apf.FrameLength([]byte{0x50, 0, 0, 0, 1, 'x', 1, 0x51}, 0)
	require.NoError(t, err)
	assert.Equal(t, 7, n)
}

// FuzzFrameLength: FrameLength never panics and never claims more bytes than
// it was given; what it frames, read alone, frames the same.
func FuzzFrameLength(f *testing.F) {
	for _, g := range golden(f) {
		f.Add(g.wire, successData(g.msg))
	}
	f.Fuzz(func(t *testing.T, b []byte, sd int) {
		if sd > 1<<16 {
			sd = 1 << 16
		}
		n, err := apf.FrameLength(b, sd)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with length %d", err, n)
			}
			return
		}
		if n < 1 || n > len(b) {
			t.Fatalf("length %d of %d bytes", n, len(b))
		}
		if n2, err := apf.FrameLength(b[:n], sd); err != nil || n2 != n {
			t.Fatalf("the framed %d bytes frame as %d (%v)", n, n2, err)
		}
	})
}

// A StreamTransport reads messages that arrive a byte at a time, several at
// once, and bounded; its writes are whole.
func TestStreamTransport(t *testing.T) {
	ctx := context.Background()
	a, b := net.Pipe()
	st := apf.NewStreamTransport(a, 256)
	defer st.Close()
	var all []byte
	var want [][]byte
	for _, g := range golden(t) {
		if !streamFramed(g.msg) || successData(g.msg) > 0 {
			continue
		}
		all = append(all, g.wire...)
		want = append(want, g.wire)
	}
	go func() {
		for i := range all {
			if _, err := b.Write(all[i : i+1]); err != nil {
				return
			}
		}
	}()
	for i, w := range want {
		got, err := st.ReadMessage(ctx)
		require.NoError(t, err, "message %d", i)
		assert.Equal(t, w, got)
	}
	// The reply to a tcpip-forward carries the port.
	st.ExpectRequestSuccess(4)
	go func() {
		_, _ = b.Write(append(mustEncode(t, apf.TCPForwardSuccess(16993)), mustEncode(t, apf.ChannelClose{Recipient: 3})...))
	}()
	got, err := st.ReadMessage(ctx)
	require.NoError(t, err)
	m, err := apf.Decode(got)
	require.NoError(t, err)
	port, ok := m.(apf.RequestSuccess).Port()
	require.True(t, ok)
	assert.Equal(t, uint32(16993), port)
	_, err = st.ReadMessage(ctx)
	require.NoError(t, err)

	// Writes arrive whole.
	go func() { _ = st.WriteMessage(ctx, mustEncode(t, apf.KeepAliveRequest{Cookie: 7})) }()
	buf := make([]byte, 5)
	_, err = io.ReadFull(b, buf)
	require.NoError(t, err)
	assert.Equal(t, mustEncode(t, apf.KeepAliveRequest{Cookie: 7}), buf)

	// Over the bound: refused.
	go func() { _, _ = b.Write(mustEncode(t, apf.ChannelData{Recipient: 1, Data: make([]byte, 300)})) }()
	_, err = st.ReadMessage(ctx)
	var fe *apf.FormatError
	require.ErrorAs(t, err, &fe)
}

func TestStreamTransportContextAndEOF(t *testing.T) {
	a, b := net.Pipe()
	st := apf.NewStreamTransport(a, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := st.ReadMessage(ctx); done <- err }()
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("ReadMessage did not return when its context ended")
	}
	// A stream that ends inside a message is an unexpected EOF.
	go func() { _, _ = b.Write([]byte{0xd0, 0, 0}); _ = b.Close() }()
	_, err := st.ReadMessage(context.Background())
	assert.True(t, errors.Is(err, io.ErrUnexpectedEOF), "%v", err)
	assert.Same(t, a, st.Conn())
}

func mustEncode(t testing.TB, m apf.Message) []byte {
	t.Helper()
	b, err := apf.Encode(m)
	require.NoError(t, err)
	return b
}
