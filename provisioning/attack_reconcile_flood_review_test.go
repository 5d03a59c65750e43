package provisioning_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// A device provisioned without a TLS profile (AMT 15: plain HTTP) answers,
// through an attacker on its path — or a compromised device itself — that it
// holds thousands of MPS entries the profile does not name. Reconcile
// planned one removal for each and sent every one, each a call the device
// may answer as slowly as the call timeout allows: a single device held a
// Maintainer run (which waits for every device) for as many calls as it
// listed, up to the 10,000 items an enumeration keeps (found by review). An
// area whose plan needs more changes than any real device calls for now
// fails its planning and changes nothing.
func TestAttackReconcileChangeFlood(t *testing.T) {
	ca := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso MPS Root", Keys: &certstest.KeyPool{Reuse: true}})
	h := newHarness(t, harnessOptions{keys: &certstest.KeyPool{Reuse: true}, device: func(_ int, c *amtsim.Config) { c.Version = amt.MustParseVersion("15.0.45") }})
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: &provisioning.RemoteAccessProfile{
		MPS: provisioning.MPSServer{Address: "mps.contoso.com"}, Root: ca.RootCertificate(),
	}}
	d := h.fleet.Devices()[0]

	const listed = 2000
	var items []*etree.Element
	for i := range listed {
		items = append(items, wsman.NewInstance(amt.URIManagementPresenceRemoteSAP,
			wsman.Prop("Name", fmt.Sprintf("Intel(r) AMT:Management Presence Server %d", 100+i)),
			wsman.Prop("AccessInfo", fmt.Sprintf("mps%d.evil.example", i)), wsman.Prop("InfoFormat", "201"), wsman.Prop("Port", "4433")))
	}
	var hostile atomic.Bool
	var deletes atomic.Int64
	var enums wsmantest.Enumerations
	var w wsmantest.Writer
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: d.HTTPAddr()})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, hr *http.Request) {
		body, err := io.ReadAll(hr.Body)
		require.NoError(t, err)
		if req, err := wsmantest.ParseRequest(body); err == nil && hostile.Load() && req.ResourceURI == amt.URIManagementPresenceRemoteSAP {
			if rep, ok := enums.Serve(req, items); ok {
				_ = w.Write(rw, req, rep)
				return
			}
			if req.Action == wsman.ActionDelete {
				deletes.Add(1)
				_ = w.Write(rw, req, wsmantest.DeleteResponse(req))
				return
			}
		}
		hr.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(rw, hr)
	}))
	t.Cleanup(srv.Close)
	addr := h.cfg.DeviceAddress
	h.cfg.DeviceAddress = func(rh provisioning.ReceivedHello, inv provisioning.Inventory, port int) string {
		if port == 16992 {
			return net.JoinHostPort("127.0.0.1", fmt.Sprint(srv.Listener.Addr().(*net.TCPAddr).Port))
		}
		return addr(rh, inv, port)
	}
	p, rec := provisionOne(t, h)
	require.Empty(t, rec.Certificates, "provisioned without TLS")

	hostile.Store(true)
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	assert.LessOrEqual(t, deletes.Load(), int64(256), "the device listed %d MPS entries; reconcile sent %d deletes", listed, deletes.Load())
	assert.LessOrEqual(t, len(rep.Changes), 256)
	assert.Error(t, rep.Err(), "the area is reported failed")

	// An honest answer again: the area is planned and applied as before.
	hostile.Store(false)
	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	assert.NoError(t, rep.Err())
}
