package wsman

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A TLS 1.3 server that wants a client certificate refuses a client without
// one after the client's handshake is over, so its alert ("certificate
// required") is the first thing the client reads. When net/http's read loop
// reads it before the request is queued, it closes the connection and the
// request can fail with "use of closed network connection" (a race of
// net/http's selects; amtsim's AMT 21 halted at its commit refused the admin
// this way in one CI run in a few hundred). The transport error must still
// carry the device's alert.
func TestTransportErrorCarriesTheDevicesAlert(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	srvCfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAnyClientCert}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = tls.Server(c, srvCfg).Handshake()
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	require.NoError(t, tc.Handshake(), "TLS 1.3: the client's handshake ends before the server checks it")
	var at attempt
	at.gotConn(tc)
	// net/http's read loop reads the alert, then closes the connection; the
	// request's flush then fails.
	_, rerr := tc.Read(make([]byte, 1))
	require.ErrorContains(t, rerr, "certificate required")
	require.NoError(t, tc.NetConn().Close())
	_, werr := tc.Write([]byte("POST /wsman HTTP/1.1\r\n"))
	require.ErrorIs(t, werr, net.ErrClosed)

	// net/http said the request was written (it was in its buffer).
	at.traced.Store(true)
	at.connected.Store(true)
	at.wrote.Store(true)
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"flush on the closed connection", fmt.Errorf("wrapped: %w", werr), "certificate required"},
		{"another failure", errors.New("connection reset by peer"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{endpoint: "https://device/wsman"}
			err := c.transportError(ActionGet, &at, tt.err)
			var te *TransportError
			require.ErrorAs(t, err, &te)
			require.ErrorIs(t, err, tt.err, "the cause stays reachable")
			if tt.want == "" {
				assert.NotContains(t, err.Error(), "remote error")
				return
			}
			assert.Contains(t, err.Error(), tt.want)
			var op *net.OpError
			require.ErrorAs(t, err, &op)
			assert.Equal(t, "remote error", op.Op, "the device's alert comes first")
		})
	}
	var none attempt
	assert.NoError(t, none.peerAlert(werr), "no connection, no alert")
	none.gotConn(raw)
	assert.NoError(t, none.peerAlert(werr), "not TLS, no alert")
}
