package transcript_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// Record a call whose request carries a password and whose answer names the
// device, and keep neither.
func Example() {
	const uri = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
	srv := httptest.NewServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		inst := wsman.NewInstance(uri, wsman.Prop("HostName", "pc-42"), wsman.Prop("DomainName", "sales.contoso.com"))
		if r.Action == wsman.ActionPut {
			return wsmantest.PutResponse(r, inst)
		}
		return wsmantest.GetResponse(r, inst)
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL + "/wsman")
	if err != nil {
		panic(err)
	}
	defer c.CloseIdleConnections()

	rec := transcript.NewRecorder(transcript.Options{Identifying: true})
	rc := c.WithRecorder(rec)
	_, err = rc.Put(context.Background(), uri, nil, wsman.NewInstance(uri, wsman.Prop("Password", "Sekr1t-Pa$$w0rd")))
	if err != nil {
		panic(err)
	}
	_, err = rc.Get(context.Background(), uri, nil)
	if err != nil {
		panic(err)
	}
	t := rec.Transcript(transcript.Provenance{Source: transcript.SourceSimulator, RecordedBy: "example", Tool: "Example"})
	for _, x := range t.Exchanges {
		fmt.Println(x.Seq, x.Request.Action[strings.LastIndex(x.Request.Action, "/")+1:], x.Response.Status)
		for _, el := range []string{"Password", "HostName", "DomainName"} {
			if i := strings.Index(x.Request.Body, "<h:"+el+">"); i >= 0 {
				fmt.Println("  sent", x.Request.Body[i:i+strings.Index(x.Request.Body[i:], "</")])
			}
			if i := strings.Index(x.Response.Body, ":"+el+">"); i >= 0 {
				fmt.Println("  received", x.Response.Body[i+1:i+strings.Index(x.Response.Body[i:], "</")])
			}
		}
	}
	fmt.Println(t.Provenance.Redaction.Policy, t.Provenance.Redaction.Masked, t.Provenance.Redaction.Replaced)
	// Output:
	// 1 Put 200
	//   sent <h:Password>[REDACTED]
	//   received HostName>name1
	//   received DomainName>name2.name3.com
	// 2 Get 200
	//   received HostName>name1
	//   received DomainName>name2.name3.com
	// amt/1 1 4
}
