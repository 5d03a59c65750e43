package provisioning_test

import (
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// A chain whose root is self-signed with SHA-1 — DigiCert Global Root CA,
// VeriSign Class 3 G5, Go Daddy Class 2 and other factory roots are — is a
// valid provisioning chain for fleets before ME 15 H / 16 (certs'
// AllowSHA1Root, amtsim's Legacy15). provisioning.New refused it, claiming
// the root "is not a self-signed root": Certificate.CheckSignatureFrom refuses
// SHA-1 outright, while certs (Bundle.Root, OrderChain, CheckProvisioning)
// and the host-based path (checkSigningBundle) accept it.
func TestNewAcceptsASHA1SelfSignedRoot(t *testing.T) {
	keys := &certstest.KeyPool{Reuse: true}
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{Keys: keys,
		RootOptions: certstest.CAOptions{SHA1: true}})
	root := chain.Chain[len(chain.Chain)-1]
	require.Equal(t, x509.SHA1WithRSA, root.SignatureAlgorithm)
	require.NotNil(t, chain.Bundle.Root(), "certs takes it for a self-signed root")
	f := certs.CheckProvisioning(chain.Chain, chain.Key, certs.ProvisioningOptions{AllowSHA1Root: true})
	require.NoError(t, f.Err())

	inv := provisioning.NewInventoryList()
	_, err := provisioning.New(provisioning.Config{Authorizer: inv, DefaultProfile: "laptops",
		Profiles: map[string]provisioning.Profile{"laptops": {}}, Bundles: []certs.Bundle{chain.Bundle}})
	require.NoError(t, err, "a chain ending at a SHA-1 self-signed root is refused as not self-signed")
}
