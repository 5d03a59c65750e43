package certs

import "encoding/asn1"

// Object identifiers used by AMT provisioning and by Microsoft certificate
// templates. The slices are returned fresh by the functions below so that callers
// cannot change what the package compares against.
var (
	oidAMTActivation  = asn1.ObjectIdentifier{2, 16, 840, 1, 113741, 1, 2, 3}
	oidAMTConsole     = asn1.ObjectIdentifier{2, 16, 840, 1, 113741, 1, 2, 1}
	oidAMTAgent       = asn1.ObjectIdentifier{2, 16, 840, 1, 113741, 1, 2, 2}
	oidMSTemplateV2   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 21, 7}
	oidMSTemplateName = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2}
	oidUPN            = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}

	oidExtSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidExtExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidExtensionRequest  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	oidEKUServerAuth     = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	oidEKUClientAuth     = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}
	oidSHA256WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidSHA1WithRSA       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidECDSAWithSHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
)

// ClientSetupOU is the exact, case-sensitive Subject OU that marks a provisioning
// certificate when the AMT activation OID is absent (Intel SDK "Acquiring an Intel
// vPro Certificate"; Configuration Manager PKI certificate requirements). It has
// no trailing period.
const ClientSetupOU = "Intel(R) Client Setup Certificate"

// OIDAMTActivation returns 2.16.840.1.113741.1.2.3, the extended key usage that
// marks an Intel AMT provisioning ("Intel Client Setup", zero-touch activation)
// certificate.
func OIDAMTActivation() asn1.ObjectIdentifier { return clone(oidAMTActivation) }

// OIDAMTConsole returns 2.16.840.1.113741.1.2.1, Intel's "console" usage.
func OIDAMTConsole() asn1.ObjectIdentifier { return clone(oidAMTConsole) }

// OIDAMTAgent returns 2.16.840.1.113741.1.2.2, Intel's "agent" usage.
func OIDAMTAgent() asn1.ObjectIdentifier { return clone(oidAMTAgent) }

// OIDTemplateV2 returns 1.3.6.1.4.1.311.21.7 (szOID_CERTIFICATE_TEMPLATE), the
// extension a Microsoft CA writes for version 2 and later templates.
func OIDTemplateV2() asn1.ObjectIdentifier { return clone(oidMSTemplateV2) }

// OIDTemplateName returns 1.3.6.1.4.1.311.20.2 (szOID_ENROLL_CERTTYPE), the
// template-name extension a Microsoft CA writes for version 1 templates.
func OIDTemplateName() asn1.ObjectIdentifier { return clone(oidMSTemplateName) }

// OIDUserPrincipalName returns 1.3.6.1.4.1.311.20.2.3, the otherName type of a
// UPN in a subject alternative name.
func OIDUserPrincipalName() asn1.ObjectIdentifier { return clone(oidUPN) }

func clone(o asn1.ObjectIdentifier) asn1.ObjectIdentifier {
	return append(asn1.ObjectIdentifier(nil), o...)
}
