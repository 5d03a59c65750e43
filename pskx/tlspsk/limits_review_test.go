package tlspsk

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

// Read returns by its deadline even when the record it reads is fatal and a
// concurrent Write holds the write side (the peer has stopped reading). fail()
// took the write side with a blocking Lock to send its alert, so Read waited
// for the Write, which never ended: the read deadline was ignored.
func TestFatalRecordReadHonoursDeadlineDuringBlockedWrite(t *testing.T) {
	c, s := hostilePipePair(t)
	go func() { _, _ = c.Write(make([]byte, 1<<20)) }() // the peer never reads: Write blocks holding out
	for c.out.TryLock() {
		c.out.Unlock()
		runtime.Gosched()
	}
	// The hostile peer sends a record Read must reject: an unexpected
	// ChangeCipherSpec after the handshake (any bad-MAC record does the same).
	go writeRecords(t, s, rawRecord{recordChangeCipherSpec, []byte{1}})
	require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	done := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(3 * time.Second):
		t.Fatal("Read with a 200 ms read deadline still blocked after 3 s: fail() waits on c.out, held by a Write blocked on a peer that does not read")
	}
}

// Config.Identity may be up to 65535 bytes (RFC 4279 psk_identity<0..2^16-1>,
// and the client accepts it); a ClientKeyExchange carrying it has a
// 65537-byte body, which was above maxHandshakeLen: our own server refused it.
func TestMaxLengthIdentityAccepted(t *testing.T) {
	c, s := maxIdentityPair(t, bytes.Repeat([]byte{'A'}, 0xffff))
	errc := make(chan error, 1)
	go func() { errc <- s.HandshakeContext(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cerr := c.HandshakeContext(ctx)
	serr := <-errc
	require.NoError(t, serr, "server")
	require.NoError(t, cerr, "client")
}

func maxIdentityPair(t *testing.T, identity []byte) (*Conn, *Conn) {
	cc, sc := hostileTCP(t)
	key := amt.NewSecret("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ")
	c := Client(cc, &Config{Identity: identity, Key: key})
	s := Server(sc, &Config{GetKey: func(context.Context, []byte) (amt.Secret, error) { return key, nil }})
	return c, s
}

// The same limit on the client side: a server's psk_identity_hint of 65535
// bytes (allowed by RFC 4279 and by Config.IdentityHint, which our own server
// sends) makes a 65537-byte ServerKeyExchange that our client refused.
func TestMaxLengthHintAccepted(t *testing.T) {
	cc, sc := hostileTCP(t)
	key := amt.NewSecret("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ")
	c := Client(cc, &Config{Identity: []byte("0000037M"), Key: key})
	s := Server(sc, &Config{IdentityHint: bytes.Repeat([]byte{'h'}, 0xffff), GetKey: func(context.Context, []byte) (amt.Secret, error) { return key, nil }})
	errc := make(chan error, 1)
	go func() { errc <- s.HandshakeContext(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cerr := c.HandshakeContext(ctx)
	require.NoError(t, cerr, "client")
	require.NoError(t, <-errc, "server")
}
