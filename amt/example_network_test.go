package amt_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// Add an enterprise (EAP-TLS) Wi-Fi profile: the client certificate (key in
// AMT) and the RADIUS server's root are installed first and referred to by
// their handles.
func ExampleDevice_AddWiFiSettings() {
	dev, stop := fakeDevice(func(r *wsmantest.Request) wsmantest.Reply {
		settings := wsman.Child(r.Input, amt.URIWiFiPortConfigurationService, "WiFiEndpointSettingsInput")
		ssid, _ := wsman.PropertyValue(settings, "SSID")
		fmt.Println("AMT received a profile for", ssid)
		return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0))
	})
	defer stop()

	err := dev.AddWiFiSettings(context.Background(), amt.WiFiSettings{
		Endpoint: amt.WiFiEndpointSettings{ElementName: "corp", SSID: "Contoso", Priority: 1,
			AuthenticationMethod: amt.WiFiAuthWPA2IEEE8021X, EncryptionMethod: amt.WiFiEncryptionCCMP},
		IEEE8021x: &amt.WiFiIEEE8021xSettings{ElementName: "corp", AuthenticationProtocol: amt.EAPTLS, Username: "pc-0042.contoso.com",
			ServerCertificateName: "radius.contoso.com", ServerCertificateNameComparison: amt.ServerNameFullName},
		ClientCertificate: "Intel(r) AMT Certificate: Handle: 3",
		CACertificate:     "Intel(r) AMT Certificate: Handle: 1",
	})
	fmt.Println(err)
	// Output:
	// AMT received a profile for Contoso
	// <nil>
}

// A static IPv4 configuration is checked before it is sent.
func ExampleStaticIPv4() {
	s := amt.StaticIPv4{Address: netip.MustParsePrefix("10.20.30.40/22"), Gateway: netip.MustParseAddr("10.20.28.1"),
		PrimaryDNS: netip.MustParseAddr("10.20.28.2")}
	fmt.Println(s.Mask(), s.Check())
	s.Gateway = netip.MustParseAddr("10.99.0.1")
	fmt.Println(s.Check())
	// Output:
	// 255.255.252.0 <nil>
	// amt: invalid argument: gateway 10.99.0.1 is not an IPv4 address in 10.20.28.0/22
}
