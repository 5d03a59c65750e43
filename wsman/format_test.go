package wsman_test

import (
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
)

// The forms selectors, EPRs, QNames and fault sentinels take in messages.
func TestMessageForms(t *testing.T) {
	epr := wsman.EPR{ResourceURI: "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate",
		Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 1")}}
	set := wsman.SelectorSet{wsman.Sel("Name", "x"), wsman.SelEPR("Ref", epr)}
	assert.Equal(t, "Name=x", set[0].String())
	assert.Equal(t, "{Name=x, Ref=<EPR http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate {InstanceID=Intel(r) AMT Certificate: Handle: 1}>}", set.String())
	assert.Equal(t, "{}", wsman.SelectorSet{}.String())
	assert.Equal(t, "{http://schemas.xmlsoap.org/ws/2004/08/addressing}DestinationUnreachable",
		wsman.QName{Space: "http://schemas.xmlsoap.org/ws/2004/08/addressing", Local: "DestinationUnreachable"}.String())
	assert.Equal(t, "Sender", wsman.QName{Local: "Sender"}.String())
	assert.Equal(t, "wsman: fault AlreadyExists", wsman.ErrAlreadyExists.Error())
	assert.Equal(t, "AlreadyExists", wsman.ErrAlreadyExists.QName().Local)
}
