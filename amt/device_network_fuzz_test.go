package amt

import (
	"testing"

	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// FuzzDecodeNetworkResponses feeds arbitrary envelopes to the network
// bindings' parsers (Wi-Fi, 802.1X of Wi-Fi profiles, Ethernet): none may
// panic, and a decoded instance that can be Put is re-encoded without error.
// Seeds: amtkit's own network vectors (internal/testvectors amt_network.json).
func FuzzDecodeNetworkResponses(f *testing.F) {
	for _, b := range testvectors.ResponseEnvelopes(f, "amt_network") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := wsman.ParseEnvelope(b, 0)
		if err != nil {
			return
		}
		els := []*etree.Element{env.Content()}
		if pr := wsman.Child(env.Body, wsman.NSEnumeration, "PullResponse"); pr != nil {
			if items, err := wsman.ReadItems(wsman.Child(pr, wsman.NSEnumeration, "Items")); err == nil {
				for _, it := range items {
					els = append(els, it.Object)
				}
			}
		}
		for _, el := range els {
			if el == nil {
				continue
			}
			if p, err := parseEthernetPortSettings(el); err == nil {
				_, _ = p.Static()
				_ = p.HasInterface()
				p.SetDHCP()
				if _, err := p.src.edited(p, []string{"DHCPEnabled"}, addressProps); err != nil {
					t.Fatalf("edit of a decoded instance failed: %v", err)
				}
			}
			if c, err := parseWiFiPortConfiguration(el); err == nil {
				c.LocalProfileSynchronization = LocalSyncDisabled
				if _, err := c.src.edited(c, []string{"localProfileSynchronizationEnabled"}, nil); err != nil {
					t.Fatalf("edit of a decoded instance failed: %v", err)
				}
			}
			_, _ = parseWiFiEndpointSettings(el)
			_, _ = parseWiFiIEEE8021xSettings(el)
			_, _ = parseWiFiPort(el)
			_, _ = parseCredentialContext(el, URICIMCredentialContext)
			_, _ = checkOutput(env, URIWiFiPortConfigurationService, "AddWiFiSettings")
		}
	})
}
