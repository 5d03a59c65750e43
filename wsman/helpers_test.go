package wsman_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/require"
)

const (
	testUser = "admin"
	testPass = "P@ssw0rd-Sekr1t"
)

// fake is an AMT-shaped WS-Management server for tests: it records decoded
// requests, serves enumerations of items, and (optionally) sits behind digest.
type fake struct {
	t      testing.TB
	srv    *httptest.Server
	auth   *wsmantest.DigestAuth
	enums  wsmantest.Enumerations
	conns  wsmantest.ConnCounter
	writer wsmantest.Writer
	items  []*etree.Element

	mu     sync.Mutex
	reqs   []*wsmantest.Request
	answer func(r *wsmantest.Request) wsmantest.Reply
}

type fakeOpt func(*fake)

func withDigest(a *wsmantest.DigestAuth) fakeOpt {
	return func(f *fake) {
		if a.Password == nil {
			a.Password = func(u string) (string, bool) { return testPass, u == testUser }
		}
		f.auth = a
	}
}

func withItems(items ...*etree.Element) fakeOpt { return func(f *fake) { f.items = items } }

func newFake(t testing.TB, answer func(r *wsmantest.Request) wsmantest.Reply, opts ...fakeOpt) *fake {
	f := &fake{t: t, answer: answer}
	for _, o := range opts {
		o(f)
	}
	var h http.Handler = f.writer.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		f.mu.Unlock()
		if rep, ok := f.enums.Serve(r, f.items); ok {
			return rep
		}
		if f.answer == nil {
			return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
		}
		return f.answer(r)
	})
	if f.auth != nil {
		h = f.auth.Wrap(h)
	}
	f.srv = httptest.NewUnstartedServer(h)
	f.srv.Config.ConnState = f.conns.ConnState
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) url() string { return f.srv.URL + "/wsman" }

func (f *fake) client(opts ...wsman.Option) *wsman.Client {
	f.t.Helper()
	if f.auth != nil {
		opts = append([]wsman.Option{wsman.WithDigestAuth(testUser, testPass)}, opts...)
	}
	c, err := wsman.New(f.url(), opts...)
	require.NoError(f.t, err)
	f.t.Cleanup(c.CloseIdleConnections)
	return c
}

func (f *fake) requests() []*wsmantest.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*wsmantest.Request(nil), f.reqs...)
}

func (f *fake) last() *wsmantest.Request {
	r := f.requests()
	require.NotEmpty(f.t, r)
	return r[len(r)-1]
}

// gsInstance is a GeneralSettings instance with the given host name.
func gsInstance(host string) *etree.Element {
	return wsman.NewInstance(gsURI,
		wsman.Prop("DigestRealm", "Digest:0123456789ABCDEF0123456789ABCDEF"),
		wsman.Prop("HostName", host),
		wsman.Prop("InstanceID", "Intel(r) AMT: General Settings"))
}

func certItems(n int) []*etree.Element {
	out := make([]*etree.Element, n)
	for i := range out {
		out[i] = wsman.NewInstance(pkcURI,
			wsman.Prop("InstanceID", "Intel(r) AMT Certificate: Handle: "+string(rune('0'+i))),
			wsman.Prop("TrustedRootCertficate", "true"))
	}
	return out
}
