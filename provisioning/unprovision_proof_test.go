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
// pre-provisioning. Over TLS 1.2, with a provisioning root the device still
// trusts (a factory root: a full unprovision keeps it), the retry completes a
// mutual TLS handshake with the provisioning certificate, whose Finished
// messages cover the device's request for it; before, it offered no
// certificate and took the unauthenticated request as the proof. Over TLS 1.3
// (AMT 21) the request comes after the server's CertificateVerify and
// Finished, which the client checks first: proof enough, with a user-added
// root too (the device erased it).
func TestUnprovisionRetryProof(t *testing.T) {
	for _, tc := range []struct {
		name     string
		template func(c *amtsim.Config)
		want     string
	}{
		{"TLS 1.2, factory root", func(c *amtsim.Config) {
			// The test root as one of the device's factory hashes.
			c.RootHashes, c.UserRootHashes = c.UserRootHashes, nil
		}, "(the handshake with the provisioning certificate completed)"},
		{"TLS 1.3, user-added root", func(c *amtsim.Config) {
			c.Version = amt.MustParseVersion("21.0.6")
		}, "(TLS 1.3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, dr := newDropHarness(t, harnessOptions{template: tc.template})
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
			assert.Contains(t, eventDetails(h.eventsFor(rec.UUID), provisioning.StepUnprovision), tc.want)
		})
	}
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
		name      string
		factory   bool
		noBundle  bool   // the record names no bundle configured now
		wantErr   string // with factory: why nothing was settled
		reconcile bool   // the Maintainer's reconcile instead of an operator's Unprovision
	}{
		{"factory root", true, false, "the handshake with it did not complete", false},
		{"factory root, its bundle not configured", true, true, "no configured bundle ends at it", false},
		{"user-added root (documented limit)", false, false, "", false},
		{"user-added root, Maintainer", false, false, "", true},
		{"factory root, Maintainer", true, false, "", true},
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
			injected := relayBefore(h, d)
			var err error
			if tc.reconcile {
				m := h.provisioner().Maintainer()
				m.ReconcileEvery = time.Nanosecond
				_, err = m.RunOnce(h.ctx)
				require.NoError(t, err)
			} else {
				err = h.provisioner().Unprovision(h.ctx, rec.UUID)
			}
			require.Positive(t, injected.Load(), "the relay added a request for a client certificate")
			after, lerr := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, lerr)
			require.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "the device is still provisioned")
			if !tc.factory && !tc.reconcile {
				require.NoError(t, err, "the documented limit: the relay's request is believed")
				assert.False(t, after.Provisioned())
				return
			}
			if !tc.reconcile {
				require.ErrorContains(t, err, tc.wantErr)
			}
			assert.True(t, after.Provisioned(), "the record of a device still provisioned says so")
			assert.True(t, d.AdminPasswordIs(after.AdminPassword), "the admin password the device uses stays in the record")
			for _, c := range after.Certificates {
				assert.False(t, c.Revoked, "certificate %q not revoked", c.Handle)
			}
		})
	}
}

// relayBefore routes the Provisioner's connections to d's TLS port through
// certRequestRelay; the counter says how many requests it added.
func relayBefore(h *harness, d *amtsim.Device) *atomic.Int32 {
	injected := new(atomic.Int32)
	fleetDial := h.cfg.Dial
	h.cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := fleetDial(ctx, network, addr)
		if err != nil || addr != d.TLSAddr() {
			return c, err
		}
		return certRequestRelay(c, injected), nil
	}
	return injected
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

// An Unprovision killed after the device acted (its reply lost with the
// process) leaves a record that says provisioned. The Maintainer's reconcile
// settles it when the device proves it is back in pre-provisioning by the
// handshake with the provisioning certificate (a factory root: the device
// still trusts it). With a user-added root the device refuses that
// certificate, and the only sign left — a TLS 1.2 request for a client
// certificate, which a relay can add — is not taken without an operator's
// Unprovision: the reconcile fails, and Unprovision again settles it.
func TestMaintainerSettlesADeviceProvedUnprovisioned(t *testing.T) {
	for _, factory := range []bool{true, false} {
		t.Run(map[bool]string{true: "factory root", false: "user-added root"}[factory], func(t *testing.T) {
			var e *opEnv
			var rep provisioning.MaintenanceReport
			var repErr error
			probs, why, _, _ := runOpKilled(t, opSpec{
				dev: func(c *amtsim.Config) {
					if factory {
						c.RootHashes, c.UserRootHashes = c.UserRootHashes, nil
					}
				},
				op: func(t *testing.T, e2 *opEnv, p *provisioning.Provisioner) {
					e = e2
					_ = p.Unprovision(e.h.ctx, e.rec.UUID)
				},
				recover: func(t *testing.T, e *opEnv, q *provisioning.Provisioner) {
					require.NoError(t, q.Resume(e.h.ctx))
					m := q.Maintainer()
					m.ReconcileEvery = time.Nanosecond
					rep, repErr = m.RunOnce(e.h.ctx)
				},
				check: func(t *testing.T, e *opEnv) []string { return nil },
			}, 0, 1)
			require.Empty(t, probs)
			require.NoError(t, repErr)
			t.Logf("killed %s; Maintainer: Reconciled %d, ReconcileFailed %d", why, rep.Reconciled, rep.ReconcileFailed)
			require.Equal(t, amt.PreProvisioning, e.d.Snapshot().ProvisioningState, "the device acted")
			rec, err := e.h.store.Load(e.h.ctx, e.rec.UUID)
			require.NoError(t, err)
			if !factory {
				assert.True(t, rec.Provisioned(), "settled on a sign a relay can fake")
				assert.Positive(t, rep.ReconcileFailed)
				require.NoError(t, e.h.provisioner().Unprovision(e.h.ctx, e.rec.UUID), "an operator's Unprovision settles it")
				rec, err = e.h.store.Load(e.h.ctx, e.rec.UUID)
				require.NoError(t, err)
			} else {
				assert.Zero(t, rep.ReconcileFailed, "a device found unprovisioned is not a failed reconcile")
				assert.Contains(t, eventDetails(e.h.eventsFor(e.rec.UUID), provisioning.StepUnprovision), "found unprovisioned")
			}
			assert.False(t, rec.Provisioned() && !rec.AdminPassword.IsZero(), "the record still claims a provisioning the device no longer has")
			for _, c := range rec.Certificates {
				assert.True(t, c.RemovedFromDevice && c.Revoked, "certificate %q retired and revoked", c.Handle)
			}
			assert.True(t, e.d.MEBxPasswordIs(rec.MEBxPassword), "the MEBx password, which a full unprovision keeps, is kept")
		})
	}
}

// The impostor of TestAttackImpostorReplaysPreProvisioningCertificate at a
// provisioned device's address when the Maintainer reconciles it: a replay of
// the device's pre-provisioning certificate without its key must not make the
// reconcile settle the record as unprovisioned.
func TestAttackImpostorReplaysPreProvisioningCertificateToMaintainer(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.fleet.Devices()[0]
	own := ownCertificate(t, d)
	_, rec := provisionOne(t, h)
	conns := replayingImpostor(t, h, own)
	m := h.provisioner().Maintainer()
	m.ReconcileEvery = time.Nanosecond
	_, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, after.Provisioned(), "the record is unchanged")
	assert.True(t, after.AdminPassword.Equal(rec.AdminPassword))
	for _, c := range after.Certificates {
		assert.False(t, c.Revoked, "nothing is revoked")
	}
	assert.GreaterOrEqual(t, conns.Load(), int32(2), "the replayed certificate was looked at")
}

// Another device now answers at a provisioned device's address (DHCP gave
// the address away) and is in pre-provisioning, asking for a client
// certificate. The check that the provisioned device is back in
// pre-provisioning looks at the certificate served first: the provisioning
// certificate goes to no server that does not serve the pinned one (before,
// the other device completed a remote-configuration handshake with it at
// every Unprovision retry and Maintainer run).
func TestUnprovisionProbeOffersNoCertificateToAnotherDevice(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 2})
	_, rec := provisionOne(t, h)
	a, b := h.fleet.Devices()[0], h.fleet.Devices()[1]
	var rerouted atomic.Int32
	fleetDial := h.cfg.Dial
	h.cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == a.TLSAddr() {
			rerouted.Add(1)
			addr = b.TLSAddr()
		}
		return fleetDial(ctx, network, addr)
	}
	require.Error(t, h.provisioner().Unprovision(h.ctx, rec.UUID))
	require.Positive(t, rerouted.Load(), "the other device was reached")
	// The simulator logs a remote-configuration handshake when a chain came.
	for _, r := range b.Snapshot().Handshakes {
		assert.Nil(t, r.Chain, "a certificate chain was presented to the other device (%s)", r.Mode)
	}
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, after.Provisioned())
}
