package amt_test

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/amtkit/amtkit/amt"
)

func ExampleUUIDFromWire() {
	// The 16 bytes of a hello packet or GetUuid, in AMT's mixed-endian order.
	wire := []byte{0x3e, 0xc2, 0xff, 0xd2, 0xd1, 0x9d, 0x2d, 0x41, 0x86, 0x0a, 0x54, 0xb2, 0x03, 0x9b, 0x72, 0xff}
	u, err := amt.UUIDFromWire(wire)
	if err != nil {
		panic(err)
	}
	fmt.Println(u)
	// Output: d2ffc23e-9dd1-412d-860a-54b2039b72ff
}

func ExampleVersion_AtLeast() {
	v, _ := amt.ParseVersion("16.1.25")
	fmt.Println(v.AtLeast(amt.MustParseVersion("16.0")), v.AtLeast(amt.MustParseVersion("19")))
	// Output: true false
}

func ExampleParseCertHash() {
	// A fingerprint as OpenSSL prints it; the algorithm follows from the length.
	h, err := amt.ParseCertHash("CB:3C:CB:B7:60:31:E5:E0:13:8F:8D:D3:9A:23:F9:DE:47:FF:C3:5E:43:C1:14:4C:EA:27:D4:6A:5A:B1:CB:5F")
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Alg)
	if r, ok := amt.LookupDefaultRootHash(h); ok {
		fmt.Println(r.Label)
	}
	// Output:
	// SHA-256
	// DigiCert Global Root G2
}

func ExampleStatus() {
	// A binding returns the PT_STATUS of a failed call as an error.
	var err error = fmt.Errorf("CommitChanges: %w", amt.StatusDataMissing)
	if errors.Is(err, amt.StatusDataMissing) {
		fmt.Println("the MEBx password must be set before commit")
	}
	fmt.Println(err)
	fmt.Println(amt.Status(2071).String())
	// Output:
	// the MEBx password must be set before commit
	// CommitChanges: amt: PT_STATUS_DATA_MISSING (2057)
	// PT_STATUS 2071
}

func ExampleCheckPassword() {
	err := amt.CheckPassword("Passw0rd_")
	fmt.Println(err)
	fmt.Println(errors.Is(err, amt.ErrPasswordNoSymbol))
	fmt.Println(amt.CheckPassword("P@ssw0rd"))
	// Output:
	// amt: password is not strong enough for AMT: needs a symbol other than '_' and space
	// true
	// <nil>
}

func ExampleGeneratePassword() {
	// Pass crypto/rand.Reader in production; a seeded source makes this reproducible.
	pw, err := amt.GeneratePassword(rand.NewChaCha8([32]byte{42}))
	if err != nil {
		panic(err)
	}
	fmt.Println(pw) // a Secret never prints its value
	fmt.Println(len(pw.Reveal()), amt.CheckPassword(pw.Reveal()))
	// Output:
	// [REDACTED]
	// 16 <nil>
}

func ExampleDigestA1Hex() {
	pw := amt.NewSecret("P@ssw0rd")
	realm := "Digest:BA870000000000000000000000000000"
	// AdminSetup's NetworkAdminPassword: hex.
	fmt.Println(amt.DigestA1Hex("admin", realm, pw).Reveal())
	// SetAdminAclEntryEx's DigestPassword: base64 of the raw bytes.
	fmt.Println(amt.DigestA1Base64("admin", realm, pw).Reveal())
	// Output:
	// 29d7405d4ac607a27aeec06a158d9097
	// KddAXUrGB6J67sBqFY2Qlw==
}

func ExampleMatchDNSSuffix() {
	fmt.Println(amt.MatchDNSSuffix("prov.contoso.com", "sales.contoso.com"))
	fmt.Println(amt.MatchDNSSuffix("prov.contoso.com", "northwindtraders.com"))
	fmt.Println(amt.MatchDNSSuffix("*.example.co.uk", "co.uk"))
	// Only by MeshCentral's per-TLD rule: firmware may take it.
	err := amt.MatchDNSSuffix("prov.sales.contoso.org", "marketing.contoso.org")
	fmt.Println(errors.Is(err, amt.ErrSuffixUndocumented), errors.Is(err, amt.ErrSuffixMismatch))
	// Output:
	// <nil>
	// amt: MatchDNSSuffix: certificate name "prov.contoso.com" does not cover DNS suffix "northwindtraders.com"
	// amt: MatchDNSSuffix: DNS suffix "co.uk": name is a public suffix
	// true true
}

func ExampleSharesNamespace() {
	fmt.Println(amt.SharesNamespace("computer1.sales.contoso.com", "server1.marketing.contoso.com"))
	fmt.Println(amt.SharesNamespace("contoso.com", "northwindtraders.com"))
	// Output:
	// true
	// false
}

func ExampleCheckDisjointNamespace() {
	err := amt.CheckDisjointNamespace("computer1.contoso.com", "na.corp.contoso.com")
	fmt.Println(errors.Is(err, amt.ErrDisjointNamespace))
	// Output: true
}

func ExampleFindings() {
	// What certs.CheckProvisioning, setupbin.File.Check and provisioning.Audit
	// return: findings with stable codes, severities and subjects.
	fs := amt.Findings{
		{Code: "root-not-factory", Severity: amt.SeverityInfo, Message: "root not among the factory hashes", Index: -1},
		{Code: "key-too-short", Severity: amt.SeverityError, Subject: "certificate 0 (CN=prov.example.com)", Message: "RSA key of 1024 bits, expected at least 2048"},
	}
	fmt.Println(fs.Worst(), fs.Has("key-too-short"))
	for _, f := range fs.AtLeast(amt.SeverityWarning) {
		fmt.Println(f)
	}
	err := fs.Err()
	fmt.Println(errors.Is(err, amt.ErrCheckFailed))
	// Output:
	// error true
	// error key-too-short: certificate 0 (CN=prov.example.com): RSA key of 1024 bits, expected at least 2048
	// true
}

// Wi-Fi profile names are what AMT takes: 1 to 32 letters and digits.
func ExampleValidWiFiProfileName() {
	for _, name := range []string{"corp", "Guest2", "guest-net", "corp wifi"} {
		fmt.Println(name, amt.ValidWiFiProfileName(name))
	}
	// Output:
	// corp true
	// Guest2 true
	// guest-net false
	// corp wifi false
}
