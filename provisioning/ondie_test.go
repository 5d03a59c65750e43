package provisioning_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// localChain returns the chain a TLS-enforced simulated device presents on
// its local TLS port, with its On-Die root and hardware ID.
func localChain(t *testing.T, d *amtsim.Device) ([]*x509.Certificate, *x509.CertPool, []byte) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{}, "tcp", d.LocalTLSAddr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // inspected below
	require.NoError(t, err)
	defer conn.Close()
	ca, err := d.LocalOnDieCA()
	require.NoError(t, err)
	id, err := d.HardwareID()
	require.NoError(t, err)
	return conn.ConnectionState().PeerCertificates, ca.Pool(), id
}

func startEnforced(t *testing.T, edit func(*amtsim.Config)) *amtsim.Device {
	t.Helper()
	cfg := amtsim.Config{Version: amt.MustParseVersion("19.0.5"), LocalTLSEnforced: true, Keys: amtsim.PoolKeys(testKeys())}
	if edit != nil {
		edit(&cfg)
	}
	d, err := amtsim.New(cfg)
	require.NoError(t, err)
	require.NoError(t, d.Start(context.Background()))
	t.Cleanup(func() { d.Close() })
	return d
}

// Every trust claim of VerifyOnDieChain, attacked through its public API.
func TestVerifyOnDieChain(t *testing.T) {
	d := startEnforced(t, nil)
	chain, roots, id := localChain(t, d)
	leafSum := sha256.Sum256(chain[0].Raw)
	bound := amt.CertHash{Alg: amt.HashSHA256, Sum: leafSum[:]}
	require.NoError(t, provisioning.VerifyOnDieChain(chain, provisioning.OnDieCheck{Roots: roots, LeafHash: bound, HardwareID: id}))

	other := startEnforced(t, nil) // another device, its own On-Die CA
	otherChain, otherRoots, otherID := localChain(t, other)
	shared := startEnforced(t, func(c *amtsim.Config) { // another device under the same CA
		ca, err := d.LocalOnDieCA()
		require.NoError(t, err)
		c.OnDie, c.OnDieCA = true, ca
	})
	sharedChain, _, _ := localChain(t, shared)

	// A chain under a CA of our own making, with Intel's names.
	fake := certstest.MustRootCA(t, certstest.CAOptions{Keys: testKeys(), CommonName: "ODCA 2 CSME LNL SOC ROM CA"})
	fakeLeaf, err := fake.IssueCert(&x509.Certificate{Subject: pkix.Name{CommonName: "AMT RCFG"}, SerialNumber: big.NewInt(7)}, chain[0].PublicKey)
	require.NoError(t, err)

	for _, tt := range []struct {
		name  string
		chain []*x509.Certificate
		check provisioning.OnDieCheck
		what  string
	}{
		{"another device's genuine chain, hash-bound", otherChain, provisioning.OnDieCheck{Roots: roots, LeafHash: bound}, "leaf hash"},
		{"another device under the same CA, hash-bound", sharedChain, provisioning.OnDieCheck{Roots: roots, LeafHash: bound}, "leaf hash"},
		{"another device under the same CA, hardware-bound", sharedChain, provisioning.OnDieCheck{Roots: roots, HardwareID: id}, "hardware ID"},
		{"another device's chain against our roots", otherChain, provisioning.OnDieCheck{Roots: roots}, "chain"},
		{"our chain, the other device's hardware ID", chain, provisioning.OnDieCheck{Roots: roots, HardwareID: otherID}, "hardware ID"},
		{"a short hardware ID", chain, provisioning.OnDieCheck{Roots: roots, HardwareID: id[:10]}, "hardware ID"},
		{"a forged chain with Intel's names", []*x509.Certificate{fakeLeaf, fake.Certificate()}, provisioning.OnDieCheck{Roots: roots}, "chain"},
		{"a forged chain trusted as root, no ROM CA", []*x509.Certificate{fakeLeaf, fake.Certificate()}, provisioning.OnDieCheck{Roots: poolOf(fake.Certificate())}, "ROM CA"},
		{"the leaf alone", chain[:1], provisioning.OnDieCheck{Roots: roots}, "chain"},
		{"intermediates only, the ROM CA left out", append([]*x509.Certificate{chain[0]}, chain[1:3]...), provisioning.OnDieCheck{Roots: roots}, "chain"},
		{"a leaf not named AMT RCFG", append([]*x509.Certificate{chain[1]}, chain[2:]...), provisioning.OnDieCheck{Roots: roots}, "leaf name"},
		{"no chain", nil, provisioning.OnDieCheck{Roots: roots}, "chain"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := provisioning.VerifyOnDieChain(tt.chain, tt.check)
			require.ErrorIs(t, err, provisioning.ErrOnDieUntrusted)
			var oe *provisioning.OnDieError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, tt.what, oe.Check, "%v", err)
		})
	}
	assert.ErrorIs(t, provisioning.VerifyOnDieChain(chain, provisioning.OnDieCheck{}), provisioning.ErrNoOnDieRoots)
	_ = otherRoots
}

// Intel's On-Die root is recognised by its published SHA-256; nothing else is.
func TestIsIntelOnDieRoot(t *testing.T) {
	d := startEnforced(t, nil)
	ca, err := d.LocalOnDieCA()
	require.NoError(t, err)
	assert.False(t, provisioning.IsIntelOnDieRoot(ca.Root()), "the simulator's root is not Intel's")
	assert.False(t, provisioning.IsIntelOnDieRoot(nil))
	assert.Len(t, provisioning.IntelOnDieRootSHA256, 64)
	assert.Equal(t, provisioning.IntelOnDieRootSHA256, fmt.Sprintf("%x", mustHexLen(t, provisioning.IntelOnDieRootSHA256)))
}

func mustHexLen(t *testing.T, s string) []byte {
	t.Helper()
	b := make([]byte, len(s)/2)
	_, err := fmt.Sscanf(s, "%x", &b)
	require.NoError(t, err)
	require.Len(t, b, 32)
	return b
}
