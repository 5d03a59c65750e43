package wsmantest_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

func ExampleHandler() {
	const svc = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"
	h := wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		if m, ok := r.Method(); ok && m == "AdminSetup" {
			fmt.Println("AdminSetup with", r.Fields()["NetworkAdminPassword"][0])
			return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0))
		}
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	c, _ := wsman.New(srv.URL)
	resp, err := c.Invoke(context.Background(), svc, "AdminSetup", nil,
		wsman.NewInput(svc, "AdminSetup", wsman.Prop("NetworkAdminPassword", "29d7405d4ac607a27aeec06a158d9097")))
	if err != nil {
		panic(err)
	}
	rv, _ := resp.ReturnValue()
	fmt.Println("ReturnValue", rv)
	// Output:
	// AdminSetup with 29d7405d4ac607a27aeec06a158d9097
	// ReturnValue 0
}

func ExampleDigestAuth() {
	auth := &wsmantest.DigestAuth{
		Realm:    "Digest:F3EB554784E729164447A89F60B641C5",
		QOP:      "auth-int, auth", // as AMT 16 offers
		Password: func(user string) (string, bool) { return "P@ssw0rd", user == "admin" },
	}
	srv := httptest.NewServer(auth.Wrap(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.GetResponse(r, wsman.NewInstance(r.ResourceURI, wsman.Prop("ElementName", "x")))
	})))
	defer srv.Close()

	c, _ := wsman.New(srv.URL, wsman.WithDigestAuth("admin", "P@ssw0rd"))
	for i := 0; i < 3; i++ {
		c.Get(context.Background(), "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings", nil)
	}
	st := auth.Stats()
	fmt.Printf("calls 3, exchanges %d, challenges %d, authorized %d\n", st.Exchanges, st.Challenges, st.Authorized)
	// Output:
	// calls 3, exchanges 4, challenges 1, authorized 3
}
