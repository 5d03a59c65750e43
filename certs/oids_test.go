package certs_test

import (
	"encoding/asn1"
	"testing"

	"github.com/amtkit/amtkit/certs"
	"github.com/stretchr/testify/assert"
)

// The object identifiers are the published values, and each call returns a
// fresh slice: a caller that changes one cannot change what the package
// compares against.
func TestOIDs(t *testing.T) {
	tests := []struct {
		name string
		oid  func() asn1.ObjectIdentifier
		want string
	}{
		// The values MeshCentral (certoperations.js) and Open AMT's RPS put in
		// the extended key usages of the certificates they issue for AMT.
		{"AMT activation", certs.OIDAMTActivation, "2.16.840.1.113741.1.2.3"},
		{"AMT console", certs.OIDAMTConsole, "2.16.840.1.113741.1.2.1"},
		{"AMT agent", certs.OIDAMTAgent, "2.16.840.1.113741.1.2.2"},
		// Microsoft wincrypt.h: szOID_CERTIFICATE_TEMPLATE, szOID_ENROLL_CERTTYPE_EXTENSION, szOID_NT_PRINCIPAL_NAME.
		{"template v2", certs.OIDTemplateV2, "1.3.6.1.4.1.311.21.7"},
		{"template name", certs.OIDTemplateName, "1.3.6.1.4.1.311.20.2"},
		{"user principal name", certs.OIDUserPrincipalName, "1.3.6.1.4.1.311.20.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.oid()
			assert.Equal(t, tc.want, got.String())
			got[len(got)-1] = 99
			assert.Equal(t, tc.want, tc.oid().String(), "a caller's change does not reach the package")
		})
	}
}
