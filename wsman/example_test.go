package wsman_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// exampleDevice starts an AMT-shaped fake behind digest authentication.
func exampleDevice() *httptest.Server {
	const gs = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
	const pkc = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate"
	const pkm = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService"
	var certs []*etree.Element
	for _, h := range []string{"0", "1", "2"} {
		certs = append(certs, wsman.NewInstance(pkc,
			wsman.Prop("InstanceID", "Intel(r) AMT Certificate: Handle: "+h),
			wsman.Prop("TrustedRootCertficate", "true")))
	}
	var enums wsmantest.Enumerations
	handler := wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		if rep, ok := enums.Serve(r, certs); ok {
			return rep
		}
		switch {
		case r.Action == wsman.ActionGet && r.ResourceURI == gs:
			return wsmantest.GetResponse(r, wsman.NewInstance(gs,
				wsman.Prop("DigestRealm", "Digest:0123456789ABCDEF0123456789ABCDEF"),
				wsman.Prop("HostName", "bench-07")))
		case r.Action == pkm+"/AddTrustedRootCertificate":
			return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0,
				wsman.PropEPR("CreatedCertificate", wsman.EPR{ResourceURI: pkc,
					Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 3")}})))
		case r.Action == wsman.ActionPut:
			return wsmantest.FaultReply(wsmantest.InternalError(16)) // PT_STATUS_NOT_PERMITTED
		}
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	})
	auth := &wsmantest.DigestAuth{Password: func(u string) (string, bool) { return "P@ssw0rd", u == "admin" }}
	return httptest.NewServer(auth.Wrap(handler))
}

func ExampleClient_Get() {
	dev := exampleDevice()
	defer dev.Close()

	c, err := wsman.New(dev.URL+"/wsman", wsman.WithDigestAuth("admin", "P@ssw0rd"))
	if err != nil {
		panic(err)
	}
	resp, err := c.Get(context.Background(), "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings", nil)
	if err != nil {
		panic(err)
	}
	var gs struct {
		DigestRealm string
		HostName    string
	}
	if err := resp.Decode(&gs); err != nil {
		panic(err)
	}
	fmt.Println(gs.DigestRealm)
	fmt.Println(gs.HostName)
	// Output:
	// Digest:0123456789ABCDEF0123456789ABCDEF
	// bench-07
}

func ExampleClient_Enumerate() {
	dev := exampleDevice()
	defer dev.Close()
	c, _ := wsman.New(dev.URL+"/wsman", wsman.WithDigestAuth("admin", "P@ssw0rd"))

	const pkc = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate"
	for item, err := range c.Enumerate(context.Background(), pkc, wsman.MaxElements(2)) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		id, _ := wsman.ChildText(item.Object, pkc, "InstanceID")
		fmt.Println(id)
	}
	// Output:
	// Intel(r) AMT Certificate: Handle: 0
	// Intel(r) AMT Certificate: Handle: 1
	// Intel(r) AMT Certificate: Handle: 2
}

func ExampleClient_Invoke() {
	dev := exampleDevice()
	defer dev.Close()
	c, _ := wsman.New(dev.URL+"/wsman", wsman.WithDigestAuth("admin", "P@ssw0rd"))

	const pkm = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService"
	in := wsman.NewInput(pkm, "AddTrustedRootCertificate", wsman.Prop("CertificateBlob", "MIIB..."))
	resp, err := c.Invoke(context.Background(), pkm, "AddTrustedRootCertificate", nil, in)
	if err != nil {
		panic(err)
	}
	rv, _ := resp.ReturnValue()
	out, _ := resp.Instance()
	created, _ := wsman.ParseEPR(wsman.Child(out, pkm, "CreatedCertificate"))
	id, _ := created.Selectors.Get("InstanceID")
	fmt.Println("ReturnValue:", rv)
	fmt.Println("created:", id)
	// Output:
	// ReturnValue: 0
	// created: Intel(r) AMT Certificate: Handle: 3
}

func ExampleFault() {
	dev := exampleDevice()
	defer dev.Close()
	c, _ := wsman.New(dev.URL+"/wsman", wsman.WithDigestAuth("admin", "P@ssw0rd"))

	const gs = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
	_, err := c.Put(context.Background(), gs, nil, wsman.NewInstance(gs, wsman.Prop("HostName", "x")))
	var f *wsman.Fault
	if errors.As(err, &f) {
		fmt.Println(f.HTTPStatus, f.Subcode.Local, f.Detail, errors.Is(err, wsman.ErrInternalError))
	}
	_, err = c.Get(context.Background(), "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_IEEE8021xSettings", nil)
	fmt.Println("class unsupported:", errors.Is(err, wsman.ErrDestinationUnreachable))

	wrong, _ := wsman.New(dev.URL+"/wsman", wsman.WithDigestAuth("admin", "not-the-password"))
	_, err = wrong.Get(context.Background(), gs, nil)
	fmt.Println("unauthorized:", errors.Is(err, wsman.ErrUnauthorized))
	// Output:
	// 500 InternalError AMT-STATUS 16 true
	// class unsupported: true
	// unauthorized: true
}

const exampleGS = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"

// exampleTLSDevice serves AMT_GeneralSettings over TLS with cert.
func exampleTLSDevice(cert tls.Certificate) *httptest.Server {
	srv := httptest.NewUnstartedServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.GetResponse(r, wsman.NewInstance(exampleGS, wsman.Prop("HostName", "device")))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	return srv
}

// The client dials with the caller's function and still layers its own TLS and
// policy on https, with its own connection reuse.
func ExampleWithDialer() {
	root, dev := exampleCerts()
	srv := exampleTLSDevice(dev)
	defer srv.Close()

	var dials atomic.Int32
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	c, err := wsman.New(srv.URL+"/wsman",
		wsman.WithDialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1) // e.g. bind a source address, go through a jump host
			return dialer.DialContext(ctx, network, addr)
		}),
		wsman.WithTLS(wsman.VerifyChain(root, "device.example.com")))
	if err != nil {
		panic(err)
	}
	defer c.CloseIdleConnections()
	for range 3 {
		if _, err := c.Get(context.Background(), exampleGS, nil); err != nil {
			panic(err)
		}
	}
	fmt.Println("calls: 3, dials:", dials.Load())

	// The same dialer towards a server whose certificate the policy refuses.
	c2, _ := wsman.New(srv.URL+"/wsman",
		wsman.WithDialer(dialer.DialContext),
		wsman.WithTLS(wsman.VerifyChain(root, "other.example.com")))
	_, err = c2.Get(context.Background(), exampleGS, nil)
	var pe *wsman.TLSPolicyError
	fmt.Println("refused by policy:", errors.As(err, &pe), "connect phase:", errors.Is(err, wsman.ErrConnect))
	// Output:
	// calls: 3, dials: 1
	// refused by policy: true connect phase: true
}

// The caller brings connections it has secured itself (here a TLS session it
// verified; in provisioning a TLS-PSK session or an APF channel). No TLS
// policy is needed, and TLS options next to it are refused.
func ExampleWithSecureDialer() {
	root, dev := exampleCerts()
	srv := exampleTLSDevice(dev)
	defer srv.Close()

	secure := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn := tls.Client(raw, &tls.Config{RootCAs: root, ServerName: "device.example.com"})
		if err := conn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return conn, nil
	}
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithSecureDialer("caller-tls", secure))
	if err != nil {
		panic(err)
	}
	defer c.CloseIdleConnections()
	resp, err := c.Get(context.Background(), exampleGS, nil)
	if err != nil {
		panic(err)
	}
	host, _ := wsman.ChildText(resp.Content(), exampleGS, "HostName")
	fmt.Println("host name:", host)

	_, err = wsman.New(srv.URL+"/wsman", wsman.WithSecureDialer("caller-tls", secure),
		wsman.WithTLS(wsman.InsecureSkipVerify()))
	fmt.Println("TLS option refused:", errors.Is(err, wsman.ErrTLSWithSecureDialer))
	// Output:
	// host name: device
	// TLS option refused: true
}

// exampleCerts returns a root pool and a device certificate for
// device.example.com (an ECDSA chain made on the spot).
func exampleCerts() (*x509.CertPool, tls.Certificate) {
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, _ := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	rootCert, _ := x509.ParseCertificate(rootDER)
	devKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	devTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "device"},
		DNSNames: []string{"device.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	devDER, _ := x509.CreateCertificate(rand.Reader, devTmpl, rootCert, devKey.Public(), rootKey)
	pool := x509.NewCertPool()
	pool.AddCert(rootCert)
	return pool, tls.Certificate{Certificate: [][]byte{devDER}, PrivateKey: devKey}
}

// A revocation check is a plain function of standard-library types (package
// certs builds one from CRLs: certs.CRLRevocation). It is called for each link
// of the verified chain, and any error it returns refuses the server.
func ExampleCheckRevocation() {
	root, dev := exampleCerts()
	srv := exampleTLSDevice(dev)
	defer srv.Close()

	var revoked sync.Map // serial → true
	check := func(ctx context.Context, cert, issuer *x509.Certificate) error {
		if _, ok := revoked.Load(cert.SerialNumber.String()); ok {
			return fmt.Errorf("serial %s revoked by %s", cert.SerialNumber, issuer.Subject.CommonName)
		}
		return nil // in good standing; an error when unknown fails closed
	}
	policy := wsman.WithTLS(wsman.VerifyChain(root, "device.example.com", wsman.CheckRevocation(check)))

	c, _ := wsman.New(srv.URL+"/wsman", policy)
	_, err := c.Get(context.Background(), exampleGS, nil)
	fmt.Println("before revocation:", err)
	c.CloseIdleConnections() // the policy runs on each new connection

	revoked.Store("2", true)
	_, err = c.Get(context.Background(), exampleGS, nil)
	fmt.Println("after revocation:", errors.Is(err, wsman.ErrRevocationCheck), errors.Is(err, wsman.ErrConnect))
	// Output:
	// before revocation: <nil>
	// after revocation: true true
}

// Handshake shows what an endpoint presents, under the client's policy, with
// nothing sent to it: here, whether a device serves the certificate a record
// names before any credential goes out.
func ExampleClient_Handshake() {
	root, dev := exampleCerts()
	srv := exampleTLSDevice(dev)
	defer srv.Close()
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithTLS(wsman.VerifyChain(root, "device.example.com")))
	if err != nil {
		panic(err)
	}
	cs, err := c.Handshake(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println("device certificate:", cs.PeerCertificates[0].DNSNames[0])
	// Output:
	// device certificate: device.example.com
}
