package provisioning_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// hostileReply answers connect and identify as an in-provisioning device
// with UUID u and the given realm; onMethod may take over any method.
func hostileReply(u amt.UUID, realm string, onMethod func(r *wsmantest.Request, m string) (wsmantest.Reply, bool)) wsmantest.HandlerFunc {
	return func(r *wsmantest.Request) wsmantest.Reply {
		if m, ok := r.Method(); ok {
			if rep, ok := onMethod(r, m); ok {
				return rep
			}
			var ps []wsman.Property
			if m == "GetUuid" {
				w := u.Wire()
				ps = append(ps, wsman.Prop("UUID", base64.StdEncoding.EncodeToString(w[:])))
			}
			return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0, ps...))
		}
		switch r.ResourceURI {
		case amt.URIGeneralSettings:
			return wsmantest.GetResponse(r, wsman.NewInstance(amt.URIGeneralSettings, wsman.Prop("DigestRealm", realm)))
		case amt.URISetupAndConfigurationService:
			return wsmantest.GetResponse(r, wsman.NewInstance(amt.URISetupAndConfigurationService, wsman.Prop("ProvisioningState", "1")))
		}
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	}
}

const realm = "Digest:0123456789ABCDEF0123456789ABCDEF"

// kvHarness is newHarness with a KVStore (the codec every persistent store uses).
func kvHarness(t *testing.T, n int, cfg func(*provisioning.Config)) (*harness, provisioning.Store) {
	h, store, _ := kvHarnessWithKV(t, n, cfg)
	return h, store
}

// kvHarnessWithKV is kvHarness that also returns the key-value map under the
// store, for tests that write it as someone outside amtkit would.
func kvHarnessWithKV(t *testing.T, n int, cfg func(*provisioning.Config)) (*harness, provisioning.Store, *mapKV) {
	h := newHarness(t, harnessOptions{n: n, config: cfg})
	kv := &mapKV{m: map[string][]byte{}}
	store, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	h.store, h.cfg.Store = store, store
	return h, store, kv
}

// A rogue answering for an inventoried device with a fault whose reason is
// 40,000 commas leaves a record that still loads: the real device is
// provisioned afterwards and the Maintainer walks the fleet (the record
// became undecodable, and one such record stopped every walk of the store).
func TestHostileFaultPoisonsRecord(t *testing.T) {
	h, store := kvHarness(t, 2, nil)
	victim := h.fleet.Devices()[1]
	rogue := httptest.NewTLSServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.FaultReply(wsmantest.SenderFault("InvalidParameter", strings.Repeat(",", 40000)))
	}))
	defer rogue.Close()
	legit, rogueOn := h.cfg.DeviceAddress, true
	h.cfg.DeviceAddress = func(hello provisioning.ReceivedHello, inv provisioning.Inventory, port int) string {
		if rogueOn && inv.UUID == victim.UUID() {
			return rogue.Listener.Addr().String()
		}
		return legit(hello, inv, port)
	}
	h.cfg.Dial = nil
	p := h.provisioner()
	_, err := p.Provision(h.ctx, h.helloFrom(h.fleet.Devices()[0])) // a provisioned device to maintain
	require.NoError(t, err)
	_, err = p.Provision(h.ctx, h.helloFrom(victim)) // the rogue's session fails, as it should
	require.Error(t, err)
	_, err = store.Load(h.ctx, victim.UUID())
	assert.NoError(t, err, "the victim's record no longer decodes")
	rogueOn = false
	_, err = p.Provision(h.ctx, h.helloFrom(victim))
	assert.NoError(t, err, "the real device cannot be provisioned any more")
	_, err = p.Maintainer().RunOnce(h.ctx)
	assert.NoError(t, err, "Maintainer.RunOnce stops for the whole fleet")
}

// GenerateKeyPair's reply lost, then a device listing 3,000 keys and 3,000
// certificates: the search for the lost key is bounded and the session ends
// on time (it parsed every certificate once per key, past its deadline).
func TestHostileLostKeyQuadratic(t *testing.T) {
	const n = 3000
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		prof := c.Profiles[provisioning.DefaultProfileName]
		prof.SkipHostName, prof.SkipClockSync = true, true
		c.Profiles[provisioning.DefaultProfileName] = prof
		c.SessionTimeout = 2 * time.Second
	}})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &other.PublicKey, other)
	require.NoError(t, err)
	var keys, held []*etree.Element
	for i := 0; i < n; i++ {
		keys = append(keys, wsman.NewInstance(amt.URIPublicPrivateKeyPair, wsman.Prop("InstanceID", fmt.Sprintf("Intel(r) AMT Key: Handle: %d", i)),
			wsman.Prop("DERKey", base64.StdEncoding.EncodeToString(spki))))
		held = append(held, wsman.NewInstance(amt.URIPublicKeyCertificate, wsman.Prop("InstanceID", fmt.Sprintf("Intel(r) AMT Certificate: Handle: %d", i)),
			wsman.Prop("X509Certificate", base64.StdEncoding.EncodeToString(der))))
	}
	var enums wsmantest.Enumerations
	inner := hostileReply(h.fleet.Devices()[0].UUID(), realm, func(r *wsmantest.Request, m string) (wsmantest.Reply, bool) {
		return wsmantest.Hangup(), m == "GenerateKeyPair" // the reply is lost
	})
	srv := httptest.NewTLSServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		if r.ResourceURI == amt.URIPublicPrivateKeyPair {
			if rep, ok := enums.Serve(r, keys); ok {
				return rep
			}
		}
		if r.ResourceURI == amt.URIPublicKeyCertificate {
			if rep, ok := enums.Serve(r, held); ok {
				return rep
			}
		}
		return inner(r)
	}))
	defer srv.Close()
	h.cfg.DeviceAddress = func(provisioning.ReceivedHello, provisioning.Inventory, int) string {
		return srv.Listener.Addr().String()
	}
	h.cfg.Dial = nil
	start := time.Now()
	_, err = h.provisioner().Provision(h.ctx, h.helloFrom(h.fleet.Devices()[0]))
	t.Logf("session ended after %v (SessionTimeout 2s): %.120v", time.Since(start), err)
	assert.Less(t, time.Since(start), 5*time.Second, "the session ran far past its timeout")
}
