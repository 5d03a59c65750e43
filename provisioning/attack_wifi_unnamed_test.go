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
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// A device (compromised, or an attacker on the path of a device reached over
// plain HTTP) lists a Wi-Fi profile whose ElementName is empty. The record
// files the wired interface's 802.1X client certificate under the empty
// profile name, so removing that unlisted profile revoked the certificate the
// wired interface authenticates with — cutting the desk off its 802.1X port
// at the next reauthentication (found by review). A profile amtkit cannot have
// added (its name is no valid profile name) owns nothing in the record: it is
// removed, and nothing is revoked or forgotten with it.
func TestAttackUnnamedWiFiProfileRevokesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.Version = amt.MustParseVersion("15.0.45") }})
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{
		Wired8021X: &provisioning.IEEE8021XConfig{},
		WiFi:       &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{personal("guest", 1, "guest-passphrase")}},
	}})
	d := h.fleet.Devices()[0]
	const prefix, forged = "Intel(r) AMT:WiFi Endpoint Settings ", "Intel(r) AMT:WiFi Endpoint Settings 0"
	items := []*etree.Element{
		wsman.NewInstance(amt.URIWiFiEndpointSettings, wsman.Prop("AuthenticationMethod", "6"), wsman.Prop("ElementName", "guest"),
			wsman.Prop("EncryptionMethod", "4"), wsman.Prop("InstanceID", prefix+"guest"), wsman.Prop("Priority", "1"), wsman.Prop("SSID", "SSID guest")),
		wsman.NewInstance(amt.URIWiFiEndpointSettings, wsman.Prop("AuthenticationMethod", "6"), wsman.Prop("ElementName", ""),
			wsman.Prop("EncryptionMethod", "4"), wsman.Prop("InstanceID", forged), wsman.Prop("Priority", "9"), wsman.Prop("SSID", "Evil")),
	}
	var hostile atomic.Bool
	var deleted atomic.Int64
	var enums wsmantest.Enumerations
	var w wsmantest.Writer
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: d.HTTPAddr()})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, hr *http.Request) {
		body, err := io.ReadAll(hr.Body)
		require.NoError(t, err)
		if req, err := wsmantest.ParseRequest(body); err == nil && hostile.Load() && req.ResourceURI == amt.URIWiFiEndpointSettings {
			if rep, ok := enums.Serve(req, items); ok {
				_ = w.Write(rw, req, rep)
				return
			}
			if id, _ := req.Selectors.Get("InstanceID"); req.Action == wsman.ActionDelete && id == forged {
				deleted.Add(1)
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
	require.Empty(t, rec.ReconcileError)
	wired, ok := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "")
	require.True(t, ok, "the wired interface's client certificate")
	require.NotNil(t, d.Snapshot().IEEE8021xClient)

	hostile.Store(true)
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"wifi"}})
	require.NoError(t, err)
	for _, c := range rep.Changes {
		t.Log(c.String())
	}
	assert.EqualValues(t, 1, deleted.Load(), "the unlisted profile is removed")
	for _, r := range h.issuer.revocations() {
		assert.False(t, bytes.Equal(r.Certificate.Raw, wired.DER), "the wired 802.1X certificate was revoked (reason %v)", r.Reason)
	}
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, ok := got.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "")
	require.True(t, ok)
	assert.False(t, cur.Revoked)
}
