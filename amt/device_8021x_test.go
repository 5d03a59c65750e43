package amt

import (
	"context"
	"fmt"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIEEE8021xSettingsRecorded(t *testing.T) {
	tests := []struct {
		src           vectorSource
		availableInS0 bool
		pxeTimeout    uint32
	}{
		{ownSource, true, 60},
		{recordedSource, false, 120},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "ips/ieee8021x/settings/get", "ips/ieee8021x/settings/pull")
			ctx := context.Background()
			var putBody *etree.Element
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				switch r.Action {
				case wsman.ActionPut:
					putBody = wsman.Detach(r.Input)
					return wsmantest.PutResponse(r, r.Input)
				}
				return rs.reply(t, r, "ips/ieee8021x/settings/get")
			})
			s, err := d.IEEE8021xSettings(ctx)
			require.NoError(t, err)
			get := f.only(t)
			assert.Equal(t, URIIEEE8021xSettings, get.ResourceURI)
			assert.Empty(t, get.Selectors)
			assert.Equal(t, "Intel(r) AMT: 8021X Settings", s.InstanceID)
			assert.Equal(t, IEEE8021xDisabled, s.Enabled)
			assert.Equal(t, "Disabled", s.Enabled.String())
			assert.Equal(t, tc.pxeTimeout, s.PxeTimeout)
			assert.Equal(t, tc.availableInS0, s.AvailableInS0)

			// RPS's wired EAP-TLS flow: Enabled 2, EAP-TLS, user name, available in S0.
			s.Enabled = IEEE8021xEnabledWithCertificates
			s.AuthenticationProtocol = EAPTLS
			s.Username = "amt-host1"
			s.AvailableInS0 = true
			s.Password = NewSecret("ignored-for-tls")
			out, err := d.PutIEEE8021xSettings(ctx, s)
			require.NoError(t, err)
			assert.Equal(t, IEEE8021xEnabledWithCertificates, out.Enabled)
			put := f.requests()[1]
			assert.Equal(t, wsman.ActionPut, put.Action)
			assert.Empty(t, put.Selectors, "IPS_IEEE8021xSettings is a singleton")
			ps := params(t, putBody)
			assert.Equal(t, []string{"AuthenticationProtocol", "AvailableInS0", "ElementName", "Enabled", "InstanceID", "PxeTimeout", "Username"}, names(ps))
			assert.Equal(t, map[string][]string{
				"AuthenticationProtocol": {"0"}, "AvailableInS0": {"true"}, "ElementName": {"Intel(r) AMT: 8021X Settings"},
				"Enabled": {"2"}, "InstanceID": {"Intel(r) AMT: 8021X Settings"}, "PxeTimeout": {fmt.Sprint(tc.pxeTimeout)}, "Username": {"amt-host1"},
			}, values(ps), "AuthenticationProtocol 0 is sent although the device omitted it; no password for EAP-TLS")

			// PEAP sends the password.
			s, err = d.IEEE8021xSettings(ctx)
			require.NoError(t, err)
			s.Enabled = IEEE8021xEnabledWithoutCertificates
			s.AuthenticationProtocol = EAPPEAPv0MSCHAPv2
			s.Password = NewSecret("radius-pw")
			_, err = d.PutIEEE8021xSettings(ctx, s)
			require.NoError(t, err)
			v := values(params(t, putBody))
			assert.Equal(t, []string{"radius-pw"}, v["Password"])
			assert.Equal(t, []string{"2"}, v["AuthenticationProtocol"])

			_, err = d.PutIEEE8021xSettings(ctx, &IEEE8021xSettings{})
			require.ErrorIs(t, err, ErrNotReadFromDevice)

			items := rs.items(t, "ips/ieee8021x/settings/pull")
			require.Len(t, items, 1)
			s2, err := parseIEEE8021xSettings(items[0])
			require.NoError(t, err)
			assert.Equal(t, tc.pxeTimeout, s2.PxeTimeout)
		})
	}
}

// TestIEEE8021xSettingsEAPTLSDropsSecrets: for EAP-TLS the secrets a device
// might hold are removed from the echoed instance.
func TestIEEE8021xSettingsEAPTLSDropsSecrets(t *testing.T) {
	stored := instance(URIIEEE8021xSettings,
		wsman.Prop("AuthenticationProtocol", "2"),
		wsman.Prop("ElementName", "Intel(r) AMT: 8021X Settings"),
		wsman.Prop("Enabled", "6"),
		wsman.Prop("InstanceID", "Intel(r) AMT: 8021X Settings"),
		wsman.Prop("PACPassword", "x"),
		wsman.Prop("PSK", "AAAA"),
		wsman.Prop("Password", "y"),
		wsman.Prop("ProtectedAccessCredential", "AAAA"))
	var putBody *etree.Element
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if r.Action == wsman.ActionPut {
			putBody = wsman.Detach(r.Input)
			return wsmantest.PutResponse(r, r.Input)
		}
		return wsmantest.GetResponse(r, stored)
	})
	s, err := d.IEEE8021xSettings(context.Background())
	require.NoError(t, err)
	s.AuthenticationProtocol = EAPTLS
	s.Enabled = IEEE8021xEnabledWithCertificates
	_, err = d.PutIEEE8021xSettings(context.Background(), s)
	require.NoError(t, err)
	assert.Equal(t, []string{"AuthenticationProtocol", "ElementName", "Enabled", "InstanceID"}, names(params(t, putBody)))
}

func TestIEEE8021xSettingsUnsupported(t *testing.T) {
	// A wireless-only unit has no IPS_IEEE8021xSettings: DestinationUnreachable.
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	})
	_, err := d.IEEE8021xSettings(context.Background())
	require.ErrorIs(t, err, wsman.ErrDestinationUnreachable)
}

func TestSetIEEE8021xCertificates(t *testing.T) {
	ctx := context.Background()
	rs := ownResponses(t, "ips/ieee8021x/settings/setcertificates")
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return rs.reply(t, r, "ips/ieee8021x/settings/setcertificates")
	})
	require.NoError(t, d.SetIEEE8021xCertificates(ctx, "Intel(r) AMT Certificate: Handle: 1", "Intel(r) AMT Certificate: Handle: 2"))
	ps := requireMethodInput(t, f.only(t), URIIEEE8021xSettings, "SetCertificates")
	assert.Equal(t, []string{"ServerCertificateIssuer", "ClientCertificate"}, names(ps))
	for i, id := range []string{"Intel(r) AMT Certificate: Handle: 1", "Intel(r) AMT Certificate: Handle: 2"} {
		require.NotNil(t, ps[i].EPR, "%s is an EPR", ps[i].Name)
		assert.Equal(t, instanceEPR(URIPublicKeyCertificate, id).Selectors, ps[i].EPR.Selectors)
		assert.Equal(t, URIPublicKeyCertificate, ps[i].EPR.ResourceURI)
	}

	d, f = newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
	require.NoError(t, d.SetIEEE8021xCertificates(ctx, "", "Intel(r) AMT Certificate: Handle: 2"))
	assert.Equal(t, []string{"ClientCertificate"}, names(params(t, f.only(t).Input)), "an absent optional EPR is omitted")
	require.ErrorIs(t, d.SetIEEE8021xCertificates(ctx, "", ""), ErrInvalidArgument)
}

func TestIEEE8021xCredentialContexts(t *testing.T) {
	for _, src := range []vectorSource{ownSource, recordedSource} {
		t.Run(src.name, func(t *testing.T) { testIEEE8021xCredentialContexts(t, src) })
	}
}

func testIEEE8021xCredentialContexts(t *testing.T, src vectorSource) {
	ctx := context.Background()
	legacyItems := src.load(t, "amt/ieee8021x/credentialcontext/pull").items(t, "amt/ieee8021x/credentialcontext/pull")
	cc := instance(URIIEEE8021xCredentialContext,
		wsman.PropEPR("ElementInContext", instanceEPR(URIPublicKeyCertificate, "Intel(r) AMT Certificate: Handle: 2")),
		wsman.PropEPR("ElementProvidingContext", instanceEPR(URIIEEE8021xSettings, "Intel(r) AMT: 8021X Settings")))
	d, f := newFake(t, nil)
	f.handle(func(r *wsmantest.Request) wsmantest.Reply {
		if r.ResourceURI == URIAMT8021xCredentialContext {
			rep, _ := f.enums.Serve(r, legacyItems)
			return rep
		}
		rep, _ := f.enums.Serve(r, []*etree.Element{cc})
		return rep
	})
	ccs, err := d.IEEE8021xCredentialContexts(ctx)
	require.NoError(t, err)
	require.Len(t, ccs, 1)
	assert.Equal(t, "Intel(r) AMT Certificate: Handle: 2", ccs[0].CertificateInstanceID())
	assert.Equal(t, URIIEEE8021xSettings, ccs[0].ElementProvidingContext.ResourceURI)
	assert.Equal(t, URIIEEE8021xCredentialContext, f.requests()[0].ResourceURI)

	// The legacy association list is empty.
	legacy, err := d.AMT8021xCredentialContexts(ctx)
	require.NoError(t, err)
	assert.Empty(t, legacy)

	// An item of another class is refused.
	d, f = newFake(t, nil)
	f.handle(func(r *wsmantest.Request) wsmantest.Reply {
		rep, _ := f.enums.Serve(r, []*etree.Element{instance(URITLSCredentialContext)})
		return rep
	})
	_, err = d.IEEE8021xCredentialContexts(ctx)
	require.ErrorIs(t, err, ErrBadResponse)
	d, f = newFake(t, nil)
	f.handle(func(r *wsmantest.Request) wsmantest.Reply {
		rep, _ := f.enums.Serve(r, []*etree.Element{instance(URIIEEE8021xCredentialContext, wsman.Prop("ElementInContext", ""))})
		return rep
	})
	_, err = d.IEEE8021xCredentialContexts(ctx)
	require.ErrorIs(t, err, ErrBadResponse)
}

func TestIEEE8021xProfileRecorded(t *testing.T) {
	tests := []struct {
		src              vectorSource
		activeInS0       bool
		pxeTimeout       uint32
		storedPxeTimeout uint32 // in the PutResponse
	}{
		{ownSource, false, 30, 30},
		{recordedSource, true, 0, 120},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			ctx := context.Background()
			rs := tc.src.load(t, "amt/ieee8021x/profile/get", "amt/ieee8021x/profile/put", "amt/ieee8021x/profile/pull")
			var putBody *etree.Element
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				if r.Action == wsman.ActionPut {
					putBody = wsman.Detach(r.Input)
					return rs.reply(t, r, "amt/ieee8021x/profile/put")
				}
				return rs.reply(t, r, "amt/ieee8021x/profile/get")
			})
			p, err := d.IEEE8021xProfile(ctx)
			require.NoError(t, err)
			get := f.only(t)
			assert.Equal(t, URI8021XProfile, get.ResourceURI)
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT 802.1x Profile 0")}, get.Selectors)
			assert.Equal(t, "Intel(r) AMT 802.1x Profile 0", p.InstanceID)
			assert.Equal(t, "Intel(r) AMT 802.1x Profile", p.ElementName)
			assert.Equal(t, tc.activeInS0, p.ActiveInS0)
			assert.False(t, p.Enabled)
			assert.Equal(t, tc.pxeTimeout, p.PxeTimeout)

			p.Enabled = true
			p.Username = "host1"
			p.Password = NewSecret("pw-1")
			p.ClientCertificate = "Intel(r) AMT Certificate: Handle: 2"
			p.ServerCertificateIssuer = "Intel(r) AMT Certificate: Handle: 1"
			out, err := d.PutIEEE8021xProfile(ctx, p)
			require.NoError(t, err)
			assert.Equal(t, tc.storedPxeTimeout, out.PxeTimeout, "the PutResponse is read back")
			put := f.requests()[1]
			assert.Equal(t, wsman.ActionPut, put.Action)
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT 802.1x Profile 0")}, put.Selectors)
			ps := params(t, putBody)
			assert.Equal(t, []string{"ActiveInS0", "ClientCertificate", "ElementName", "Enabled", "InstanceID", "Password", "PxeTimeout", "ServerCertificateIssuer", "Username"}, names(ps),
				"EPR-valued properties take their alphabetical places")
			byName := map[string]param{}
			for _, x := range ps {
				byName[x.Name] = x
			}
			for name, id := range map[string]string{"ClientCertificate": p.ClientCertificate, "ServerCertificateIssuer": p.ServerCertificateIssuer} {
				require.NotNil(t, byName[name].EPR, name)
				assert.Equal(t, URIPublicKeyCertificate, byName[name].EPR.ResourceURI)
				assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", id)}, byName[name].EPR.Selectors)
			}
			assert.Equal(t, "true", byName["Enabled"].Value)
			assert.Equal(t, "pw-1", byName["Password"].Value)

			_, err = d.PutIEEE8021xProfile(ctx, &IEEE8021xProfile{})
			require.ErrorIs(t, err, ErrNotReadFromDevice)
			items := rs.items(t, "amt/ieee8021x/profile/pull")
			require.Len(t, items, 1)
			_, err = parseIEEE8021xProfile(items[0])
			require.NoError(t, err)
		})
	}
	assert.Equal(t, "IEEE8021xEnabled(9)", IEEE8021xEnabled(9).String())
}
