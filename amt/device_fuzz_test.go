package amt

import (
	"crypto/x509"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// fuzzSeeds renders a few AMT-shaped responses.
func fuzzSeeds(f *testing.F) {
	req := &wsmantest.Request{MessageID: "uuid:1", ResourceURI: URISetupAndConfigurationService, Action: URISetupAndConfigurationService + "/GetUuid"}
	for _, body := range []*etree.Element{
		wsmantest.ReturnValue(req, 0, wsman.Prop("UUID", "E67jVdK/u2EXoIiu3XA36g==")),
		inProvisioning(),
		instance(URIGeneralSettings, wsman.Prop("DigestRealm", "Digest:F3EB554784E729164447A89F60B641C5"), wsman.Prop("HostName", "h")),
		instance(URIHostBasedSetupService, wsman.Prop("AllowedControlModes", "2"), wsman.Prop("AllowedControlModes", "1"),
			wsman.Prop("ConfigurationNonce", "4P3sY7swlhjkhJNxDkEBIUcmpHE=")),
		instance(URITLSCredentialContext,
			wsman.PropEPR("ElementInContext", instanceEPR(URIPublicKeyCertificate, "Intel(r) AMT Certificate: Handle: 3")),
			wsman.PropEPR("ElementProvidingContext", (&TLSProtocolEndpointCollection{ElementName: TLSCollectionName}).EPR())),
		wsman.NewElement(URIAuthorizationService, "EnumerateUserAclEntries_OUTPUT", wsman.Prop("TotalCount", "2"),
			wsman.Prop("HandlesCount", "2"), wsman.Prop("Handles", "1"), wsman.Prop("Handles", "2"), wsman.Prop("ReturnValue", "0")),
		instance(URIPublicPrivateKeyPair, wsman.Prop("DERKey", "MAA="), wsman.Prop("InstanceID", "Intel(r) AMT Key: Handle: 0")),
	} {
		b, err := wsmantest.Marshal(req, wsmantest.Reply{Action: "x", Body: []*etree.Element{body}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodeResponses feeds arbitrary envelopes to every response parser of
// Device: none may panic, and a parser that succeeds on its own class must
// give a value whose re-encoding (for the Put-able instances) succeeds too.
func FuzzDecodeResponses(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := wsman.ParseEnvelope(b, 0)
		if err != nil {
			return
		}
		el := env.Content()
		if el == nil {
			return
		}
		if gs, err := parseGeneralSettings(el); err == nil {
			gs.HostName += "x"
			if _, err := gs.src.edited(gs, nil, nil); err != nil {
				t.Fatalf("edit of a decoded instance failed: %v", err)
			}
		}
		if s, err := parseSetupAndConfiguration(el); err == nil {
			if _, err := s.src.edited(s, nil, []string{propOTP}); err != nil {
				t.Fatalf("edit of a decoded instance failed: %v", err)
			}
		}
		_, _ = parseHostBasedSetup(el)
		_, _ = parseSoftwareIdentity([]*etree.Element{el})
		_, _ = parsePublicKeyCertificate(el)
		if k, err := parseKeyPair(el); err == nil {
			_, _ = k.PublicKey()
		}
		if s, err := parseTLSSettingData(el); err == nil {
			if _, err := s.src.edited(s, []string{"MutualAuthentication"}, nil); err != nil {
				t.Fatalf("edit of a decoded instance failed: %v", err)
			}
		}
		_, _ = parseCredentialContext(el, URITLSCredentialContext)
		_, _ = parseIEEE8021xSettings(el)
		_, _ = parseIEEE8021xProfile(el)
		_, _ = parseGetUuidOutput(el)
		_, _ = parseUserACLPage(el)
		_, _ = parseUserACLEntry(el, 1)
		_, _ = parseBoolOutput(el, "IsDefault")
		_, _ = parseUint32Output(el, "Ta0")
		_, _ = parseSignedCSR(el)
		_, _ = createdInstanceID(el, "CreatedCertificate")
		// Remote access and redirection (CIRA, KVM, consent).
		_, _ = parseMPServer(el)
		_, _ = parseRemoteAccessPolicyRule(el)
		if p, err := parsePolicyAppliesToMPS(el); err == nil {
			_, _ = p.src.edited(p, nil, nil)
		}
		if s, err := parseEnvironmentDetection(el); err == nil {
			_, _ = s.src.edited(s, nil, nil)
		}
		_, _ = parseRedirectionService(el)
		_, _ = parseKVMSettings(el)
		_, _ = parseOptInService(el)
		for _, uri := range []string{URISetupAndConfigurationService, URIHostBasedSetupService, URIAuthorizationService} {
			for _, m := range []string{"GetUuid", "CommitChanges", "AdminSetup", "EnumerateUserAclEntries"} {
				_, _ = checkOutput(env, uri, m)
			}
		}
	})
}

// FuzzDeviceStrings: the decoders of single strings a device reports — a
// firmware version, the AMT status of a fault's detail — never panic.
func FuzzDeviceStrings(f *testing.F) {
	for _, s := range []string{"16.1.25", "11.8.50.3399", "", "1..2", "99999999999.1.1", "AMT-STATUS: 0x0801", "2058"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseVersion(s)
		_, _ = parseFaultStatus(s)
	})
}

// FuzzParseDERKey: DERKey parsing never panics, and what parses as PKCS#1
// re-encodes to the same bytes.
func FuzzParseDERKey(f *testing.F) {
	testChain(f)
	f.Add(x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey))
	spki, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	f.Add(spki)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		k, err := ParseDERKey(der)
		if err != nil {
			return
		}
		if k == nil {
			t.Fatal("nil key without error")
		}
	})
}
