package tlspsk_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/tlspsk"
)

// Handshake: a full TLS-PSK handshake (both sides, in process over net.Pipe),
// against a floor of a crypto/tls TLS 1.2 ECDHE-ECDSA-P256 handshake over the
// same pipe (what a modern certificate handshake costs here).

func BenchmarkHandshakePSK(b *testing.B) {
	pps, _ := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	pid := pskx.MustParsePID("0000-037M")
	key := pps.Secret()
	scfg := &tlspsk.Config{GetKey: func(context.Context, []byte) (amt.Secret, error) { return key, nil }}
	for _, v := range []uint16{tlspsk.VersionTLS10, tlspsk.VersionTLS12} {
		b.Run(tlspsk.VersionName(v), func(b *testing.B) {
			ccfg := tlspsk.Derivation{}.ClientConfig(pid, pps)
			ccfg.MaxVersion = v
			b.ReportAllocs()
			for b.Loop() {
				cc, sc := net.Pipe()
				c, s := tlspsk.Client(cc, ccfg), tlspsk.Server(sc, scfg)
				errc := make(chan error, 1)
				go func() { errc <- s.HandshakeContext(context.Background()) }()
				if err := c.HandshakeContext(context.Background()); err != nil {
					b.Fatal(err)
				}
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
				cc.Close()
				sc.Close()
			}
		})
	}
}

func BenchmarkHandshakeFloorCryptoTLS(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"}, DNSNames: []string{"bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	scfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MaxVersion: tls.VersionTLS12}
	ccfg := &tls.Config{RootCAs: pool, ServerName: "bench", MaxVersion: tls.VersionTLS12, ClientSessionCache: nil}
	b.ReportAllocs()
	for b.Loop() {
		cc, sc := net.Pipe()
		c, s := tls.Client(cc, ccfg), tls.Server(sc, scfg)
		errc := make(chan error, 1)
		go func() { errc <- s.Handshake() }()
		if err := c.Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		cc.Close()
		sc.Close()
	}
}

// Record layer: 1 MiB one way over loopback TCP in 16 KiB writes (TLS 1.2,
// AES-128-CBC-SHA), against a floor of the same bytes over the bare TCP pair.

func BenchmarkTransferPSK(b *testing.B) {
	pps, _ := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	pid := pskx.MustParsePID("0000-037M")
	key := pps.Secret()
	cc, sc := tcpPair(b)
	c := tlspsk.Client(cc, tlspsk.Derivation{}.ClientConfig(pid, pps))
	s := tlspsk.Server(sc, &tlspsk.Config{GetKey: func(context.Context, []byte) (amt.Secret, error) { return key, nil }})
	errc := make(chan error, 1)
	go func() { errc <- s.HandshakeContext(context.Background()) }()
	if err := c.HandshakeContext(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	benchTransfer(b, c, s)
}

func BenchmarkTransferFloorTCP(b *testing.B) {
	cc, sc := tcpPair(b)
	benchTransfer(b, cc, sc)
}

func benchTransfer(b *testing.B, w io.Writer, r io.Reader) {
	const total = 1 << 20
	chunk := make([]byte, 16<<10)
	b.SetBytes(total)
	b.ReportAllocs()
	buf := make([]byte, 32<<10)
	for b.Loop() {
		done := make(chan error, 1)
		go func() {
			_, err := io.ReadFull(r, make([]byte, total))
			done <- err
		}()
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	_ = buf
}
