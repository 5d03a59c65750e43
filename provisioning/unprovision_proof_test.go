package provisioning_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// An Unprovision whose reply was lost, retried on a device back in
// pre-provisioning that still trusts the provisioning root (a factory root:
// a full unprovision keeps it): the retry completes a mutual TLS handshake
// with the provisioning certificate, whose Finished messages cover the
// device's request for it. Before, the retry offered no certificate and took
// the unauthenticated request as the proof.
func TestUnprovisionRetryProvedByProvisioningHandshake(t *testing.T) {
	h, dr := newDropHarness(t, harnessOptions{template: func(c *amtsim.Config) {
		// The test root as one of the device's factory hashes.
		c.RootHashes, c.UserRootHashes = c.UserRootHashes, nil
	}})
	h.cfg.CallTimeout = 2 * time.Second
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	dr.arm("Unprovision", amtsim.DropResponse)
	if err := p.Unprovision(h.ctx, rec.UUID); err != nil {
		require.Eventually(t, func() bool { return d.Snapshot().ProvisioningState == amt.PreProvisioning }, 5*time.Second, 10*time.Millisecond)
		require.NoError(t, d.StartConfiguration(amt.Secret{}))
		require.NoError(t, p.Unprovision(h.ctx, rec.UUID), "the retry settles it")
	}
	require.Equal(t, amt.PreProvisioning, d.Snapshot().ProvisioningState)
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.False(t, after.Provisioned())
	assert.Contains(t, eventDetails(h.eventsFor(rec.UUID), provisioning.StepUnprovision), "(the handshake completed)")
}

// A relay in front of a provisioned device whose TLS was turned off (it
// serves the certificate it showed before it was provisioned, with its key)
// adds a request for a client certificate to the TLS 1.2 handshake, to make
// Unprovision's retry take the device for one back in pre-provisioning: the
// record's admin password would be cleared and its certificates revoked while
// the device stays provisioned. When the provisioning root is a factory hash
// (which a full unprovision keeps trusted) the retry requires the handshake
// with the provisioning certificate to complete, which the relay cannot make
// happen: nothing is settled. With a user-added root (erased by a full
// unprovision) the request after a signed key exchange is still taken — the
// limit docs/security.md states; that row shows the relay works.
func TestAttackRelayAddsCertificateRequest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		factory  bool
		noBundle bool   // the record names no bundle configured now
		wantErr  string // with factory: why nothing was settled
	}{
		{"factory root", true, false, "the handshake with it did not complete"},
		{"factory root, its bundle not configured", true, true, "no configured bundle ends at it"},
		{"user-added root (documented limit)", false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, rec, d := provisionedWithTLSOff(t)
			if tc.factory {
				// The simulator cannot sign with a real factory root's key:
				// the record says the device was provisioned under one (its
				// bundle, the test chain, is still the one offered).
				got, err := h.store.Load(h.ctx, rec.UUID)
				require.NoError(t, err)
				require.NotEmpty(t, got.Bundle)
				got.MatchedRoot = amt.DefaultRootHashes()[0].Hash
				if tc.noBundle {
					got.Bundle = ""
				}
				require.NoError(t, h.store.Save(h.ctx, got))
			}
			var injected atomic.Int32
			fleetDial := h.cfg.Dial
			h.cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := fleetDial(ctx, network, addr)
				if err != nil || addr != d.TLSAddr() {
					return c, err
				}
				return certRequestRelay(c, &injected), nil
			}
			err := h.provisioner().Unprovision(h.ctx, rec.UUID)
			require.Positive(t, injected.Load(), "the relay added a request for a client certificate")
			after, lerr := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, lerr)
			require.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "the device is still provisioned")
			if !tc.factory {
				require.NoError(t, err, "the documented limit: the relay's request is believed")
				assert.False(t, after.Provisioned())
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			assert.True(t, after.Provisioned(), "the record of a device still provisioned says so")
			assert.True(t, d.AdminPasswordIs(after.AdminPassword), "the admin password the device uses stays in the record")
			for _, c := range after.Certificates {
				assert.False(t, c.Revoked, "certificate %q not revoked", c.Handle)
			}
		})
	}
}

// certRequestRelay returns the engine's end of a relay to dev that adds a
// TLS 1.2 CertificateRequest before the server's ServerHelloDone: handshake
// messages before ChangeCipherSpec travel in plaintext records, and nothing
// authenticates them until Finished. Each handshake message the server sends
// is forwarded in a record of its own; after ServerHelloDone (or anything but
// a handshake record) the bytes pass unchanged.
func certRequestRelay(dev net.Conn, injected *atomic.Int32) net.Conn {
	engine, relay := net.Pipe()
	closeBoth := func() { relay.Close(); dev.Close() }
	go func() { // engine → device
		_, _ = io.Copy(dev, relay)
		closeBoth()
	}()
	go func() { // device → engine
		defer closeBoth()
		var hs []byte // handshake bytes not yet forwarded
		for {
			hdr := make([]byte, 5)
			if _, err := io.ReadFull(dev, hdr); err != nil {
				return
			}
			body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
			if _, err := io.ReadFull(dev, body); err != nil {
				return
			}
			if hdr[0] != 22 { // not a handshake record: pass it and the rest on
				if _, err := relay.Write(append(hdr, body...)); err != nil {
					return
				}
				_, _ = io.Copy(relay, dev)
				return
			}
			hs = append(hs, body...)
			for len(hs) >= 4 {
				n := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]))
				if len(hs) < n {
					break
				}
				msg := hs[:n:n]
				hs = hs[n:]
				if msg[0] == 14 { // ServerHelloDone
					// certificate_types rsa_sign, ecdsa_sign; signature
					// algorithms rsa_pkcs1_sha256, ecdsa_secp256r1_sha256,
					// rsa_pss_rsae_sha256; no CA names (RFC 5246 §7.4.4).
					cr := []byte{13, 0, 0, 13, 2, 1, 64, 0, 6, 4, 1, 4, 3, 8, 4, 0, 0}
					if _, err := relay.Write(record(hdr, cr)); err != nil {
						return
					}
					injected.Add(1)
				}
				if _, err := relay.Write(record(hdr, msg)); err != nil {
					return
				}
				if msg[0] == 14 {
					_, _ = io.Copy(relay, dev)
					return
				}
			}
		}
	}()
	return engine
}

// record is one TLS record of hdr's type and version holding msg.
func record(hdr, msg []byte) []byte {
	out := append([]byte{hdr[0], hdr[1], hdr[2]}, byte(len(msg)>>8), byte(len(msg)))
	return append(out, msg...)
}
