package crlext

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheck(t *testing.T) {
	ext := func(id asn1.ObjectIdentifier, critical bool) pkix.Extension {
		return pkix.Extension{Id: id, Critical: critical, Value: []byte{5, 0}}
	}
	for _, tt := range []struct {
		name string
		exts []pkix.Extension
		ok   bool
	}{
		{"none", nil, true},
		{"CRL number and AKI", []pkix.Extension{ext(oidCRLNumber, false), ext(oidAuthorityKeyID, false)}, true},
		{"unknown non-critical", []pkix.Extension{ext(asn1.ObjectIdentifier{1, 2, 3}, false)}, true},
		{"delta", []pkix.Extension{ext(OIDDeltaCRLIndicator, true)}, false},
		{"delta marked non-critical", []pkix.Extension{ext(OIDDeltaCRLIndicator, false)}, false},
		{"issuing distribution point", []pkix.Extension{ext(OIDIssuingDistributionPoint, true)}, false},
		{"unknown critical", []pkix.Extension{ext(asn1.ObjectIdentifier{1, 2, 3}, true)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(&x509.RevocationList{Extensions: tt.exts})
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}
