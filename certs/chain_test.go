package certs_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

func subjects(cs []*x509.Certificate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Subject.CommonName
	}
	return out
}

func TestOrderChainPermutations(t *testing.T) {
	f := newFixture(t)
	t.Run("distinct names", func(t *testing.T) {
		testPermutations(t, f.chain(t, certstest.ProvisioningOptions{Intermediates: 2}).Chain)
	})
	// Two intermediates with the same name: Go writes no authority key ID into
	// the lower one (its issuer name equals its subject), so only the signature
	// tells that it is not self-signed.
	t.Run("same names", func(t *testing.T) {
		c := f.chain(t, certstest.ProvisioningOptions{Intermediates: 2, IntermediateOptions: certstest.CAOptions{CommonName: "Same Name CA"}})
		require.Empty(t, c.Chain[1].AuthorityKeyId)
		testPermutations(t, c.Chain)
	})
}

func testPermutations(t *testing.T, want []*x509.Certificate) {
	require.Len(t, want, 4)
	perm := func(a []*x509.Certificate, f func([]*x509.Certificate)) {
		var rec func(int)
		rec = func(k int) {
			if k == len(a) {
				f(append([]*x509.Certificate(nil), a...))
				return
			}
			for i := k; i < len(a); i++ {
				a[k], a[i] = a[i], a[k]
				rec(k + 1)
				a[k], a[i] = a[i], a[k]
			}
		}
		rec(0)
	}
	n := 0
	perm(append([]*x509.Certificate(nil), want...), func(in []*x509.Certificate) {
		n++
		got, err := certs.OrderChain(in)
		require.NoError(t, err, "input %v", subjects(in))
		assert.Equal(t, want, got, "input %v", subjects(in))
	})
	assert.Equal(t, 24, n)
}

func TestOrderChain(t *testing.T) {
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{})
	leaf, inter, root := c.Chain[0], c.Chain[1], c.Chain[2]
	sibling := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{Root: c.Root, NoIntermediate: true, Keys: f.keys, Now: fixedNow, FQDN: "other.example.com"})
	twoInts := f.chain(t, certstest.ProvisioningOptions{Intermediates: 2})
	otherRoot := certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: fixedNow, CommonName: "Other Root"})
	leaf2, err := c.Issuer.IssueCert(mustTemplate(t, "second.example.com"), f.keys.MustRSA(t, 2048).Public())
	require.NoError(t, err)

	cases := []struct {
		name    string
		in      []*x509.Certificate
		want    []*x509.Certificate
		err     error
		errWith []*x509.Certificate
	}{
		{"ordered", []*x509.Certificate{leaf, inter, root}, c.Chain, nil, nil},
		{"reversed", []*x509.Certificate{root, inter, leaf}, c.Chain, nil, nil},
		{"duplicates dropped", []*x509.Certificate{inter, leaf, root, inter, leaf}, c.Chain, nil, nil},
		{"nil entries skipped", []*x509.Certificate{nil, root, nil, leaf, inter}, c.Chain, nil, nil},
		{"single leaf", []*x509.Certificate{leaf}, []*x509.Certificate{leaf}, nil, nil},
		{"single root", []*x509.Certificate{root}, []*x509.Certificate{root}, nil, nil},
		{"no root", []*x509.Certificate{inter, leaf}, []*x509.Certificate{leaf, inter}, nil, nil},
		{"leaf issued by root", []*x509.Certificate{root, sibling.Leaf()}, sibling.Chain, nil, nil},
		{"empty", nil, nil, certs.ErrNoCertificates, nil},
		{"only nils", []*x509.Certificate{nil}, nil, certs.ErrNoCertificates, nil},
		{"two leaves", []*x509.Certificate{leaf, inter, root, leaf2}, nil, certs.ErrMultipleLeaves, []*x509.Certificate{leaf, leaf2}},
		{"two leaves at different depths", []*x509.Certificate{leaf, inter, root, sibling.Leaf()}, nil, certs.ErrMultipleLeaves,
			[]*x509.Certificate{leaf, sibling.Leaf()}},
		{"gap: intermediate missing", []*x509.Certificate{leaf, root}, nil, certs.ErrChainGap, []*x509.Certificate{leaf, root}},
		{"gap: lower intermediate missing", []*x509.Certificate{twoInts.Chain[0], twoInts.Chain[2], twoInts.Chain[3]}, nil, certs.ErrChainGap,
			[]*x509.Certificate{twoInts.Chain[0], twoInts.Chain[2], twoInts.Chain[3]}},
		{"unrelated root", []*x509.Certificate{leaf, inter, root, otherRoot.RootCertificate()}, nil, certs.ErrUnrelatedCertificate,
			[]*x509.Certificate{otherRoot.RootCertificate()}},
		{"two CA certificates, no end entity", []*x509.Certificate{inter, twoInts.Chain[2]}, nil, certs.ErrMultipleLeaves,
			[]*x509.Certificate{inter, twoInts.Chain[2]}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := certs.OrderChain(tc.in)
			if tc.err == nil {
				require.NoError(t, err)
				assert.Equal(t, subjects(tc.want), subjects(got))
				assert.Equal(t, tc.want, got)
				return
			}
			require.ErrorIs(t, err, tc.err)
			assert.Nil(t, got)
			var ce *certs.ChainError
			require.ErrorAs(t, err, &ce)
			if tc.errWith != nil {
				assert.ElementsMatch(t, tc.errWith, ce.Certs)
			}
			assert.NotEmpty(t, err.Error())
		})
	}
}

func mustTemplate(t testing.TB, fqdn string) *x509.Certificate {
	t.Helper()
	tmpl, err := certs.ProvisioningTemplate(certs.ProvisioningTemplateOptions{FQDN: fqdn, CertOptions: certs.CertOptions{Now: fixedNow}})
	require.NoError(t, err)
	return tmpl
}

// TestOrderChainCrossSigned models a PFX holding a cross-signed CA and its
// self-signed twin (rpc-go issue #413, the 4-certificate GoDaddy chain): the
// SHA-2 self-signed twin ends the chain, and the cross-signed version and the
// old root above it are dropped; with a SHA-1 twin the longer path is taken.
func TestOrderChainCrossSigned(t *testing.T) {
	f := newFixture(t)
	old := certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: fixedNow, CommonName: "Old Root"})
	newRoot := certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: fixedNow, CommonName: "New Root"})
	tmpl, err := certs.CATemplate(certs.CATemplateOptions{CommonName: "New Root", Organization: newRoot.Name().Organization,
		CertOptions: certs.CertOptions{Now: fixedNow}, Unlimited: true})
	require.NoError(t, err)
	cross, err := certs.Issue(tmpl, newRoot.Key.Public(), old.Bundle, nil)
	require.NoError(t, err)
	require.Equal(t, newRoot.RootCertificate().RawSubject, cross.RawSubject)
	c := f.chain(t, certstest.ProvisioningOptions{Root: newRoot})

	in := []*x509.Certificate{newRoot.RootCertificate(), c.Leaf(), old.RootCertificate(), cross, c.Chain[1]}
	got, err := certs.OrderChain(in)
	require.NoError(t, err)
	assert.Equal(t, []*x509.Certificate{c.Leaf(), c.Chain[1], newRoot.RootCertificate()}, got)

	// Only the cross-signed path given: it is taken.
	got, err = certs.OrderChain([]*x509.Certificate{c.Leaf(), old.RootCertificate(), cross, c.Chain[1]})
	require.NoError(t, err)
	assert.Equal(t, []*x509.Certificate{c.Leaf(), c.Chain[1], cross, old.RootCertificate()}, got)

	// A SHA-1 self-signed twin: the longer path is taken and the twin dropped.
	sha1Root := certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: fixedNow, CommonName: "SHA1 Root", SHA1: true})
	tmpl1, err := certs.CATemplate(certs.CATemplateOptions{CommonName: "SHA1 Root", Organization: sha1Root.Name().Organization,
		CertOptions: certs.CertOptions{Now: fixedNow}, Unlimited: true})
	require.NoError(t, err)
	cross1, err := certs.Issue(tmpl1, sha1Root.Key.Public(), old.Bundle, nil)
	require.NoError(t, err)
	c1 := f.chain(t, certstest.ProvisioningOptions{Root: sha1Root})
	got, err = certs.OrderChain([]*x509.Certificate{sha1Root.RootCertificate(), c1.Leaf(), old.RootCertificate(), cross1, c1.Chain[1]})
	require.NoError(t, err)
	assert.Equal(t, []*x509.Certificate{c1.Leaf(), c1.Chain[1], cross1, old.RootCertificate()}, got)

	// Without the old root the self-signed twin ends the chain.
	got, err = certs.OrderChain([]*x509.Certificate{cross, c.Chain[1], newRoot.RootCertificate(), c.Leaf()})
	require.NoError(t, err)
	assert.Equal(t, c.Leaf(), got[0])
	assert.Equal(t, c.Chain[1], got[1])
	assert.Len(t, got, 3)
}

// TestOrderChainSignatureTieBreak: two issuers with the same name and no key
// identifiers; the one whose key verifies the leaf's signature is chosen.
func TestOrderChainSignatureTieBreak(t *testing.T) {
	keys := certstest.NewKeyPool()
	mkRoot := func() certs.Bundle {
		k := keys.MustRSA(t, 2048)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(len(k.N.Bytes()))), Subject: pkix.Name{CommonName: "Same Name"},
			NotBefore: t0.Add(-certs.Day), NotAfter: t0.Add(certs.Day)}
		c, err := certs.SelfSign(tmpl, k, nil)
		require.NoError(t, err)
		require.Empty(t, c.SubjectKeyId)
		return certs.Bundle{Chain: []*x509.Certificate{c}, Key: k}
	}
	r1, r2 := mkRoot(), mkRoot()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "leaf.example.com"},
		NotBefore: t0.Add(-certs.Day), NotAfter: t0.Add(certs.Day)}
	leaf, err := certs.Issue(tmpl, keys.MustRSA(t, 2048).Public(), r2, nil)
	require.NoError(t, err)
	require.Empty(t, leaf.AuthorityKeyId)

	got, err := certs.OrderChain([]*x509.Certificate{r2.Leaf(), leaf})
	require.NoError(t, err)
	assert.Equal(t, []*x509.Certificate{leaf, r2.Leaf()}, got)

	_, err = certs.OrderChain([]*x509.Certificate{r1.Leaf(), r2.Leaf(), leaf})
	require.ErrorIs(t, err, certs.ErrUnrelatedCertificate)
	var ce *certs.ChainError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []*x509.Certificate{r1.Leaf()}, ce.Certs, "the root whose key did not sign the leaf is the unrelated one")
}

func TestOrderChainCycle(t *testing.T) {
	keys := certstest.NewKeyPool()
	ka, kb := keys.MustRSA(t, 2048), keys.MustRSA(t, 2048)
	a := certstest.MustRootCA(t, certstest.CAOptions{Key: ka, CommonName: "A", Now: fixedNow})
	b := certstest.MustRootCA(t, certstest.CAOptions{Key: kb, CommonName: "B", Now: fixedNow})
	crossT := func(cn string) *x509.Certificate {
		tmpl, err := certs.CATemplate(certs.CATemplateOptions{CommonName: cn, Organization: a.Name().Organization, CertOptions: certs.CertOptions{Now: fixedNow}})
		require.NoError(t, err)
		return tmpl
	}
	aByB, err := certs.Issue(crossT("A"), ka.Public(), b.Bundle, nil)
	require.NoError(t, err)
	bByA, err := certs.Issue(crossT("B"), kb.Public(), a.Bundle, nil)
	require.NoError(t, err)
	_, err = certs.OrderChain([]*x509.Certificate{aByB, bByA})
	require.ErrorIs(t, err, certs.ErrChainCycle)
}

func TestOrderChainTooMany(t *testing.T) {
	f := newFixture(t)
	var in []*x509.Certificate
	pub := f.keys.MustRSA(t, 2048).Public()
	for i := 0; i <= certs.MaxChainCertificates; i++ {
		c, err := f.root.IssueCert(mustTemplate(t, "x.example.com"), pub)
		require.NoError(t, err)
		in = append(in, c)
	}
	_, err := certs.OrderChain(in)
	require.ErrorIs(t, err, certs.ErrTooManyCertificates)
	_, err = certs.OrderChain(in[:certs.MaxChainCertificates])
	require.ErrorIs(t, err, certs.ErrMultipleLeaves)
}
