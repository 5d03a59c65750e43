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
