package provisioning_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// A CA that issues AMT's TLS certificates, revokes the ones renewal replaces
// and publishes its CRL. Give it to the engine as Config.Issuer.
func ExampleCA() {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	// The integrator's CA certificate and key: here a throw-away one. In
	// production load it with certs.LoadPKCS12, or pair the chain with a key in
	// an HSM or TPM (any crypto.Signer) in a certs.Bundle.
	issuing := certstest.MustRootCA(nil, certstest.CAOptions{Keys: keys, CommonName: "Example AMT CA"})

	// Revocations go to a file so that a restarted CA still lists them.
	dir, err := os.MkdirTemp("", "amtkit-ca")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	revocations, err := provisioning.OpenFileRevocationLog(filepath.Join(dir, "revocations.log"))
	if err != nil {
		panic(err)
	}

	// The CRL is served over HTTP at the URL written into every certificate.
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ca, err := provisioning.NewCA(issuing.Bundle, provisioning.CAOptions{
		Log:                   revocations,
		CRLDistributionPoints: []string{srv.URL + "/amt.crl"},
	})
	if err != nil {
		panic(err)
	}
	mux.Handle("GET /amt.crl", ca.CRLHandler())

	// What the engine does: AMT generated a key; the CA certifies it.
	amtKey, err := keys.RSA(2048)
	if err != nil {
		panic(err)
	}
	tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "amt1.example.com"})
	if err != nil {
		panic(err)
	}
	chain, err := ca.Issue(ctx, provisioning.IssueRequest{
		Device:    provisioning.Inventory{FQDN: "amt1.example.com"},
		Purpose:   provisioning.PurposeTLS,
		PublicKey: amtKey.Public(),
		Template:  tmpl,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("issued:", chain[0].Subject.CommonName, "by", chain[1].Subject.CommonName)

	// Renewal replaced it: revoke it as superseded.
	if err := ca.Revoke(ctx, provisioning.RevokeRequest{Certificate: chain[0], Reason: certs.RevocationSuperseded}); err != nil {
		panic(err)
	}

	// A relying party fetches the CRL from the distribution point and checks.
	resp, err := http.Get(chain[0].CRLDistributionPoints[0])
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(resp.Body)
	if err != nil {
		panic(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		panic(err)
	}
	fmt.Println("served as:", resp.Header.Get("Content-Type"))
	err = certs.CheckCRL(chain[0], crl, time.Now(), certs.CRLOptions{Issuer: ca.Certificate()})
	var revoked *certs.RevokedError
	if errors.As(err, &revoked) {
		fmt.Println("revoked:", revoked.Reason)
	}
	fmt.Println("valid for:", crl.NextUpdate.Sub(crl.ThisUpdate)) // CRLValidity, and CRLClockSkew before the signing
	// Output:
	// issued: amt1.example.com by Example AMT CA
	// served as: application/pkix-crl
	// revoked: superseded
	// valid for: 168h10m0s
}
