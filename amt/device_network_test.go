package amt

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// networkResponses are amtkit's own network vectors
// (internal/testvectors/data/amt_network.json).
func networkResponses(t testing.TB, names ...string) responses {
	t.Helper()
	raw := testvectors.ResponseEnvelopes(t, "amt_network")
	rs := make(responses, len(names))
	for _, n := range names {
		b, ok := raw[n]
		require.True(t, ok, "no own network vector %q", n)
		env, err := wsman.ParseEnvelope(b, 0)
		require.NoError(t, err, n)
		rs[n] = env
	}
	return rs
}

var networkSource = vectorSource{"own", networkResponses}

// Every own vector decodes with its binding's parser.
func TestNetworkVectorsDecode(t *testing.T) {
	rs := networkResponses(t, "amt/ethernetport/get", "amt/ethernetport/pull", "amt/wifiportconfiguration/get",
		"cim/wifi/endpointsettings/pull", "cim/ieee8021x/settings/pull", "cim/credential/context/pull", "cim/wifi/port/get",
		"amt/boot/capabilities/get")
	eth, err := parseEthernetPortSettings(rs.content(t, "amt/ethernetport/get"))
	require.NoError(t, err)
	s, ok := eth.Static()
	require.True(t, ok)
	assert.Equal(t, StaticIPv4{Address: netip.MustParsePrefix("10.0.0.20/24"), Gateway: netip.MustParseAddr("10.0.0.1"),
		PrimaryDNS: netip.MustParseAddr("10.0.0.2"), SecondaryDNS: netip.MustParseAddr("10.0.0.3")}, s)
	assert.Equal(t, []uint32{1, 14, 16}, eth.LinkPolicy)
	assert.False(t, eth.Wireless())
	cfg, err := parseWiFiPortConfiguration(rs.content(t, "amt/wifiportconfiguration/get"))
	require.NoError(t, err)
	assert.Equal(t, LocalSyncUnrestricted, cfg.LocalProfileSynchronization)
	assert.True(t, cfg.LocalProfileSynchronization.Enabled())
	assert.True(t, cfg.UEFIWiFiProfileShareEnabled)
	assert.Equal(t, "Contoso", cfg.LastConnectedSsidUnderMeControl)
	port, err := parseWiFiPort(rs.content(t, "cim/wifi/port/get"))
	require.NoError(t, err)
	assert.Equal(t, WiFiEnabledS0SxAC, port.EnabledState)
	assert.Equal(t, "enabled in S0 and Sx on AC", port.EnabledState.String())
	assert.Equal(t, "WiFiPortState(7)", WiFiPortState(7).String())
}

// The Ethernet bindings against the own vectors and the recorded responses:
// what Get reads, what Put sends in each mode.
func TestEthernetPortSettingsVectors(t *testing.T) {
	for _, src := range []vectorSource{networkSource, recordedSource} {
		t.Run(src.name, func(t *testing.T) {
			rs := src.load(t, "amt/ethernetport/get", "amt/ethernetport/pull")
			ctx := context.Background()
			var putBody *etree.Element
			items := rs.items(t, "amt/ethernetport/pull")
			var enums wsmantest.Enumerations
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				switch r.Action {
				case wsman.ActionPut:
					putBody = wsman.Detach(r.Input)
					return wsmantest.PutResponse(r, r.Input)
				case wsman.ActionEnumerate, wsman.ActionPull, wsman.ActionRelease:
					rep, _ := enums.Serve(r, items)
					return rep
				}
				return rs.reply(t, r, "amt/ethernetport/get")
			})
			ports, err := d.EthernetPortSettings(ctx)
			require.NoError(t, err)
			require.Len(t, ports, 2)
			assert.Equal(t, WiredPortSettingsID, ports[0].InstanceID)
			assert.True(t, ports[1].Wireless())
			assert.True(t, ports[0].HasInterface())
			n := len(f.requests())
			p, err := d.EthernetPort(ctx, WiredPortSettingsID)
			require.NoError(t, err)
			get := f.requests()[n]
			assert.Equal(t, URIEthernetPortSettings, get.ResourceURI)
			id, _ := get.Selectors.Get("InstanceID")
			assert.Equal(t, WiredPortSettingsID, id)

			// DHCP: the address properties are removed, DHCPEnabled sent.
			p.SetDHCP()
			_, err = d.PutEthernetPortSettings(ctx, p)
			require.NoError(t, err)
			v := values(params(t, putBody))
			assert.Equal(t, []string{"true"}, v["DHCPEnabled"])
			assert.Equal(t, []string{"true"}, v["IpSyncEnabled"])
			assert.Equal(t, []string{"false"}, v["SharedStaticIp"])
			for _, a := range addressProps {
				assert.NotContains(t, v, a)
			}
			assert.Equal(t, []string{"Intel(r) AMT Ethernet Port Settings"}, v["ElementName"], "read-only properties echoed")

			// Static: address, mask, gateway and DNS sent.
			p, err = d.EthernetPort(ctx, WiredPortSettingsID)
			require.NoError(t, err)
			require.NoError(t, p.SetStatic(StaticIPv4{Address: netip.MustParsePrefix("192.168.7.9/23"), Gateway: netip.MustParseAddr("192.168.6.1"),
				PrimaryDNS: netip.MustParseAddr("192.168.6.2")}))
			_, err = d.PutEthernetPortSettings(ctx, p)
			require.NoError(t, err)
			v = values(params(t, putBody))
			assert.Equal(t, []string{"false"}, v["DHCPEnabled"])
			assert.Equal(t, []string{"false"}, v["IpSyncEnabled"])
			assert.Equal(t, []string{"192.168.7.9"}, v["IPAddress"])
			assert.Equal(t, []string{"255.255.254.0"}, v["SubnetMask"])
			assert.Equal(t, []string{"192.168.6.1"}, v["DefaultGateway"])
			assert.NotContains(t, v, "SecondaryDNS", "none given: removed")

			// Synchronised with the host's static address.
			p.SetStaticSynced()
			_, err = d.PutEthernetPortSettings(ctx, p)
			require.NoError(t, err)
			v = values(params(t, putBody))
			assert.Equal(t, []string{"true"}, v["SharedStaticIp"])
			assert.NotContains(t, v, "IPAddress")

			_, err = d.PutEthernetPortSettings(ctx, &EthernetPortSettings{})
			assert.ErrorIs(t, err, ErrNotReadFromDevice)
		})
	}
}

func TestStaticIPv4Check(t *testing.T) {
	ok := StaticIPv4{Address: netip.MustParsePrefix("10.0.0.5/24"), Gateway: netip.MustParseAddr("10.0.0.1"), PrimaryDNS: netip.MustParseAddr("10.0.0.2")}
	require.NoError(t, ok.Check())
	assert.Equal(t, "255.255.255.0", ok.Mask())
	for name, s := range map[string]StaticIPv4{
		"IPv6":               {Address: netip.MustParsePrefix("fd00::5/64"), Gateway: ok.Gateway, PrimaryDNS: ok.PrimaryDNS},
		"/32":                {Address: netip.MustParsePrefix("10.0.0.5/32"), Gateway: ok.Gateway, PrimaryDNS: ok.PrimaryDNS},
		"gateway elsewhere":  {Address: ok.Address, Gateway: netip.MustParseAddr("10.9.0.1"), PrimaryDNS: ok.PrimaryDNS},
		"no DNS":             {Address: ok.Address, Gateway: ok.Gateway},
		"IPv6 secondary DNS": {Address: ok.Address, Gateway: ok.Gateway, PrimaryDNS: ok.PrimaryDNS, SecondaryDNS: netip.MustParseAddr("fd00::1")},
	} {
		assert.ErrorIs(t, s.Check(), ErrInvalidArgument, name)
	}
	var e EthernetPortSettings
	assert.ErrorIs(t, e.SetStatic(StaticIPv4{}), ErrInvalidArgument)
	e.SubnetMask, e.IPAddress, e.DefaultGateway, e.PrimaryDNS = "255.0.255.0", "10.0.0.5", "10.0.0.1", "10.0.0.2"
	_, got := e.Static()
	assert.False(t, got, "a mask that is not contiguous")
	// A secondary server reported as 0.0.0.0 is none: the read-back of a
	// static configuration without one must not see a difference.
	e.SubnetMask, e.SecondaryDNS = "255.255.255.0", "0.0.0.0"
	s, got := e.Static()
	require.True(t, got)
	assert.Equal(t, ok, s)
}

// What AddWiFiSettings sends: the endpoint reference, the embedded profile
// and 802.1X settings in their own CIM namespaces, the certificate
// references, in the MOF order; the passphrase is masked in logs.
func TestAddWiFiSettingsRequest(t *testing.T) {
	rs := networkResponses(t, "amt/wifiportconfiguration/addwifisettings", "amt/wifiportconfiguration/addwifisettings-limit")
	ctx := context.Background()
	limit := false
	var logs bytes.Buffer
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if limit {
			return rs.reply(t, r, "amt/wifiportconfiguration/addwifisettings-limit")
		}
		return rs.reply(t, r, "amt/wifiportconfiguration/addwifisettings")
	}, wsman.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	err := d.AddWiFiSettings(ctx, WiFiSettings{
		Endpoint: WiFiEndpointSettings{ElementName: "corp", SSID: "Contoso", Priority: 2, AuthenticationMethod: WiFiAuthWPA2IEEE8021X, EncryptionMethod: WiFiEncryptionCCMP},
		IEEE8021x: &WiFiIEEE8021xSettings{ElementName: "corp", AuthenticationProtocol: EAPTLS, Username: "pc.contoso.com",
			ServerCertificateName: "contoso.com", ServerCertificateNameComparison: ServerNameDomainSuffix},
		ClientCertificate: "Intel(r) AMT Certificate: Handle: 5", CACertificate: "Intel(r) AMT Certificate: Handle: 2",
	})
	require.NoError(t, err)
	ps := requireMethodInput(t, f.only(t), URIWiFiPortConfigurationService, "AddWiFiSettings")
	assert.Equal(t, []string{"WiFiEndpoint", "WiFiEndpointSettingsInput", "IEEE8021xSettingsInput", "ClientCredential", "CACredential"}, names(ps))
	require.NotNil(t, ps[0].EPR)
	assert.Equal(t, URIWiFiEndpoint, ps[0].EPR.ResourceURI)
	name, _ := ps[0].EPR.Selectors.Get("Name")
	assert.Equal(t, "WiFi Endpoint 0", name)
	assert.Equal(t, URIPublicKeyCertificate, ps[3].EPR.ResourceURI)
	id, _ := ps[4].EPR.Selectors.Get("InstanceID")
	assert.Equal(t, "Intel(r) AMT Certificate: Handle: 2", id)

	body := f.only(t).Input
	embeddedIn := func(param, uri string) map[string]string {
		el := wsman.Child(body, URIWiFiPortConfigurationService, param)
		require.NotNil(t, el, param)
		out := map[string]string{}
		for _, c := range el.ChildElements() {
			assert.Equal(t, uri, c.NamespaceURI(), "%s.%s is in the embedded class's namespace", param, c.Tag)
			out[c.Tag] = wsman.Text(c)
		}
		return out
	}
	// Both embedded instances carry the InstanceID the firmware gives them,
	// as rpc-go, RPS, Intel's console and MeshCentral send it.
	// In the order the peers send (go-wsman-messages cim/wifi and
	// cim/models); BSSType, which no peer sends, left out.
	order := func(param string) []string {
		var tags []string
		for _, c := range wsman.Child(body, URIWiFiPortConfigurationService, param).ChildElements() {
			tags = append(tags, c.Tag)
		}
		return tags
	}
	ep := embeddedIn("WiFiEndpointSettingsInput", URIWiFiEndpointSettings)
	assert.Equal(t, map[string]string{"AuthenticationMethod": "7", "ElementName": "corp", "EncryptionMethod": "4",
		"InstanceID": "Intel(r) AMT:WiFi Endpoint Settings corp", "Priority": "2", "SSID": "Contoso"}, ep)
	assert.Equal(t, []string{"ElementName", "InstanceID", "AuthenticationMethod", "EncryptionMethod", "SSID", "Priority"},
		order("WiFiEndpointSettingsInput"))
	x := embeddedIn("IEEE8021xSettingsInput", URICIMIEEE8021xSettings)
	assert.Equal(t, map[string]string{"AuthenticationProtocol": "0", "ElementName": "corp", "InstanceID": "Intel(r) AMT:IEEE 802.1x Settings corp",
		"ServerCertificateName": "contoso.com", "ServerCertificateNameComparison": "3", "Username": "pc.contoso.com"}, x)
	assert.Equal(t, []string{"ElementName", "InstanceID", "AuthenticationProtocol", "ServerCertificateName", "ServerCertificateNameComparison", "Username"},
		order("IEEE8021xSettingsInput"))

	// A personal profile carries its passphrase, masked in the client's log.
	logs.Reset()
	require.NoError(t, d.AddWiFiSettings(ctx, WiFiSettings{Endpoint: WiFiEndpointSettings{ElementName: "guest", SSID: "Guest", Priority: 1,
		AuthenticationMethod: WiFiAuthWPA2PSK, EncryptionMethod: WiFiEncryptionCCMP, PSKPassPhrase: NewSecret("Very-secret-wifi-9")}}))
	body = f.requests()[1].Input
	assert.Equal(t, "Very-secret-wifi-9", embeddedIn("WiFiEndpointSettingsInput", URIWiFiEndpointSettings)["PSKPassPhrase"])
	assert.Nil(t, wsman.Child(body, URIWiFiPortConfigurationService, "IEEE8021xSettingsInput"))
	assert.NotContains(t, logs.String(), "Very-secret-wifi-9")

	// The return value is the CIM family: 32768 + PT_STATUS.
	limit = true
	err = d.AddWiFiSettings(ctx, WiFiSettings{Endpoint: WiFiEndpointSettings{ElementName: "n9", SSID: "N9", Priority: 9,
		AuthenticationMethod: WiFiAuthWPA2PSK, EncryptionMethod: WiFiEncryptionCCMP, PSKPassPhrase: NewSecret("12345678")}})
	var rv *ReturnValueError
	require.ErrorAs(t, err, &rv)
	assert.Equal(t, "CIM", rv.Family())
	assert.ErrorIs(t, err, StatusMaxLimitReached)

	// Refused before anything is sent.
	for _, s := range []WiFiSettings{
		{Endpoint: WiFiEndpointSettings{SSID: "x", AuthenticationMethod: WiFiAuthWPA2PSK, PSKPassPhrase: NewSecret("12345678")}},
		{Endpoint: WiFiEndpointSettings{ElementName: "a", SSID: "x", AuthenticationMethod: WiFiAuthWPA2PSK, PSKPassPhrase: NewSecret("short")}},
		{Endpoint: WiFiEndpointSettings{ElementName: "a", SSID: "x", AuthenticationMethod: WiFiAuthWPA2IEEE8021X}},
		{Endpoint: WiFiEndpointSettings{ElementName: "a", SSID: "x", AuthenticationMethod: WiFiAuthWPA2IEEE8021X}, IEEE8021x: &WiFiIEEE8021xSettings{Username: "u"}},
		// A client certificate with PEAP (RPS sends none).
		{Endpoint: WiFiEndpointSettings{ElementName: "a", SSID: "x", AuthenticationMethod: WiFiAuthWPA2IEEE8021X},
			IEEE8021x: &WiFiIEEE8021xSettings{Username: "u", AuthenticationProtocol: EAPPEAPv0MSCHAPv2, Password: NewSecret("p")}, ClientCertificate: "Intel(r) AMT Certificate: Handle: 1"},
	} {
		assert.ErrorIs(t, d.AddWiFiSettings(ctx, s), ErrInvalidArgument)
	}
	assert.ErrorIs(t, d.UpdateWiFiSettings(ctx, WiFiSettings{}), ErrInvalidArgument, "no InstanceID")
	assert.Len(t, f.requests(), 3)
}

// UpdateWiFiSettings addresses the profile by its InstanceID and sends the
// 802.1X settings under the name the firmware gave them when the caller
// names none, or under the caller's.
func TestUpdateWiFiSettingsRequest(t *testing.T) {
	ctx := context.Background()
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0))
	})
	s := WiFiSettings{
		Endpoint: WiFiEndpointSettings{InstanceID: "Intel(r) AMT:WiFi Endpoint Settings corp", ElementName: "corp", SSID: "Contoso", Priority: 2,
			AuthenticationMethod: WiFiAuthWPA2IEEE8021X, EncryptionMethod: WiFiEncryptionCCMP},
		IEEE8021x:         &WiFiIEEE8021xSettings{ElementName: "corp", AuthenticationProtocol: EAPTLS, Username: "pc.contoso.com"},
		ClientCertificate: "Intel(r) AMT Certificate: Handle: 6",
	}
	require.NoError(t, d.UpdateWiFiSettings(ctx, s))
	s.IEEE8021x = &WiFiIEEE8021xSettings{InstanceID: "Intel(r) AMT:IEEE 802.1x Settings other", ElementName: "corp", AuthenticationProtocol: EAPTLS, Username: "u"}
	require.NoError(t, d.UpdateWiFiSettings(ctx, s))
	reqs := f.requests()
	require.Len(t, reqs, 2)
	for i, want := range []string{"Intel(r) AMT:IEEE 802.1x Settings corp", "Intel(r) AMT:IEEE 802.1x Settings other"} {
		ps := requireMethodInput(t, reqs[i], URIWiFiPortConfigurationService, "UpdateWiFiSettings")
		assert.Equal(t, []string{"WiFiEndpointSettings", "WiFiEndpointSettingsInput", "IEEE8021xSettingsInput", "ClientCredential"}, names(ps))
		id, _ := ps[0].EPR.Selectors.Get("InstanceID")
		assert.Equal(t, "Intel(r) AMT:WiFi Endpoint Settings corp", id)
		x := wsman.Child(reqs[i].Input, URIWiFiPortConfigurationService, "IEEE8021xSettingsInput")
		require.NotNil(t, x)
		assert.Equal(t, want, wsman.Text(wsman.Child(x, URICIMIEEE8021xSettings, "InstanceID")))
	}
}

// The Wi-Fi reads against the own vectors and, where recorded, the recorded
// responses.
func TestWiFiReadVectors(t *testing.T) {
	for _, src := range []vectorSource{networkSource, recordedSource} {
		t.Run(src.name, func(t *testing.T) {
			names := []string{"cim/wifi/endpointsettings/pull", "cim/ieee8021x/settings/pull", "cim/credential/context/pull",
				"cim/wifi/port/get", "amt/wifiportconfiguration/get", "cim/wifi/port/requeststatechange"}
			rs := src.load(t, names...)
			ctx := context.Background()
			var sent *etree.Element
			lists := map[string][]*etree.Element{
				URIWiFiEndpointSettings: rs.items(t, "cim/wifi/endpointsettings/pull"),
				URICIMIEEE8021xSettings: rs.items(t, "cim/ieee8021x/settings/pull"),
				URICIMCredentialContext: rs.items(t, "cim/credential/context/pull"),
				URIWiFiPort:             {rs.content(t, "cim/wifi/port/get")}, // enumerated, as Intel's console reads it
			}
			var enums wsmantest.Enumerations
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				enumeration := r.Action == wsman.ActionEnumerate || r.Action == wsman.ActionPull || r.Action == wsman.ActionRelease
				if items, ok := lists[r.ResourceURI]; ok && enumeration {
					rep, _ := enums.Serve(r, items)
					return rep
				}
				switch r.ResourceURI {
				case URIWiFiPortConfigurationService:
					if r.Action == wsman.ActionPut {
						sent = wsman.Detach(r.Input)
						return wsmantest.PutResponse(r, r.Input)
					}
					return rs.reply(t, r, "amt/wifiportconfiguration/get")
				}
				if r.Action == wsman.ActionGet {
					return rs.reply(t, r, "cim/wifi/port/get")
				}
				return rs.reply(t, r, "cim/wifi/port/requeststatechange")
			})
			profiles, err := d.WiFiProfiles(ctx)
			require.NoError(t, err)
			require.NotEmpty(t, profiles)
			ieee, err := d.WiFiIEEE8021xSettings(ctx)
			require.NoError(t, err)
			require.NotEmpty(t, ieee)
			ctxs, err := d.CredentialContexts(ctx)
			require.NoError(t, err)
			require.NotEmpty(t, ctxs)
			assert.Equal(t, URICIMIEEE8021xSettings, ctxs[0].ElementProvidingContext.ResourceURI)
			port, err := d.WiFiPort(ctx)
			require.NoError(t, err)
			assert.Equal(t, "WiFi Port 0", port.DeviceID)
			// A platform without a wireless interface enumerates no port
			// (console issue 1057).
			lists[URIWiFiPort] = nil
			_, err = d.WiFiPort(ctx)
			assert.ErrorIs(t, err, ErrNotFound)
			lists[URIWiFiPort] = []*etree.Element{rs.content(t, "cim/wifi/port/get")}
			require.NoError(t, d.RequestWiFiPortState(ctx, WiFiEnabledS0SxAC))
			assert.ErrorIs(t, d.RequestWiFiPortState(ctx, WiFiPortState(9)), ErrInvalidArgument)
			cfg, err := d.WiFiPortConfiguration(ctx)
			require.NoError(t, err)
			cfg.LocalProfileSynchronization = LocalSyncDisabled
			_, err = d.PutWiFiPortConfiguration(ctx, cfg)
			require.NoError(t, err)
			v := values(params(t, sent))
			assert.Equal(t, []string{"0"}, v["localProfileSynchronizationEnabled"], "always sent")
			if src.name == "recorded" {
				assert.Equal(t, "Test", profiles[0].ElementName)
				assert.Equal(t, WiFiAuthenticationMethod(2), profiles[0].AuthenticationMethod, "a hand-made recording: Open System")
				assert.Equal(t, "Wifi8021xTLS", ieee[0].ElementName)
				assert.Equal(t, "iME$amt16$", ieee[0].Username)
				return
			}
			assert.Equal(t, []string{"guest", "corp"}, []string{profiles[0].ElementName, profiles[1].ElementName})
			assert.True(t, profiles[1].AuthenticationMethod.IEEE8021X())
			assert.True(t, profiles[0].AuthenticationMethod.PSK())
			assert.Equal(t, ServerNameDomainSuffix, ieee[0].ServerCertificateNameComparison)
			assert.Equal(t, "Intel(r) AMT Certificate: Handle: 5", ctxs[0].CertificateInstanceID())
		})
	}
}

func TestUEFIWiFiProfileShareSupported(t *testing.T) {
	for _, tc := range []struct {
		src  vectorSource
		want bool
	}{{networkSource, true}, {recordedSource, false}} {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "amt/boot/capabilities/get")
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return rs.reply(t, r, "amt/boot/capabilities/get") })
			ok, err := d.UEFIWiFiProfileShareSupported(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tc.want, ok, "the recorded device predates the property")
			assert.Equal(t, URIBootCapabilities, f.only(t).ResourceURI)
		})
	}
}

// The recorded Wi-Fi method responses decode as their methods' outputs.
func TestWiFiRecordedMethodOutputs(t *testing.T) {
	rs := recordedResponses(t, "amt/wifiportconfiguration/addwifisettings", "amt/wifiportconfiguration/updatewifisettings",
		"cim/wifi/port/requeststatechange", "amt/wifiportconfiguration/put", "amt/wifiportconfiguration/putlocalprofilesyncdisabled",
		"amt/wifiportconfiguration/pull", "amt/ethernetport/put")
	for name, m := range map[string][2]string{
		"amt/wifiportconfiguration/addwifisettings":    {URIWiFiPortConfigurationService, "AddWiFiSettings"},
		"amt/wifiportconfiguration/updatewifisettings": {URIWiFiPortConfigurationService, "UpdateWiFiSettings"},
		"cim/wifi/port/requeststatechange":             {URIWiFiPort, "RequestStateChange"},
	} {
		_, err := checkOutput(rs.envelope(t, name), m[0], m[1])
		assert.NoError(t, err, name)
	}
	for _, name := range []string{"amt/wifiportconfiguration/put", "amt/wifiportconfiguration/putlocalprofilesyncdisabled"} {
		cfg, err := parseWiFiPortConfiguration(rs.content(t, name))
		require.NoError(t, err, name)
		assert.False(t, cfg.UEFIWiFiProfileShareEnabled)
	}
	put, err := parseEthernetPortSettings(rs.content(t, "amt/ethernetport/put"))
	require.NoError(t, err)
	assert.True(t, put.SharedStaticIP)
	assert.Equal(t, "192.168.0.24", put.IPAddress)
	_, err = parseWiFiPortConfiguration(rs.content(t, "amt/ethernetport/put"))
	assert.True(t, errors.Is(err, ErrBadResponse), "another class's instance is refused")
}

// Every strict prefix of every own network vector is refused whole (the
// envelope does not parse), so no decoder sees half a response.
func TestNetworkVectorPrefixesFail(t *testing.T) {
	for name, b := range testvectors.ResponseEnvelopes(t, "amt_network") {
		_, err := wsman.ParseEnvelope(b, 0)
		require.NoError(t, err, name)
		for n := 0; n < len(b); n++ {
			if _, err := wsman.ParseEnvelope(b[:n], 0); err == nil {
				t.Fatalf("%s: the %d-byte prefix of %d parsed", name, n, len(b))
			}
		}
	}
}
