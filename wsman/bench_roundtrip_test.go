package wsman_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

const gsURI = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"

// fixedMsgID is the MessageID a client with an all-zero Rand sends.
const fixedMsgID = "uuid:00000000-0000-4000-8000-000000000000"

// cannedHandler answers every POST with the GeneralSettings response, its
// RelatesTo set to the request's MessageID (found with a byte search, so that
// the server costs the same in both benchmarks).
func cannedHandler(tb testing.TB) http.Handler {
	raw, err := os.ReadFile("testdata/responses/get-generalsettings-indented.xml")
	if err != nil {
		tb.Fatal(err)
	}
	i := bytes.Index(raw, []byte(fixedMsgID))
	pre, post := raw[:i], raw[i+len(fixedMsgID):]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := []byte(fixedMsgID)
		if j := bytes.Index(body, []byte("MessageID")); j >= 0 {
			if k := bytes.Index(body[j:], []byte(">uuid:")); k >= 0 {
				s := body[j+k+1:]
				if e := bytes.IndexByte(s, '<'); e > 0 {
					id = s[:e]
				}
			}
		}
		w.Header().Set("Content-Type", "application/soap+xml; charset=UTF-8")
		w.Write(pre)
		w.Write(id)
		w.Write(post)
	})
}

// BenchmarkGetRoundTripDigest: a Get of AMT_GeneralSettings on loopback through
// digest authentication in steady state (the challenge is cached). Metrics:
// exchanges/op (must be 1) and conns (connections opened over the whole run).
// Its floor is BenchmarkGetRoundTripFloor.
func BenchmarkGetRoundTripDigest(b *testing.B) {
	auth := &wsmantest.DigestAuth{Password: func(u string) (string, bool) { return "P@ssw0rd", u == "admin" }}
	var conns wsmantest.ConnCounter
	srv := httptest.NewUnstartedServer(auth.Wrap(cannedHandler(b)))
	srv.Config.ConnState = conns.ConnState
	srv.Start()
	defer srv.Close()
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithDigestAuth("admin", "P@ssw0rd"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Get(ctx, gsURI, nil); err != nil { // take the challenge
		b.Fatal(err)
	}
	before := auth.Stats().Exchanges
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Get(ctx, gsURI, nil)
		if err != nil {
			b.Fatal(err)
		}
		if resp.Content() == nil {
			b.Fatal("empty")
		}
	}
	b.ReportMetric(float64(auth.Stats().Exchanges-before)/float64(b.N), "exchanges/op")
	b.ReportMetric(float64(conns.Opened()), "conns")
}

// BenchmarkGetRoundTripFloor: the same request bytes POSTed with a bare
// keep-alive net/http client to the same handler, response read in full.
func BenchmarkGetRoundTripFloor(b *testing.B) {
	var conns wsmantest.ConnCounter
	srv := httptest.NewUnstartedServer(cannedHandler(b))
	srv.Config.ConnState = conns.ConnState
	srv.Start()
	defer srv.Close()
	// the request bytes a wsman Get sends
	var reqBody []byte
	cap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqBody, _ = io.ReadAll(r.Body)
		cannedHandler(b).ServeHTTP(w, r)
	}))
	c, _ := wsman.New(cap.URL+"/wsman", wsman.WithRand(zeroReader{}))
	if _, err := c.Get(context.Background(), gsURI, nil); err != nil {
		b.Fatal(err)
	}
	cap.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	url := srv.URL + "/wsman"
	b.ReportAllocs()
	for b.Loop() {
		resp, err := hc.Post(url, "application/soap+xml;charset=UTF-8", bytes.NewReader(reqBody))
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(body) == 0 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(1, "exchanges/op")
	b.ReportMetric(float64(conns.Opened()), "conns")
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
