package provisioning

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
)

// A policy's MPSs are read by the rule's own name (firmware may number it,
// "Periodic 1") and in OrderOfAccess, not in the enumeration's order; links
// of equal order keep the device's order.
func TestLinkedMPS(t *testing.T) {
	link := func(rule, mps string, order uint32) *amt.PolicyAppliesToMPS {
		return &amt.PolicyAppliesToMPS{
			ManagedElement: wsman.EPR{ResourceURI: amt.URIManagementPresenceRemoteSAP, Selectors: wsman.SelectorSet{wsman.Sel("Name", mps)}},
			PolicySet:      wsman.EPR{ResourceURI: amt.URIRemoteAccessPolicyRule, Selectors: wsman.SelectorSet{wsman.Sel("PolicyRuleName", rule)}},
			OrderOfAccess:  order,
		}
	}
	links := []*amt.PolicyAppliesToMPS{
		link("Periodic 1", "backup", 1), link("User Initiated 2", "primary", 0),
		link("Periodic 1", "primary", 0), link("User Initiated 2", "backup", 0),
	}
	assert.Equal(t, []string{"primary", "backup"}, linkedMPS("Periodic 1", links))
	assert.Equal(t, []string{"primary", "backup"}, linkedMPS("User Initiated 2", links), "equal order: the device's")
	assert.Empty(t, linkedMPS("Periodic", links))
}

// A device that does not echo ServerCertificateNameComparison (no peer has
// ever written it, and the recorded CIM_IEEE8021xSettings carry none) is not
// seen as out of line for ever; a different value it does report still is.
func TestWiFiDiffServerNameComparison(t *testing.T) {
	nw := &WiFiNetwork{Name: "corp", SSID: "Contoso", Priority: 1, Security: WPA2Enterprise,
		IEEE8021X: &IEEE8021XConfig{Method: PEAPMSCHAPv2, Username: "u", Password: amt.NewSecret("Corp-pass-1"), ServerName: "radius.contoso.com"}}
	auth, enc := nw.Security.wire()
	cur := &amt.WiFiEndpointSettings{InstanceID: "Intel(r) AMT:WiFi Endpoint Settings corp", ElementName: "corp", SSID: "Contoso", Priority: 1,
		AuthenticationMethod: auth, EncryptionMethod: enc}
	rc := &reconcileContext{rec: &DeviceRecord{}}
	rc.rec.setNetworkSecret(wifiSecretKey("corp"), nw.IEEE8021X.Password)
	for _, tc := range []struct {
		cmp  amt.ServerNameComparison
		diff bool
	}{{0, false}, {nw.IEEE8021X.ServerNameMatch.wire(), false}, {amt.ServerNameDomainSuffix, true}} {
		wd := &wifiDevice{ieee: []amt.WiFiIEEE8021xSettings{{InstanceID: "Intel(r) AMT:IEEE 802.1x Settings corp", ElementName: "corp",
			AuthenticationProtocol: PEAPMSCHAPv2.wire(), Username: "u", ServerCertificateName: "radius.contoso.com", ServerCertificateNameComparison: tc.cmp}}}
		assert.Equal(t, tc.diff, rc.wifiDiff(nw, cur, wd) != "", "comparison %d", tc.cmp)
	}
}
