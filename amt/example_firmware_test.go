package amt_test

import (
	"crypto/tls"
	"fmt"

	"github.com/amtkit/amtkit/amt"
)

// The facts of one firmware version, and the answer for a version not yet
// read from the device.
func ExampleFirmwareFor() {
	fw := amt.FirmwareFor(amt.MustParseVersion("19.0.5"))
	fmt.Println("bare-metal remote configuration:", fw.BareMetalRemoteConfig)
	fmt.Println("commit drops the connection:", fw.CommitDropsConnection)
	fmt.Println("device certificate names its host:", fw.DeviceCertHasHostName)
	lo, hi := fw.TLSRange()
	fmt.Println("TLS:", tls.VersionName(lo), "to", tls.VersionName(hi))
	fmt.Println("remote port 16992:", fw.RemoteNonTLSPort)
	fmt.Println("SHA-1 refused:", fw.RefusesSHA1, "- RSA keys of at least", fw.MinRSABits, "bits")

	old := amt.FirmwareFor(amt.MustParseVersion("11.8.50"))
	fmt.Println("11.8: PSK", old.PSK, "- RSA key exchange needed on", old.NeedsRSAKeyExchange)

	unknown := amt.FirmwareFor(amt.Version{})
	fmt.Println("unknown version known:", unknown.Known())
	// Output:
	// bare-metal remote configuration: true
	// commit drops the connection: true
	// device certificate names its host: false
	// TLS: TLS 1.2 to TLS 1.2
	// remote port 16992: some platforms
	// SHA-1 refused: all platforms - RSA keys of at least 2048 bits
	// 11.8: PSK false - RSA key exchange needed on some platforms
	// unknown version known: false
}

// Each rule of the table names its public source and how well it is
// confirmed.
func ExampleFirmwareRules() {
	for _, r := range amt.FirmwareRules() {
		if r.Field == "CommitDropsConnection" || r.Field == "FirstRequestMayDrop" {
			fmt.Printf("%s (%s): %s\n", r.Field, r.Versions, r.Confidence)
		}
	}
	// Output:
	// CommitDropsConnection (from 19): peer code
	// FirstRequestMayDrop (from 21): device report
}
