package provisioning_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// A profile with wired 802.1X validating the RADIUS server, a personal and
// an enterprise Wi-Fi network and a static address: it is applied after
// activation (reconcile's areas 8021x-wired, wifi and ip) and read back.
func ExampleNetworkProfile() {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	dev, cfg := exampleDevice(ctx, chain, keys)
	defer dev.Close()
	deviceCA := certstest.MustRootCA(nil, certstest.CAOptions{CommonName: "Contoso AMT Device CA", Keys: keys})
	cfg.Issuer, _ = provisioning.NewCA(deviceCA.Bundle, provisioning.CAOptions{})
	radius := certstest.MustRootCA(nil, certstest.CAOptions{CommonName: "Contoso RADIUS CA", Keys: keys})

	validated := &provisioning.IEEE8021XConfig{ServerRoot: radius.RootCertificate(), ServerName: "radius.contoso.com"}
	cfg.Profiles = map[string]provisioning.Profile{provisioning.DefaultProfileName: {Network: &provisioning.NetworkProfile{
		Wired8021X: validated,
		WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			{Name: "guest", SSID: "Contoso Guest", Priority: 1, Passphrase: amt.NewSecret("a-long-guest-passphrase")},
			{Name: "corp", SSID: "Contoso", Priority: 2, Security: provisioning.WPA2Enterprise, IEEE8021X: validated},
		}},
		IP: &provisioning.IPConfig{Mode: provisioning.IPStatic, Static: func(provisioning.Inventory) (amt.StaticIPv4, error) {
			return amt.StaticIPv4{Address: netip.MustParsePrefix("10.20.30.40/24"), Gateway: netip.MustParseAddr("10.20.30.1"),
				PrimaryDNS: netip.MustParseAddr("10.20.30.2")}, nil
		}},
	}}}
	cfg.CommitVerifyDelay = time.Millisecond
	cfg.Observer = func(e provisioning.Event) {
		if e.Step == provisioning.StepReconcile {
			fmt.Println(e.Detail)
		}
	}
	p, err := provisioning.New(cfg)
	if err != nil {
		panic(err)
	}
	hello, _ := dev.Hello(0)
	if _, err := p.Provision(ctx, provisioning.ReceivedHello{Hello: hello, Received: time.Now()}); err != nil {
		panic(err)
	}
	net := dev.NetworkSnapshot()
	fmt.Println(len(net.Profiles), "Wi-Fi profiles; static", net.WiredStatic.Address, "; 802.1X server", dev.Snapshot().IEEE8021x["ServerCertificateName"])
	// Output:
	// 8021x-wired: add RADIUS server root "Contoso RADIUS CA"
	// 8021x-wired: add wired 802.1X client certificate "pc-0042.contoso.com"
	// 8021x-wired: update wired 802.1X settings "Disabled, EAP-TLS, identity , server not validated" → "EnabledWithCertificates, EAP-TLS, identity pc-0042.contoso.com, server radius.contoso.com"
	// wifi: update wireless interface "disabled" → "enabled in S0 and Sx on AC"
	// wifi: add Wi-Fi profile "guest" "SSID Contoso Guest, priority 1, WPA2-Personal"
	// wifi: add Wi-Fi profile "corp" "SSID Contoso, priority 2, WPA2-Enterprise, EAP-TLS, server radius.contoso.com"
	// ip: update wired IPv4 settings "DHCP" → "static 10.20.30.40/24"
	// 2 Wi-Fi profiles; static 10.20.30.40/24 ; 802.1X server radius.contoso.com
}

// Validate refuses what AMT would: here two networks with one priority.
func ExampleNetworkProfile_Validate() {
	n := provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		{Name: "a", SSID: "A", Priority: 1, Passphrase: amt.NewSecret("passphrase-a")},
		{Name: "b", SSID: "B", Priority: 1, Passphrase: amt.NewSecret("passphrase-b")},
	}}}
	fmt.Println(n.Validate())
	// Output: provisioning: invalid configuration: Network.WiFi.Networks[1].Priority: priority 1 is "a"'s too; AMT needs unique priorities
}
