package wsman_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

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
