package amt

import (
	"context"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// benchGeneralSettings is an AMT_GeneralSettings instance with the 24
// properties of a real Get.
func benchGeneralSettings() *etree.Element {
	return instance(URIGeneralSettings,
		wsman.Prop("AMTNetworkEnabled", "1"), wsman.Prop("DDNSPeriodicUpdateInterval", "1440"), wsman.Prop("DDNSTTL", "900"),
		wsman.Prop("DDNSUpdateByDHCPServerEnabled", "true"), wsman.Prop("DDNSUpdateEnabled", "false"),
		wsman.Prop("DHCPSyncRequiresHostname", "1"), wsman.Prop("DHCPv6ConfigurationTimeout", "0"),
		wsman.Prop("DigestRealm", "Digest:F3EB554784E729164447A89F60B641C5"), wsman.Prop("DomainName", "corp.example.com"),
		wsman.Prop("ElementName", "Intel(r) AMT: General Settings"), wsman.Prop("HostName", "amt-host1"),
		wsman.Prop("HostOSFQDN", "host1.corp.example.com"), wsman.Prop("IdleWakeTimeout", "1"),
		wsman.Prop("InstanceID", "Intel(r) AMT: General Settings"), wsman.Prop("NetworkInterfaceEnabled", "true"),
		wsman.Prop("PingResponseEnabled", "true"), wsman.Prop("PowerSource", "0"), wsman.Prop("PreferredAddressFamily", "0"),
		wsman.Prop("PresenceNotificationInterval", "0"), wsman.Prop("PrivacyLevel", "0"),
		wsman.Prop("RmcpPingResponseEnabled", "true"), wsman.Prop("SharedFQDN", "true"),
		wsman.Prop("ThunderboltDockEnabled", "0"), wsman.Prop("WsmanOnlyMode", "false"))
}

func benchGetBytes(b *testing.B) []byte {
	req := &wsmantest.Request{MessageID: "uuid:1", ResourceURI: URIGeneralSettings}
	raw, err := wsmantest.Marshal(req, wsmantest.GetResponse(req, benchGeneralSettings()))
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkDecodeGeneralSettings: envelope parse plus the typed decode (the
// source a Put needs included). Its floor, BenchmarkDecodeGeneralSettingsFloor,
// is the envelope parse alone, so the ratio is the binding's own cost.
func BenchmarkDecodeGeneralSettings(b *testing.B) {
	raw := benchGetBytes(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		env, err := wsman.ParseEnvelope(raw, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := parseGeneralSettings(env.Content()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeGeneralSettingsFloor(b *testing.B) {
	raw := benchGetBytes(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wsman.ParseEnvelope(raw, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeviceGeneralSettings: Device.GeneralSettings over loopback HTTP;
// its floor, BenchmarkDeviceGeneralSettingsFloor, is the same wsman Get
// without the typed decode.
func BenchmarkDeviceGeneralSettings(b *testing.B) {
	d, _ := newFake(b, func(r *wsmantest.Request) wsmantest.Reply { return wsmantest.GetResponse(r, benchGeneralSettings()) })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.GeneralSettings(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeviceGeneralSettingsFloor(b *testing.B) {
	d, _ := newFake(b, func(r *wsmantest.Request) wsmantest.Reply { return wsmantest.GetResponse(r, benchGeneralSettings()) })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Client().Get(ctx, URIGeneralSettings, nil); err != nil {
			b.Fatal(err)
		}
	}
}
