package amt

import (
	"strings"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecordedResponsesDecode is the inventory of recorded responses
// (../shared/vectors/wsman-responses, mostly real firmware) that Device reads:
// each is decoded, exactly as stored, with the binding's own parser. The
// per-area tests assert the decoded values; this table makes sure no file is
// forgotten and lists the oddities, which must fail the way documented.
func TestRecordedResponsesDecode(t *testing.T) {
	instance := func(parse func(*etree.Element) error) func(*testing.T, *wsman.Envelope) error {
		return func(_ *testing.T, env *wsman.Envelope) error { return parse(env.Content()) }
	}
	pulled := func(parse func(*etree.Element) error) func(*testing.T, *wsman.Envelope) error {
		return func(t *testing.T, env *wsman.Envelope) error {
			pr := wsman.Child(env.Body, wsman.NSEnumeration, "PullResponse")
			require.NotNil(t, pr)
			items, err := wsman.ReadItems(wsman.Child(pr, wsman.NSEnumeration, "Items"))
			require.NoError(t, err)
			for _, it := range items {
				if err := parse(it.Object); err != nil {
					return err
				}
			}
			return nil
		}
	}
	method := func(uri, name string, parse func(*etree.Element) error) func(*testing.T, *wsman.Envelope) error {
		return func(_ *testing.T, env *wsman.Envelope) error {
			out, err := checkOutput(env, uri, name)
			if err != nil {
				return err
			}
			if parse != nil {
				return parse(out)
			}
			return nil
		}
	}
	ignore := func(_ any, err error) error { return err }
	gs := func(el *etree.Element) error { return ignore(parseGeneralSettings(el)) }
	sac := func(el *etree.Element) error { return ignore(parseSetupAndConfiguration(el)) }
	hbs := func(el *etree.Element) error { return ignore(parseHostBasedSetup(el)) }
	cert := func(el *etree.Element) error { return ignore(parsePublicKeyCertificate(el)) }
	key := func(el *etree.Element) error {
		k, err := parseKeyPair(el)
		if err != nil {
			return err
		}
		return ignore(k.PublicKey())
	}
	tlsSD := func(el *etree.Element) error { return ignore(parseTLSSettingData(el)) }
	tlsCC := func(el *etree.Element) error { return ignore(parseCredentialContext(el, URITLSCredentialContext)) }
	coll := func(el *etree.Element) error { return checkInstance(el, URITLSProtocolEndpointCollection) }
	ieee := func(el *etree.Element) error { return ignore(parseIEEE8021xSettings(el)) }
	prof := func(el *etree.Element) error { return ignore(parseIEEE8021xProfile(el)) }
	legacyCC := func(el *etree.Element) error { return ignore(parseCredentialContext(el, URIAMT8021xCredentialContext)) }
	uuid := func(el *etree.Element) error { return ignore(parseGetUuidOutput(el)) }
	created := func(name string) func(*etree.Element) error {
		return func(el *etree.Element) error { return ignore(createdInstanceID(el, name)) }
	}
	boolOut := func(name string) func(*etree.Element) error {
		return func(el *etree.Element) error { return ignore(parseBoolOutput(el, name)) }
	}
	sw := func(t *testing.T, env *wsman.Envelope) error {
		pr := wsman.Child(env.Body, wsman.NSEnumeration, "PullResponse")
		items, err := wsman.ReadItems(wsman.Child(pr, wsman.NSEnumeration, "Items"))
		require.NoError(t, err)
		var els []*etree.Element
		for _, it := range items {
			els = append(els, it.Object)
		}
		return ignore(parseSoftwareIdentity(els))
	}

	tests := []struct {
		file   string
		decode func(*testing.T, *wsman.Envelope) error
		want   error // nil: decodes; otherwise the documented oddity
		why    string
	}{
		{"amt/general/get.xml", instance(gs), nil, ""},
		{"amt/general/pull.xml", pulled(gs), nil, ""},
		{"cim/software/identity/pull.xml", sw, nil, ""},
		{"cim/software/identity/get.xml", func(_ *testing.T, env *wsman.Envelope) error {
			return ignore(parseSoftwareIdentity([]*etree.Element{env.Content()}))
		}, ErrNotFound, "a generic fixture holding AMTApps, not AMT"},
		{"amt/setupandconfiguration/get.xml", instance(sac), nil, ""},
		{"amt/setupandconfiguration/pull.xml", pulled(sac), nil, ""},
		{"amt/setupandconfiguration/commitchanges.xml", method(URISetupAndConfigurationService, "CommitChanges", nil), nil, ""},
		{"amt/setupandconfiguration/setmebxpassword.xml", method(URISetupAndConfigurationService, "SetMEBxPassword", nil), nil, ""},
		{"amt/setupandconfiguration/unprovision.xml", method(URISetupAndConfigurationService, "Unprovision", nil), nil, ""},
		{"amt/setupandconfiguration/partialunprovision.xml", method(URISetupAndConfigurationService, "PartialUnprovision", nil), nil, ""},
		{"amt/setupandconfiguration/getuuid.xml", method(URISetupAndConfigurationService, "GetUuid", uuid), wsman.ErrNoReturnValue, "synthetic: no ReturnValue"},
		{"amt/setupandconfiguration/getuuid.xml", instance(uuid), nil, "its UUID decodes"},
		{"amt/setupandconfiguration/getuuid-bad.xml", instance(uuid), ErrBadResponse, "deliberately bad UUID"},
		{"ips/hostbasedsetup/get.xml", instance(hbs), nil, ""},
		{"ips/hostbasedsetup/pull.xml", pulled(hbs), nil, ""},
		{"ips/hostbasedsetup/setup.xml", method(URIHostBasedSetupService, "Setup", nil), nil, ""},
		{"ips/hostbasedsetup/adminsetup.xml", method(URIHostBasedSetupService, "AdminSetup", nil), nil, ""},
		{"ips/hostbasedsetup/addnextcertinchain.xml", method(URIHostBasedSetupService, "AddNextCertInChain", nil), nil, ""},
		{"ips/hostbasedsetup/upgradeclienttoadmin.xml", method(URIHostBasedSetupService, "UpgradeClientToAdmin", nil), nil, ""},
		{"amt/authorization/setadminaclentryex.xml", method(URIAuthorizationService, "SetAdminAclEntryEx", nil), nil, ""},
		{"amt/authorization/getadminaclentry.xml", method(URIAuthorizationService, "GetAdminAclEntry", nil), nil, ""},
		{"amt/authorization/getadminaclentrystatus.xml", method(URIAuthorizationService, "GetAdminAclEntryStatus", boolOut("IsDefault")), nil, ""},
		{"amt/authorization/getadminnetaclentrystatus.xml", method(URIAuthorizationService, "GetAdminNetAclEntryStatus", boolOut("IsDefault")), nil, ""},
		{"amt/authorization/enumerateuseraclentries.xml", method(URIAuthorizationService, "EnumerateUserAclEntries", func(el *etree.Element) error {
			return ignore(parseUserACLPage(el))
		}), nil, ""},
		{"amt/authorization/getuseraclentryex.xml", method(URIAuthorizationService, "GetUserAclEntryEx", func(el *etree.Element) error {
			return ignore(parseUserACLEntry(el, 1))
		}), nil, ""},
		{"amt/authorization/removeuseraclentry.xml", method(URIAuthorizationService, "RemoveUserAclEntry", nil), nil, ""},
		{"amt/authorization/setaclenabledstate.xml", method(URIAuthorizationService, "SetAclEnabledState", nil), nil, ""},
		{"amt/authorization/getaclenabledstate.xml", method(URIAuthorizationService, "GetAclEnabledState", boolOut("Enabled")), nil, ""},
		{"amt/timesynchronization/getlowaccuracytimesynch.xml", method(URITimeSynchronizationService, "GetLowAccuracyTimeSynch", func(el *etree.Element) error {
			return ignore(parseUint32Output(el, "Ta0"))
		}), nil, ""},
		{"amt/timesynchronization/sethighaccuracytimesynch.xml", method(URITimeSynchronizationService, "SetHighAccuracyTimeSynch", nil), nil, ""},
		{"amt/publickey/management/generatekeypair.xml", method(URIPublicKeyManagementService, "GenerateKeyPair", created("KeyPair")), nil, ""},
		{"amt/publickey/management/addkey.xml", method(URIPublicKeyManagementService, "AddKey", created("CreatedKey")), nil, "its EPR names the wrong class; only the InstanceID is used"},
		{"amt/publickey/management/addcertificate.xml", method(URIPublicKeyManagementService, "AddCertificate", created("CreatedCertificate")), nil, ""},
		{"amt/publickey/management/addtrustedrootcertificate.xml", method(URIPublicKeyManagementService, "AddTrustedRootCertificate", created("CreatedCertificate")), nil, ""},
		{"amt/publickey/management/generatepkcs10requestex.xml", method(URIPublicKeyManagementService, "GeneratePKCS10RequestEx", func(el *etree.Element) error {
			return ignore(parseSignedCSR(el))
		}), ErrBadResponse, "synthetic: SignedCertificateRequest is \"test?\""},
		{"amt/publickey/certificate/get.xml", instance(cert), nil, ""},
		{"amt/publickey/certificate/put.xml", instance(cert), nil, ""},
		{"amt/publickey/certificate/pull.xml", pulled(cert), nil, ""},
		{"amt/publicprivate/get.xml", instance(key), nil, ""},
		{"amt/publicprivate/pull.xml", pulled(key), nil, ""},
		{"amt/tls/settingdata/get.xml", instance(tlsSD), nil, ""},
		{"amt/tls/settingdata/put.xml", instance(tlsSD), nil, ""},
		{"amt/tls/settingdata/pull.xml", pulled(tlsSD), nil, ""},
		{"amt/tls/protocolendpointcollection/get.xml", instance(coll), nil, ""},
		{"amt/tls/protocolendpointcollection/pull.xml", pulled(coll), nil, ""},
		{"amt/tls/credentialcontext/pull.xml", pulled(tlsCC), nil, ""},
		{"amt/tls/credentialcontext/put.xml", instance(tlsCC), nil, ""},
		{"amt/tls/credentialcontext/create.xml", func(_ *testing.T, env *wsman.Envelope) error {
			epr, err := wsman.ParseEPR(wsman.Child(env.Body, wsman.NSTransfer, "ResourceCreated"))
			if err != nil {
				return err
			}
			if _, ok := epr.Selectors.GetEPR("ElementProvidingContext"); !ok {
				return ErrBadResponse
			}
			return nil
		}, nil, ""},
		{"ips/ieee8021x/settings/get.xml", instance(ieee), nil, ""},
		{"ips/ieee8021x/settings/pull.xml", pulled(ieee), nil, ""},
		{"ips/ieee8021x/settings/setcertificates.xml", method(URIIEEE8021xSettings, "SetCertificates", nil), nil, "synthetic action; the body is fine"},
		{"amt/ieee8021x/profile/get.xml", instance(prof), nil, ""},
		{"amt/ieee8021x/profile/put.xml", instance(prof), nil, ""},
		{"amt/ieee8021x/profile/pull.xml", pulled(prof), nil, ""},
		{"amt/ieee8021x/credentialcontext/pull.xml", pulled(legacyCC), nil, "empty list"},
	}
	names := make([]string, 0, len(tests))
	for _, tc := range tests {
		names = append(names, strings.TrimSuffix(tc.file, ".xml"))
	}
	rs := recordedResponses(t, names...) // read here, before any subtest runs
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			err := tc.decode(t, rs.envelope(t, strings.TrimSuffix(tc.file, ".xml")))
			if tc.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.want, tc.why)
			}
		})
	}
}
