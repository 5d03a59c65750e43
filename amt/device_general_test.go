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

// generalOrder is the property order of amt/general/get (alphabetical, as
// AMT writes instances) in each source: the recording comes from a newer
// device (DHCPSyncRequiresHostname, ThunderboltDockEnabled) than the own
// vector's AMT 12 property set.
var generalOrder = map[string][]string{
	"own": {
		"AMTNetworkEnabled", "DDNSPeriodicUpdateInterval", "DDNSTTL", "DDNSUpdateByDHCPServerEnabled",
		"DDNSUpdateEnabled", "DHCPv6ConfigurationTimeout", "DigestRealm",
		"DomainName", "ElementName", "HostName", "HostOSFQDN", "IdleWakeTimeout", "InstanceID",
		"NetworkInterfaceEnabled", "PingResponseEnabled", "PowerSource", "PreferredAddressFamily",
		"PresenceNotificationInterval", "PrivacyLevel", "RmcpPingResponseEnabled", "SharedFQDN",
		"WsmanOnlyMode",
	},
	"recorded": {
		"AMTNetworkEnabled", "DDNSPeriodicUpdateInterval", "DDNSTTL", "DDNSUpdateByDHCPServerEnabled",
		"DDNSUpdateEnabled", "DHCPSyncRequiresHostname", "DHCPv6ConfigurationTimeout", "DigestRealm",
		"DomainName", "ElementName", "HostName", "HostOSFQDN", "IdleWakeTimeout", "InstanceID",
		"NetworkInterfaceEnabled", "PingResponseEnabled", "PowerSource", "PreferredAddressFamily",
		"PresenceNotificationInterval", "PrivacyLevel", "RmcpPingResponseEnabled", "SharedFQDN",
		"ThunderboltDockEnabled", "WsmanOnlyMode",
	},
}

func TestParseGeneralSettingsRecorded(t *testing.T) {
	type want struct {
		realm, host, domain, hostOS string
		syncRequiresHostname        uint32
		idleWake                    uint32
	}
	tests := []struct {
		src vectorSource
		want
	}{
		{ownSource, want{"Digest:6A1F0C9D2B7E4A30B58C1D2E3F405162", "amt-host1", "example.com", "host1.example.com", 0, 65535}},
		{recordedSource, want{"Digest:F3EB554784E729164447A89F60B641C5", "Test Host Name", "Test Domain Name", "Test Host OS FQDN", 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			gs, err := parseGeneralSettings(tc.src.load(t, "amt/general/get").content(t, "amt/general/get"))
			require.NoError(t, err)
			assert.Equal(t, "Intel(r) AMT: General Settings", gs.InstanceID)
			assert.Equal(t, "Intel(r) AMT: General Settings", gs.ElementName)
			assert.Equal(t, tc.realm, gs.DigestRealm)
			assert.Equal(t, tc.host, gs.HostName)
			assert.Equal(t, tc.domain, gs.DomainName)
			assert.Equal(t, tc.hostOS, gs.HostOSFQDN)
			assert.Equal(t, uint32(1), gs.AMTNetworkEnabled)
			assert.True(t, gs.NetworkInterfaceEnabled)
			assert.True(t, gs.SharedFQDN)
			assert.True(t, gs.PingResponseEnabled)
			assert.True(t, gs.RmcpPingResponseEnabled)
			assert.True(t, gs.DDNSUpdateByDHCPServerEnabled)
			assert.False(t, gs.DDNSUpdateEnabled)
			assert.False(t, gs.WsmanOnlyMode)
			assert.Equal(t, tc.syncRequiresHostname, gs.DHCPSyncRequiresHostname)
			assert.Equal(t, uint32(1440), gs.DDNSPeriodicUpdateInterval)
			assert.Equal(t, uint32(900), gs.DDNSTTL)
			assert.Equal(t, tc.idleWake, gs.IdleWakeTimeout)
			assert.Equal(t, uint16(0), gs.DHCPv6ConfigurationTimeout)
		})
	}
	t.Run("recorded pull", func(t *testing.T) {
		// The Pull capture comes from another device (empty host name).
		items := recordedItems(t, "amt/general/pull")
		require.Len(t, items, 1)
		gs, err := parseGeneralSettings(items[0])
		require.NoError(t, err)
		assert.Equal(t, "Digest:6EE8C61BA74893E059F032EA919D699E", gs.DigestRealm)
		assert.Equal(t, "", gs.HostName)
	})
}

func TestGeneralSettingsGetAndPut(t *testing.T) {
	tests := []struct {
		src   vectorSource
		realm string
	}{
		{ownSource, "Digest:6A1F0C9D2B7E4A30B58C1D2E3F405162"},
		{recordedSource, "Digest:F3EB554784E729164447A89F60B641C5"},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "amt/general/get")
			ctx := context.Background()
			var putBody *etree.Element
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				switch r.Action {
				case wsman.ActionGet:
					return rs.reply(t, r, "amt/general/get")
				case wsman.ActionPut:
					putBody = wsman.Detach(r.Input)
					return wsmantest.PutResponse(r, r.Input) // echo what was stored
				}
				return wsmantest.FaultReply(wsmantest.ActionNotSupported(r.Action))
			})
			gs, err := d.GeneralSettings(ctx)
			require.NoError(t, err)
			get := f.only(t)
			assert.Equal(t, wsman.ActionGet, get.Action)
			assert.Equal(t, URIGeneralSettings, get.ResourceURI)
			assert.Empty(t, get.Selectors)

			gs.HostName = "amt-host2"
			gs.DomainName = "corp.example.com"
			out, err := d.PutGeneralSettings(ctx, gs)
			require.NoError(t, err)
			assert.Equal(t, "amt-host2", out.HostName)
			assert.Equal(t, "corp.example.com", out.DomainName)

			put := f.requests()[1]
			assert.Equal(t, wsman.ActionPut, put.Action)
			assert.Equal(t, URIGeneralSettings, put.ResourceURI)
			assert.Empty(t, put.Selectors, "AMT_GeneralSettings is a singleton")
			require.Equal(t, "AMT_GeneralSettings", putBody.Tag)
			require.Equal(t, URIGeneralSettings, putBody.NamespaceURI())
			ps := params(t, putBody)
			// Every property the device sent is echoed, in its order, read-only ones
			// included; only the two changed values differ.
			assert.Equal(t, generalOrder[tc.src.name], names(ps))
			v := values(ps)
			assert.Equal(t, []string{"amt-host2"}, v["HostName"])
			assert.Equal(t, []string{"corp.example.com"}, v["DomainName"])
			assert.Equal(t, []string{tc.realm}, v["DigestRealm"])
			assert.Equal(t, []string{"1"}, v["AMTNetworkEnabled"])
			assert.Equal(t, []string{"0"}, v["PrivacyLevel"])
			for _, p := range ps {
				assert.Equal(t, URIGeneralSettings, p.NS)
			}
		})
	}
}

// TestGeneralSettingsPutEchoesUnknown: properties the struct does not model are
// sent back as the device sent them; properties the device omitted stay
// omitted (writing a zero AMTNetworkEnabled would switch the network off).
func TestGeneralSettingsPutEchoesUnknown(t *testing.T) {
	ctx := context.Background()
	stored := instance(URIGeneralSettings,
		wsman.Prop("DigestRealm", "Digest:0123456789ABCDEF0123456789ABCDEF"),
		wsman.Prop("ElementName", "Intel(r) AMT: General Settings"),
		wsman.Prop("FutureProperty", "keep <me> & this"),
		wsman.Prop("InstanceID", "Intel(r) AMT: General Settings"),
		wsman.Prop("OemID", "42"),
		wsman.Prop("SharedFQDN", "true"))
	var putBody *etree.Element
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if r.Action == wsman.ActionPut {
			putBody = wsman.Detach(r.Input)
			return wsmantest.PutResponse(r, r.Input)
		}
		return wsmantest.GetResponse(r, stored)
	})
	gs, err := d.SetHostName(ctx, "h1", "example.net")
	require.NoError(t, err)
	assert.Equal(t, "h1", gs.HostName)
	ps := params(t, putBody)
	// DomainName and HostName, absent before, take their alphabetical places.
	assert.Equal(t, []string{"DigestRealm", "DomainName", "ElementName", "FutureProperty", "HostName", "InstanceID", "OemID", "SharedFQDN"}, names(ps))
	v := values(ps)
	assert.Equal(t, []string{"keep <me> & this"}, v["FutureProperty"])
	assert.Equal(t, []string{"42"}, v["OemID"])
	assert.NotContains(t, v, "AMTNetworkEnabled")
	assert.NotContains(t, v, "PrivacyLevel")

	// A field set to its zero value from a non-zero one is written.
	gs.SharedFQDN = false
	_, err = d.PutGeneralSettings(ctx, gs)
	require.NoError(t, err)
	assert.Equal(t, []string{"false"}, values(params(t, putBody))["SharedFQDN"])
}

func TestGeneralSettingsPutRefusals(t *testing.T) {
	ctx := context.Background()
	rs := ownResponses(t, "amt/general/get")
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if r.Action == wsman.ActionPut {
			return wsmantest.FaultReply(wsmantest.InternalError(uint32(StatusNotPermitted)))
		}
		return rs.reply(t, r, "amt/general/get")
	})
	_, err := d.PutGeneralSettings(ctx, &GeneralSettings{HostName: "x"})
	require.ErrorIs(t, err, ErrNotReadFromDevice)
	_, err = d.PutGeneralSettings(ctx, nil)
	require.ErrorIs(t, err, ErrNotReadFromDevice)
	assert.Empty(t, f.requests(), "nothing is sent for a struct not read from the device")

	long := fmt.Sprintf("%064d", 0)
	_, err = d.SetHostName(ctx, long, "example.com")
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Len(t, f.requests(), 1, "only the Get")

	_, err = d.SetHostName(ctx, "ok", "example.com")
	require.ErrorIs(t, err, StatusNotPermitted)
	require.ErrorIs(t, err, wsman.ErrInternalError)
	var op *OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "Put", op.Op)
}

func TestGeneralSettingsBadResponses(t *testing.T) {
	tests := []struct {
		name string
		el   *etree.Element
	}{
		{"other class", instance(URISetupAndConfigurationService, wsman.Prop("ProvisioningState", "2"))},
		{"class name in another namespace", wsman.NewElement(amtSchema+"Other", "AMT_GeneralSettings")},
		{"bad number", instance(URIGeneralSettings, wsman.Prop("AMTNetworkEnabled", "yes"))},
		{"bad boolean", instance(URIGeneralSettings, wsman.Prop("SharedFQDN", "maybe"))},
		{"repeated scalar", instance(URIGeneralSettings, wsman.Prop("HostName", "a"), wsman.Prop("HostName", "b"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return wsmantest.GetResponse(r, tc.el) })
			_, err := d.GeneralSettings(context.Background())
			require.ErrorIs(t, err, ErrBadResponse)
		})
	}
}

func TestSoftwareIdentityRecorded(t *testing.T) {
	tests := []struct {
		src        vectorSource
		version    string
		components map[string]string // a selection
		count      int
	}{
		{ownSource, "16.1.25", map[string]string{"Sku": "16392", "VendorID": "8086", "Build Number": "2124", "Recovery Version": "16.1.25"}, 8},
		{recordedSource, "12.0.67", map[string]string{"Sku": "16392", "VendorID": "8086", "Build Number": "1579", "Legacy Mode": "False", "AMT FW Core Version": "12.0.67"}, 11},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			ctx := context.Background()
			rs := tc.src.load(t, "cim/software/identity/pull", "cim/software/identity/get")
			items := rs.items(t, "cim/software/identity/pull")
			d, f := newFake(t, nil)
			f.handle(func(r *wsmantest.Request) wsmantest.Reply {
				rep, _ := f.enums.Serve(r, items)
				return rep
			})
			si, err := d.SoftwareIdentity(ctx)
			require.NoError(t, err)
			assert.Equal(t, MustParseVersion(tc.version), si.Version)
			assert.Len(t, si.Components, tc.count)
			for k, v := range tc.components {
				assert.Equal(t, v, si.Components[k], k)
			}
			rs2 := f.requests()
			require.Len(t, rs2, 2)
			assert.Equal(t, wsman.ActionEnumerate, rs2[0].Action)
			assert.Equal(t, wsman.ActionPull, rs2[1].Action)
			for _, r := range rs2 {
				assert.Equal(t, URISoftwareIdentity, r.ResourceURI)
			}

			v, err := d.Version(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.version, v.String())

			// get (a Get of AMTApps) decodes as an instance.
			el := rs.content(t, "cim/software/identity/get")
			_, err = parseSoftwareIdentity([]*etree.Element{el})
			require.ErrorIs(t, err, ErrNotFound, "AMTApps alone has no firmware version")
		})
	}
}

func TestSoftwareIdentityFailures(t *testing.T) {
	ident := func(id, v string) *etree.Element {
		return instance(URISoftwareIdentity, wsman.Prop("InstanceID", id), wsman.Prop("IsEntity", "true"), wsman.Prop("VersionString", v))
	}
	tests := []struct {
		name  string
		items []*etree.Element
		want  error
	}{
		{"no AMT instance", []*etree.Element{ident("Flash", "16.1.25")}, ErrNotFound},
		{"bad version", []*etree.Element{ident("AMT", "sixteen")}, ErrBadResponse},
		{"other class", []*etree.Element{instance(URIGeneralSettings, wsman.Prop("InstanceID", "AMT"))}, ErrBadResponse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, f := newFake(t, nil)
			f.handle(func(r *wsmantest.Request) wsmantest.Reply { rep, _ := f.enums.Serve(r, tc.items); return rep })
			_, err := d.Version(context.Background())
			require.ErrorIs(t, err, tc.want)
			var op *OpError
			require.ErrorAs(t, err, &op)
			assert.Equal(t, "CIM_SoftwareIdentity", op.Class)
			assert.Equal(t, "Enumerate", op.Op)
		})
	}
	d, f := newFake(t, nil)
	f.handle(func(r *wsmantest.Request) wsmantest.Reply {
		rep, _ := f.enums.Serve(r, []*etree.Element{ident("AMT", "16.1.25"), ident("Sku", "16392")})
		return rep
	})
	v, err := d.Version(context.Background())
	require.NoError(t, err)
	assert.Equal(t, MustParseVersion("16.1.25"), v)
}

func TestSetProperty(t *testing.T) {
	el := instance(URIGeneralSettings, wsman.Prop("B", "1"), wsman.Prop("D", "2"), wsman.Prop("D", "3"), wsman.Prop("F", "4"))
	setProperty(el, "D", wsman.Prop("", "x"))
	setProperty(el, "A", wsman.Prop("", "a"))
	setProperty(el, "E", wsman.Prop("", "e1"), wsman.Prop("", "e2"))
	setProperty(el, "Z", wsman.Prop("", "z"))
	setProperty(el, "F")
	ps := params(t, el)
	assert.Equal(t, []string{"A", "B", "D", "E", "E", "Z"}, names(ps))
	assert.Equal(t, map[string][]string{"A": {"a"}, "B": {"1"}, "D": {"x"}, "E": {"e1", "e2"}, "Z": {"z"}}, values(ps))
	for _, p := range ps {
		assert.Equal(t, URIGeneralSettings, p.NS)
	}
}
