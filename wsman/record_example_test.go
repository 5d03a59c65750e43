package wsman_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// A recording client sees the digest challenge and the answered request,
// without the digest's secret parts.
func ExampleClient_WithRecorder() {
	auth := &wsmantest.DigestAuth{Realm: "Digest:0123456789ABCDEF0123456789ABCDEF",
		Password: func(u string) (string, bool) { return "P@ssw0rd", u == "admin" }}
	srv := httptest.NewServer(auth.Wrap(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.GetResponse(r, wsman.NewInstance("http://example.com/wbem/X"))
	})))
	defer srv.Close()
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithDigestAuth("admin", "P@ssw0rd"))
	if err != nil {
		panic(err)
	}
	defer c.CloseIdleConnections()
	rc := c.WithRecorder(wsman.RecorderFunc(func(x *wsman.Exchange) {
		fmt.Println(x.StatusCode, x.RequestHeader.Get("Authorization"), x.ResponseHeader.Get("WWW-Authenticate"))
	}))
	if _, err := rc.Get(context.Background(), "http://example.com/wbem/X", nil); err != nil {
		panic(err)
	}
	// Output:
	// 401  Digest realm="Digest:0123456789ABCDEF0123456789ABCDEF", stale="false", qop="auth"
	// 200 Digest username="admin", realm="Digest:0123456789ABCDEF0123456789ABCDEF", uri="/wsman", qop=auth
}
