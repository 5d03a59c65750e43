package wsman_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// The server closes a kept-alive connection as the second request arrives,
// as a device's idle timeout racing the reuse would. A Get changes nothing
// and is sent once more on a new connection (MeshCentral re-issues such a
// request); a Put may have been acted on and is not.
func TestRepeatOnBrokenKeptAliveConnection(t *testing.T) {
	const uri = "http://x/X"
	for _, serial := range []bool{false, true} {
		for _, put := range []bool{false, true} {
			t.Run(fmt.Sprintf("serial=%v/put=%v", serial, put), func(t *testing.T) {
				var n atomic.Int32
				h := wsmantest.Handler(func(req *wsmantest.Request) wsmantest.Reply {
					el := etree.NewElement("g:X")
					el.CreateAttr("xmlns:g", uri)
					action := wsman.ActionGetResponse
					if put {
						action = wsman.ActionPutResponse
					}
					return wsmantest.Reply{Action: action, Body: []*etree.Element{el}}
				})
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if n.Add(1) == 2 {
						_, _ = io.Copy(io.Discard, r.Body)
						c, _, err := w.(http.Hijacker).Hijack()
						if err == nil {
							_ = c.Close()
						}
						return
					}
					h.ServeHTTP(w, r)
				}))
				defer srv.Close()
				var opts []wsman.Option
				if serial {
					opts = append(opts, wsman.WithSerialTransport())
				}
				c, err := wsman.New(srv.URL+"/wsman", opts...)
				require.NoError(t, err)
				ctx := context.Background()
				call := func() error {
					if put {
						el := etree.NewElement("g:X")
						el.CreateAttr("xmlns:g", uri)
						_, err := c.Put(ctx, uri, nil, el)
						return err
					}
					_, err := c.Get(ctx, uri, nil)
					return err
				}
				require.NoError(t, call())
				err = call()
				if put {
					require.ErrorIs(t, err, wsman.ErrResponseLost)
					assert.Equal(t, int32(2), n.Load(), "a Put is never sent twice")
					return
				}
				require.NoError(t, err)
				assert.Equal(t, int32(3), n.Load(), "the Get went out once more")
			})
		}
	}
}
