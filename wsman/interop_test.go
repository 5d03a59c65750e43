//go:build interop

package wsman_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amtkit/amtkit/internal/testenv"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const interopRealm = "Digest:F3EB554784E729164447A89F60B641C5"

// cgiScript answers like a device: a GetResponse whose RelatesTo is the
// request's MessageID.
const cgiScript = `#!/bin/sh
req=$(cat)
id=$(printf '%s' "$req" | sed -n 's/.*<wsa:MessageID[^>]*>\([^<]*\)<.*/\1/p')
printf 'Content-Type: application/soap+xml; charset=UTF-8\r\n\r\n'
printf '<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"><a:Header><b:RelatesTo>%s</b:RelatesTo><b:Action a:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</b:Action></a:Header><a:Body><g:AMT_GeneralSettings><g:DigestRealm>` + interopRealm + `</g:DigestRealm><g:HostName>lighttpd</g:HostName></g:AMT_GeneralSettings></a:Body></a:Envelope>' "$id"
`

type lighttpd struct {
	url    string
	access string
	cmd    *exec.Cmd
}

// startLighttpd runs lighttpd on 127.0.0.1 with the plain password backend (the
// htdigest backend cannot hold a realm with a colon) and two digest-protected
// CGI paths: /wsman (MD5) and /wsman256 (SHA-256).
func startLighttpd(t *testing.T) *lighttpd {
	bin := testenv.LookPath(t, "lighttpd")
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	require.NoError(t, os.Mkdir(www, 0o755))
	for _, n := range []string{"wsman", "wsman256"} {
		require.NoError(t, os.WriteFile(filepath.Join(www, n), []byte(cgiScript), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users"), []byte(testUser+":"+testPass+"\n"), 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	access := filepath.Join(dir, "access.log")
	conf := fmt.Sprintf(`server.modules = ("mod_auth", "mod_authn_file", "mod_cgi", "mod_accesslog")
server.document-root = %q
server.bind = "127.0.0.1"
server.port = %d
server.errorlog = %q
accesslog.filename = %q
accesslog.format = "%%r %%s"
cgi.assign = ( "/wsman" => "", "/wsman256" => "" )
auth.backend = "plain"
auth.backend.plain.userfile = %q
auth.require = ( "/wsman256" => ( "method" => "digest", "realm" => %q, "require" => "valid-user", "algorithm" => "SHA-256" ),
                 "/wsman" => ( "method" => "digest", "realm" => %q, "require" => "valid-user", "algorithm" => "MD5" ) )
`, www, port, filepath.Join(dir, "error.log"), access, filepath.Join(dir, "users"), interopRealm, interopRealm)
	cf := filepath.Join(dir, "lighttpd.conf")
	require.NoError(t, os.WriteFile(cf, []byte(conf), 0o644))
	cmd := exec.Command(bin, "-D", "-f", cf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			errlog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("lighttpd did not start: %v\n%s\n%s", err, stderr.String(), errlog)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &lighttpd{url: "http://" + addr, access: access, cmd: cmd}
}

// stop shuts lighttpd down (it flushes its buffered access log on exit) and
// returns the status codes it logged for path, in order.
func (l *lighttpd) stop(t *testing.T, path string) []string {
	require.NoError(t, l.cmd.Process.Signal(syscall.SIGTERM))
	_ = l.cmd.Wait()
	b, err := os.ReadFile(l.access)
	require.NoError(t, err)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[1] == path {
			out = append(out, f[3])
		}
	}
	return out
}

func TestInteropLighttpdDigest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct{ path, alg string }{{"/wsman", "MD5"}, {"/wsman256", "SHA-256"}} {
		t.Run(tc.alg+"/right password", func(t *testing.T) {
			l := startLighttpd(t)
			c, err := wsman.New(l.url+tc.path, wsman.WithDigestAuth(testUser, testPass))
			require.NoError(t, err)
			const calls = 5
			for i := 0; i < calls; i++ {
				resp, err := c.Get(ctx, gsURI, nil)
				require.NoError(t, err)
				m, err := resp.Fields()
				require.NoError(t, err)
				assert.Equal(t, []string{"lighttpd"}, m["HostName"])
			}
			c.CloseIdleConnections()
			// lighttpd's own log: one challenge, then one exchange per call
			assert.Equal(t, []string{"401", "200", "200", "200", "200", "200"}, l.stop(t, tc.path))
		})
		t.Run(tc.alg+"/wrong password", func(t *testing.T) {
			l := startLighttpd(t)
			bad, err := wsman.New(l.url+tc.path, wsman.WithDigestAuth(testUser, "wrong-password"))
			require.NoError(t, err)
			for i := 0; i < 2; i++ {
				_, err = bad.Get(ctx, gsURI, nil)
				require.ErrorIs(t, err, wsman.ErrUnauthorized)
				var he *wsman.HTTPError
				require.ErrorAs(t, err, &he)
				realm, ok := he.DigestRealm()
				require.True(t, ok)
				assert.Equal(t, interopRealm, realm)
				assert.NotContains(t, err.Error(), "wrong-password")
			}
			bad.CloseIdleConnections()
			assert.Equal(t, []string{"401", "401", "401", "401"}, l.stop(t, tc.path),
				"per call: the challenge and one rejected attempt, never a retry loop")
		})
	}
}
