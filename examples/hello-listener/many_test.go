package main

import (
	"context"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Listening "until interrupted" (no -demo), the listener must keep printing
// hellos past the 16th and stop when interrupted.
func TestListenerKeepsGoingAndStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuilder
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, &out, false) }()
	pkt, _ := hex.DecodeString("00000200030000003ec2ffd2d19d2d41860a54b2039b72ff4142434432333435")
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		_, _ = c.Write(pkt)
		c.Close()
	}
	assert.Eventually(t, func() bool { return strings.Count(out.String(), "hello v2 from") == 20 }, 5*time.Second, 10*time.Millisecond,
		"hellos printed: %d of 20 (the 17th blocked the handler before)", strings.Count(out.String(), "hello v2 from"))
	cancel() // Ctrl-C
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the listener did not stop within 5s of the interrupt")
	}
}
