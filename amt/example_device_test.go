package amt_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// fakeDevice starts a WS-Management server answering with serve (as the
// examples have no AMT hardware) and returns a Device talking to it with
// digest authentication.
func fakeDevice(serve func(r *wsmantest.Request) wsmantest.Reply) (*amt.Device, func()) {
	auth := &wsmantest.DigestAuth{Password: func(user string) (string, bool) { return "P@ssw0rd", user == "admin" }}
	srv := httptest.NewServer(auth.Wrap(wsmantest.Handler(serve)))
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithDigestAuth("admin", "P@ssw0rd"))
	if err != nil {
		panic(err)
	}
	return amt.NewDevice(c), srv.Close
}

func ExampleDevice_Version() {
	var enums wsmantest.Enumerations
	identity := func(id, v string) *etree.Element {
		return wsman.NewInstance(amt.URISoftwareIdentity,
			wsman.Prop("InstanceID", id), wsman.Prop("IsEntity", "true"), wsman.Prop("VersionString", v))
	}
	dev, stop := fakeDevice(func(r *wsmantest.Request) wsmantest.Reply {
		rep, _ := enums.Serve(r, []*etree.Element{identity("Flash", "16.1.25"), identity("AMT", "16.1.25"), identity("Sku", "16392")})
		return rep
	})
	defer stop()

	v, err := dev.Version(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println("AMT", v)
	fmt.Println("TLS 1.2 only:", v.AtLeast(amt.MustParseVersion("12")))
	// Output:
	// AMT 16.1.25
	// TLS 1.2 only: true
}

func ExampleDevice_SetHostName() {
	stored := wsman.NewInstance(amt.URIGeneralSettings,
		wsman.Prop("AMTNetworkEnabled", "1"),
		wsman.Prop("DigestRealm", "Digest:F3EB554784E729164447A89F60B641C5"),
		wsman.Prop("HostName", ""),
		wsman.Prop("InstanceID", "Intel(r) AMT: General Settings"))
	dev, stop := fakeDevice(func(r *wsmantest.Request) wsmantest.Reply {
		if r.Action == wsman.ActionPut {
			stored = wsman.Detach(r.Input) // the whole instance comes back, changed only where asked
			return wsmantest.PutResponse(r, stored)
		}
		return wsmantest.GetResponse(r, stored)
	})
	defer stop()

	gs, err := dev.SetHostName(context.Background(), "amt-host1", "corp.example.com")
	if err != nil {
		panic(err)
	}
	fmt.Println(gs.HostName + "." + gs.DomainName)
	fmt.Println(gs.DigestRealm)
	// Output:
	// amt-host1.corp.example.com
	// Digest:F3EB554784E729164447A89F60B641C5
}

func ExampleDevice_CommitChanges() {
	dev, stop := fakeDevice(func(r *wsmantest.Request) wsmantest.Reply {
		// The device refuses: the MEBx password was never set.
		return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 2057))
	})
	defer stop()

	err := dev.CommitChanges(context.Background())
	switch {
	case errors.Is(err, amt.StatusDataMissing):
		fmt.Println("set the MEBx password first")
	case errors.Is(err, wsman.ErrResponseLost):
		fmt.Println("connection dropped after commit (AMT 19+): read the state back")
	}
	fmt.Println(err)
	// Output:
	// set the MEBx password first
	// amt: AMT_SetupAndConfigurationService.CommitChanges: CommitChanges returned 2057 (PT_STATUS_DATA_MISSING)
}

func ExampleDevice_AdminSetup() {
	dev, stop := fakeDevice(func(r *wsmantest.Request) wsmantest.Reply {
		// 5 is AdminSetup's own "authentication failed", not PT_STATUS 5.
		return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 5))
	})
	defer stop()

	sig := amt.SetupSignature{McNonce: make([]byte, amt.ConfigurationNonceSize), Signature: []byte("signature")}
	err := dev.AdminSetup(context.Background(), amt.NewSecret("N3w-Adm1n!"), "Digest:F3EB554784E729164447A89F60B641C5", sig)
	fmt.Println(errors.Is(err, amt.ErrHostSetupAuthFailed))
	fmt.Println(errors.Is(err, amt.Status(5)))
	var rv *amt.ReturnValueError
	if errors.As(err, &rv) {
		fmt.Println(rv.Family(), rv.Value)
	}
	// Output:
	// true
	// false
	// IPS_HostBasedSetupService 5
}

func ExampleDevice_SyncClock() {
	var set []string
	dev, stop := fakeDevice(func(r *wsmantest.Request) wsmantest.Reply {
		if m, _ := r.Method(); m == "GetLowAccuracyTimeSynch" {
			return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0, wsman.Prop("Ta0", "1704586865")))
		}
		f := r.Fields()
		set = []string{f["Ta0"][0], f["Tm1"][0], f["Tm2"][0]}
		return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0))
	})
	defer stop()

	now := func() time.Time { return time.Date(2024, 1, 7, 0, 25, 0, 0, time.UTC) }
	before, err := dev.SyncClock(context.Background(), now)
	if err != nil {
		panic(err)
	}
	fmt.Println("device clock was", before.Format(time.RFC3339), "drift", now().Sub(before))
	fmt.Println("Ta0, Tm1, Tm2:", set)
	// Output:
	// device clock was 2024-01-07T00:21:05Z drift 3m55s
	// Ta0, Tm1, Tm2: [1704586865 1704587100 1704587100]
}
