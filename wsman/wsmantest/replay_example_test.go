package wsmantest_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// Record what a device answers, then answer from the recording.
func ExampleNewReplay() {
	const uri = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
	device := httptest.NewServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.GetResponse(r, wsman.NewInstance(uri, wsman.Prop("HostName", "pc-42")))
	}))
	c, _ := wsman.New(device.URL + "/wsman")
	rec := transcript.NewRecorder(transcript.Options{})
	_, _ = c.WithRecorder(rec).Get(context.Background(), uri, nil)
	c.CloseIdleConnections()
	device.Close()

	r, err := wsmantest.NewReplay(rec.Transcript(transcript.Provenance{Source: transcript.SourceSimulator, RecordedBy: "example", Tool: "ExampleNewReplay"}),
		wsmantest.ReplayOptions{Strict: true})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	rc, _ := wsman.New(srv.URL + "/wsman")
	defer rc.CloseIdleConnections()
	resp, err := rc.Get(context.Background(), uri, nil)
	if err != nil {
		panic(err)
	}
	f, _ := resp.Fields()
	fmt.Println(f["HostName"])
	_, err = rc.Get(context.Background(), uri, nil)
	fmt.Println(err != nil, r.Misses())
	// Output:
	// [pc-42]
	// true [http://schemas.xmlsoap.org/ws/2004/09/transfer/Get http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings: asked 2 times, recorded 1]
}
