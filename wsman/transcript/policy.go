package transcript

import (
	"strings"

	"github.com/amtkit/amtkit/wsman"
)

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=Kind -linecomment -output=kind_string.go

// Kind is the kind of an identifying value, which decides the form of its
// placeholder (so that a placeholder still parses where the value did).
// String returns the kind's name ("text", "dns-name", …; "Kind(n)" for another
// value).
type Kind int

// Kinds of identifying values.
const (
	// KindText: any text, replaced by "id-N".
	KindText Kind = iota + 1 // text
	// KindDNSName: a host name, domain name, FQDN or DNS suffix. Each label
	// but the last is replaced by "nameN" (the same label always by the same
	// name, so a.contoso.com and contoso.com stay a name and its suffix); the
	// last label is kept when it is a common generic top-level domain (com,
	// net, org, …) and becomes "example" otherwise. An IP address literal is
	// treated as KindIP.
	KindDNSName // dns-name
	// KindUUID: a UUID in canonical text, 32 hex digits, or 16 bytes in
	// base64 (AMT's wire form), replaced by 00000000-0000-0000-0000-00000000000N
	// in the same form.
	KindUUID // uuid
	// KindMAC: a MAC address, replaced by 02-00-00-00-00-NN (locally
	// administered) with the original separators and case.
	KindMAC // mac
	// KindIP: an IPv4 address (replaced from 192.0.2.0/24, 198.51.100.0/24 and
	// 203.0.113.0/24, RFC 5737) or IPv6 address (2001:db8::/32, RFC 3849);
	// loopback and unspecified addresses are kept.
	KindIP // ip
	// KindSerial: a serial number or asset tag, replaced by "serial-N".
	KindSerial // serial
	// KindRealm: an HTTP digest realm; AMT's "Digest:" + 32 hex digits is
	// replaced by "Digest:" + N in 32 hex digits, so the form stays valid.
	KindRealm // realm
	// KindCertificate: a base64 DER X.509 certificate. Its subject and issuer
	// become CN=name-N (the same name, the same placeholder, so chains still
	// link), its serial number N, its subject alternative names placeholders
	// of their kinds; only extensions that name no one are kept (basic
	// constraints, key usages, key identifiers, Microsoft template and Intel
	// extensions). The public key, validity and signature algorithm are kept;
	// the signature no longer verifies.
	KindCertificate // certificate
	// KindDN: a distinguished name as text ("C=US,O=…,CN=…"), replaced by
	// "CN=dn-N".
	KindDN // dn
)

// Policy says which elements of an envelope carry secrets, which identify
// a device, and which change on every run.
type Policy struct {
	// Name is recorded in the transcript's provenance ("amt/1").
	Name string
	// Secret reports whether an element's content is a secret, by namespace
	// URI and local name — or, with ns "", a selector's by its Name. Secrets
	// are always removed. wsman.DefaultRedactor is applied in any case.
	Secret func(ns, local string) bool
	// Identifying maps local names of elements (and selector Names) to the
	// kind of identifying value they hold; they are replaced by placeholders
	// when the recording asks for it.
	Identifying map[string]Kind
	// NotSecret lists local names that wsman.DefaultRedactor matches but that
	// carry no secret (AMT's PasswordModel, a mode number; the
	// AMT_PublicPrivateKeyPair instance, which holds the public key only):
	// they are kept. Private keys are still found by their form.
	NotSecret []string
	// Volatile lists local names of request elements whose values differ on
	// every run (nonces, times); request matching ([RequestKey]) ignores
	// their values.
	Volatile []string
}

// secret reports whether the policy (or wsman.DefaultRedactor) masks the
// element or selector.
func (p *Policy) secret(ns, local string) bool {
	for _, n := range p.NotSecret {
		if n == local {
			return false
		}
	}
	if wsman.DefaultRedactor(ns, local) {
		return true
	}
	return p.Secret != nil && p.Secret(ns, local)
}

func (p *Policy) volatile(local string) bool {
	for _, v := range p.Volatile {
		if v == local {
			return true
		}
	}
	return false
}

// AMT's secret properties beyond wsman.DefaultRedactor's names (which
// contain "password", "passphrase", "secret", "privatekey" or "psk"): the
// provisioning OTP (AMT_SetupAndConfigurationService.ProvisioningServerOTP),
// the PPS of PSK setup, AddKey's KeyBlob (a PKCS#1 or PKCS#8 private key),
// an 802.1X protected access credential, and a Kerberos master key. The
// digest hashes of ACL entries (DigestPassword of SetAdminAclEntryEx and
// AddUserAclEntryEx, NetworkAdminPassword of Setup and AdminSetup) and
// 802.1X passwords and PSKs are matched by DefaultRedactor's names and
// listed here too, so the list reads complete (Intel AMT SDK class
// reference).
var amtSecrets = map[string]bool{
	"ProvisioningServerOTP": true, "OTP": true, "OneTimePassword": true, "PPS": true,
	"KeyBlob": true, "ProtectedAccessCredential": true, "PACPassword": true, "MasterKey": true,
	"DigestPassword": true, "NetworkAdminPassword": true, "Password": true, "PSK": true,
	"PrivateKey": true, "Passphrase": true,
}

// AMT's identifying properties (Intel AMT SDK class reference):
// AMT_GeneralSettings, AMT_SetupAndConfigurationService,
// AMT_EthernetPortSettings, AMT_PublicKeyCertificate, the 802.1X profile,
// CIM physical elements, GetUuid's output.
var amtIdentifying = map[string]Kind{
	"HostName": KindDNSName, "DomainName": KindDNSName, "HostOSFQDN": KindDNSName,
	"DhcpDNSSuffix": KindDNSName, "TrustedDNSSuffix": KindDNSName, "PKIDNSSuffix": KindDNSName,
	"ConfigurationServerFQDN": KindDNSName, "ServerCertificateName": KindDNSName,
	"TrustedCN": KindDNSName, "AccessInfo": KindDNSName, "FQDN": KindDNSName,
	"UUID": KindUUID, "Uuid": KindUUID, "PlatformGUID": KindUUID,
	"MACAddress": KindMAC, "PermanentAddress": KindMAC,
	"IPAddress": KindIP, "DefaultGateway": KindIP, "PrimaryDNS": KindIP, "SecondaryDNS": KindIP,
	"SerialNumber": KindSerial, "Tag": KindSerial,
	"DigestRealm":     KindRealm,
	"X509Certificate": KindCertificate, "CertificateBlob": KindCertificate, "NextCertificate": KindCertificate,
	"Subject": KindDN, "Issuer": KindDN,
	"Domain": KindDNSName, "DigestUsername": KindText, "KerberosUserSid": KindText,
}

// AMTPolicy is the policy for Intel AMT devices ("amt/1"). Secrets: every
// name wsman.DefaultRedactor masks (passwords, passphrases, secrets, private
// keys, PSKs) and the OTP, PPS, AddKey's KeyBlob, 802.1X protected access
// credentials and Kerberos master keys. Identifying: host, domain and
// suffix names, UUIDs, MAC and IP addresses, serial numbers and tags, the
// digest realm, certificates and their subject and issuer names, the 802.1X
// domain, the user names and Kerberos SIDs of user ACL entries. Volatile: the host-based setup nonces and signature
// (McNonce, DigitalSignature) and the time values of SetHighAccuracyTimeSynch
// (Ta0, Tm1, Tm2).
func AMTPolicy() Policy {
	id := make(map[string]Kind, len(amtIdentifying))
	for k, v := range amtIdentifying {
		id[k] = v
	}
	return Policy{
		Name: "amt/1",
		Secret: func(_, local string) bool {
			return amtSecrets[local] || strings.EqualFold(local, "otp")
		},
		Identifying: id,
		NotSecret:   []string{"PasswordModel", "AMT_PublicPrivateKeyPair"},
		Volatile:    []string{"McNonce", "DigitalSignature", "Ta0", "Tm1", "Tm2"},
	}
}
