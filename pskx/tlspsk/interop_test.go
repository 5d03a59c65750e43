//go:build interop

package tlspsk_test

// Interop with OpenSSL: our client against `openssl s_server -psk … -nocert`,
// our server against `openssl s_client -psk …`, for every suite and TLS version
// this OpenSSL negotiates, data both ways, a wrong key failing cleanly, and the
// master secret checked against OpenSSL's key log.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/internal/testenv"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/tlspsk"
)

var interopSuites = []struct {
	id      uint16
	openssl string
}{
	{tlspsk.TLS_PSK_WITH_AES_128_CBC_SHA, "PSK-AES128-CBC-SHA"},
	{tlspsk.TLS_PSK_WITH_AES_256_CBC_SHA, "PSK-AES256-CBC-SHA"},
	{tlspsk.TLS_PSK_WITH_AES_128_CBC_SHA256, "PSK-AES128-CBC-SHA256"},
	{tlspsk.TLS_PSK_WITH_AES_256_CBC_SHA384, "PSK-AES256-CBC-SHA384"},
}

var interopVersions = []struct {
	v    uint16
	flag string
}{
	{tlspsk.VersionTLS10, "-tls1"},
	{tlspsk.VersionTLS11, "-tls1_1"},
	{tlspsk.VersionTLS12, "-tls1_2"},
}

const (
	interopPID = "0000037M"
	interopPPS = "NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ"
)

func hexKey(s string) string { return hex.EncodeToString([]byte(s)) }

// sServer is a running `openssl s_server`. Its standard input is held open (it
// exits when stdin closes); what it prints is collected.
type sServer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *syncBuffer
	addr   string
	keylog string
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

var acceptLine = regexp.MustCompile(`ACCEPT (\S+:\d+)`)

func startSServer(t *testing.T, openssl, cipher, versFlag, keyHex string) *sServer {
	t.Helper()
	dir := t.TempDir()
	keylog := filepath.Join(dir, "keylog.txt")
	cmd := exec.Command(openssl, "s_server", "-nocert", "-psk", keyHex, "-psk_identity", interopPID,
		"-accept", "127.0.0.1:0", "-naccept", "1", "-cipher", cipher+"@SECLEVEL=0", versFlag, "-keylogfile", keylog)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	out := newSyncBuffer()
	cmd.Stderr = out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	// Read stdout until the ACCEPT line, then keep copying it.
	sc := bufio.NewReader(stdout)
	addrc := make(chan string, 1)
	go func() {
		sent := false
		for {
			line, err := sc.ReadString('\n')
			_, _ = out.Write([]byte(line))
			if m := acceptLine.FindStringSubmatch(line); m != nil && !sent {
				addrc <- m[1]
				sent = true
			}
			if err != nil {
				if !sent {
					close(addrc)
				}
				return
			}
		}
	}()
	select {
	case addr, ok := <-addrc:
		require.True(t, ok, "s_server did not start: %s", out.String())
		return &sServer{cmd: cmd, stdin: stdin, out: out, addr: addr, keylog: keylog}
	case <-time.After(10 * time.Second):
		t.Fatalf("s_server did not print ACCEPT: %s", out.String())
	}
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInteropClientAgainstOpenSSLServer: our client, OpenSSL's server.
func TestInteropClientAgainstOpenSSLServer(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	pid := pskx.MustParsePID(interopPID)
	pps, err := pskx.ParsePPS(interopPPS)
	require.NoError(t, err)
	for _, v := range interopVersions {
		for _, s := range interopSuites {
			t.Run(tlspsk.VersionName(v.v)+" "+s.openssl, func(t *testing.T) {
				srv := startSServer(t, openssl, s.openssl, v.flag, hexKey(interopPPS))
				var keylog bytes.Buffer
				cfg := tlspsk.Derivation{}.ClientConfig(pid, pps)
				cfg.KeyLogWriter = &keylog
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				c, err := tlspsk.Dial(ctx, "tcp", srv.addr, cfg)
				require.NoError(t, err, srv.out.String())
				defer c.Close()
				st := c.ConnectionState()
				assert.Equal(t, v.v, st.Version)
				assert.Equal(t, s.id, st.CipherSuite)

				// Client → server: s_server prints what it receives.
				msg := fmt.Sprintf("hello from amtkit over %s %s\n", tlspsk.VersionName(v.v), s.openssl)
				_, err = c.Write([]byte(msg))
				require.NoError(t, err)
				waitFor(t, "s_server to print the message", func() bool { return strings.Contains(srv.out.String(), strings.TrimSpace(msg)) })

				// Server → client: s_server sends its standard input.
				_, err = io.WriteString(srv.stdin, "reply from openssl\n")
				require.NoError(t, err)
				require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
				line, err := bufio.NewReader(c).ReadString('\n')
				require.NoError(t, err)
				assert.Equal(t, "reply from openssl\n", line)

				// The master secret we derived is the one OpenSSL logged.
				waitFor(t, "the key log", func() bool {
					b, _ := os.ReadFile(srv.keylog)
					return bytes.Contains(b, []byte("CLIENT_RANDOM"))
				})
				theirs, err := os.ReadFile(srv.keylog)
				require.NoError(t, err)
				assert.Contains(t, string(theirs), strings.TrimSpace(keylog.String()))
			})
		}
	}
}

func TestInteropClientWrongKey(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	for _, v := range interopVersions {
		t.Run(tlspsk.VersionName(v.v), func(t *testing.T) {
			srv := startSServer(t, openssl, "PSK-AES128-CBC-SHA", v.flag, hexKey(interopPPS))
			other, err := pskx.GeneratePPS(nil)
			require.NoError(t, err)
			cfg := tlspsk.Derivation{}.ClientConfig(pskx.MustParsePID(interopPID), other)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			_, err = tlspsk.Dial(ctx, "tcp", srv.addr, cfg)
			require.Error(t, err)
			var ae *tlspsk.AlertError
			require.ErrorAs(t, err, &ae)
			assert.True(t, ae.Remote)
			assert.Equal(t, tlspsk.AlertBadRecordMAC, ae.Alert)
		})
	}
}

// runSClient starts `openssl s_client` against addr with stdin held open.
func runSClient(t *testing.T, openssl, addr, cipher, versFlag, keyHex string) (*exec.Cmd, io.WriteCloser, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(openssl, "s_client", "-connect", addr, "-psk", keyHex, "-psk_identity", interopPID,
		"-cipher", cipher+"@SECLEVEL=0", versFlag, "-quiet")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out := newSyncBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd, stdin, out
}

// TestInteropServerAgainstOpenSSLClient: OpenSSL's client, our server.
func TestInteropServerAgainstOpenSSLClient(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	pid := pskx.MustParsePID(interopPID)
	pps, err := pskx.ParsePPS(interopPPS)
	require.NoError(t, err)
	var store pskx.MemoryStore
	require.NoError(t, store.Put(context.Background(), pskx.Pair{PID: pid, PPS: pps}))
	for _, v := range interopVersions {
		for _, s := range interopSuites {
			t.Run(tlspsk.VersionName(v.v)+" "+s.openssl, func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				defer ln.Close()
				var keylog bytes.Buffer
				cfg := &tlspsk.Config{GetKey: tlspsk.Derivation{}.KeyLookup(&store), KeyLogWriter: &keylog}
				_, stdin, out := runSClient(t, openssl, ln.Addr().String(), s.openssl, v.flag, hexKey(interopPPS))

				raw, err := ln.Accept()
				require.NoError(t, err)
				conn := tlspsk.Server(raw, cfg)
				defer conn.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				require.NoError(t, conn.HandshakeContext(ctx), out.String())
				st := conn.ConnectionState()
				assert.Equal(t, v.v, st.Version)
				assert.Equal(t, s.id, st.CipherSuite)
				assert.Equal(t, interopPID, string(st.Identity))

				// Client → server.
				_, err = io.WriteString(stdin, "ping from openssl\n")
				require.NoError(t, err)
				require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
				line, err := bufio.NewReader(conn).ReadString('\n')
				require.NoError(t, err)
				assert.Equal(t, "ping from openssl\n", line)
				// Server → client.
				_, err = conn.Write([]byte("pong from amtkit\n"))
				require.NoError(t, err)
				waitFor(t, "s_client to print the reply", func() bool { return strings.Contains(out.String(), "pong from amtkit") })
				assert.Regexp(t, `^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}\n$`, keylog.String())
			})
		}
	}
}

func TestInteropServerWrongKey(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	pid := pskx.MustParsePID(interopPID)
	pps, err := pskx.ParsePPS(interopPPS)
	require.NoError(t, err)
	var store pskx.MemoryStore
	require.NoError(t, store.Put(context.Background(), pskx.Pair{PID: pid, PPS: pps}))
	for _, v := range interopVersions {
		t.Run(tlspsk.VersionName(v.v), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			cmd, _, out := runSClient(t, openssl, ln.Addr().String(), "PSK-AES128-CBC-SHA", v.flag, hexKey("AAAFBBBICCCLDDDOEEERFFFUGGGXHHH0"))
			raw, err := ln.Accept()
			require.NoError(t, err)
			conn := tlspsk.Server(raw, &tlspsk.Config{GetKey: tlspsk.Derivation{}.KeyLookup(&store)})
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err = conn.HandshakeContext(ctx)
			require.Error(t, err)
			require.ErrorIs(t, err, tlspsk.ErrBadRecordMAC)
			var ae *tlspsk.AlertError
			require.ErrorAs(t, err, &ae)
			assert.False(t, ae.Remote)
			// s_client reports our alert and exits with an error.
			werr := cmd.Wait()
			assert.Error(t, werr)
			assert.Contains(t, out.String(), "bad record mac")
		})
	}
}

func TestInteropUnknownIdentity(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var empty pskx.MemoryStore
	cmd, _, out := runSClient(t, openssl, ln.Addr().String(), "PSK-AES128-CBC-SHA", "-tls1", hexKey(interopPPS))
	raw, err := ln.Accept()
	require.NoError(t, err)
	conn := tlspsk.Server(raw, &tlspsk.Config{GetKey: tlspsk.Derivation{}.KeyLookup(&empty)})
	defer conn.Close()
	err = conn.HandshakeContext(context.Background())
	require.ErrorIs(t, err, tlspsk.ErrUnknownIdentity)
	assert.Error(t, cmd.Wait())
	assert.Contains(t, out.String(), "unknown psk identity")
}
