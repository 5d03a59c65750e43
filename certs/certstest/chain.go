package certstest

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/amtkit/amtkit/certs"
)

// DefaultFQDN is the provisioning server name chains get by default.
const DefaultFQDN = "prov.example.com"

// ProvisioningOptions describe a throw-away provisioning chain. The zero value
// makes a good one: root → one intermediate → leaf "prov.example.com" with the
// AMT OID and OU, RSA-2048 keys from the embedded pool, SHA-256, valid from an hour
// ago for a year.
type ProvisioningOptions struct {
	// FQDN is the leaf's CN and SAN; "*.example.com" makes a wildcard
	// certificate. Default DefaultFQDN.
	FQDN string
	// Marker selects the usage marker (default OID and OU; MarkerNone for a
	// chain AMT refuses).
	Marker certs.UsageMarker
	// NoIntermediate issues the leaf directly from the root.
	NoIntermediate bool
	// Intermediates is the number of intermediate CAs (ignored with
	// NoIntermediate); 0 means 1.
	Intermediates int
	// LeafBits is the leaf's RSA key size (default 2048; 1024 for short keys).
	LeafBits int
	// LeafECDSA gives the leaf a P-256 key.
	LeafECDSA bool
	// LeafKey, when set, is the leaf's key (an HSM stand-in, for example).
	LeafKey crypto.Signer
	// SHA1 signs the leaf with SHA-1.
	SHA1 bool
	// NotBefore and NotAfter of the leaf; zero means from
	// certs.DefaultBackdate (two days) ago for a year.
	NotBefore, NotAfter time.Time
	// Expired makes the leaf expired one day before Now (valid for a year before that).
	Expired bool
	// Root, when set, issues the chain (saves one signature per chain); its
	// options are then ignored.
	Root *CA
	// Issuer, when set, signs the leaf directly: no root or intermediate is
	// made (one signature per chain). Root, RootOptions and the intermediate
	// options are then ignored; the chain is the leaf plus Issuer's chain.
	Issuer *CA
	// RootOptions and IntermediateOptions tune the CAs (SHA-1, short keys, ...).
	RootOptions, IntermediateOptions CAOptions
	// Leaf, when set, edits the leaf template before it is signed (add a
	// Microsoft template extension, change the OU, drop serverAuth, ...).
	Leaf func(*x509.Certificate)
	// Keys supplies all keys; nil means a new pool.
	Keys *KeyPool
	// Now is the clock; nil means time.Now. Rand is for serial numbers; nil
	// means crypto/rand.
	Now  func() time.Time
	Rand io.Reader
}

// ProvisioningChain is a made-up provisioning bundle with the CAs behind it.
type ProvisioningChain struct {
	// Bundle is leaf → intermediates → root with the leaf's key.
	certs.Bundle
	// Root is the root CA; Issuer is the CA that signed the leaf (the root
	// itself with NoIntermediate). With ProvisioningOptions.Issuer, Root is
	// Issuer.RootCA().
	Root, Issuer *CA
}

// NewProvisioningChain makes a provisioning chain as o describes. With pooled
// keys and an existing Root it costs one RSA-2048 signature per certificate made.
func NewProvisioningChain(o ProvisioningOptions) (*ProvisioningChain, error) {
	if o.Keys == nil {
		o.Keys = NewKeyPool()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	if o.Issuer != nil {
		return issueLeaf(o, o.Issuer.RootCA(), o.Issuer, now)
	}
	root := o.Root
	if root == nil {
		ro := o.RootOptions
		if ro.Keys == nil {
			ro.Keys = o.Keys
		}
		if ro.Now == nil {
			ro.Now = o.Now
		}
		if ro.Rand == nil {
			ro.Rand = o.Rand
		}
		var err error
		if root, err = NewRootCA(ro); err != nil {
			return nil, err
		}
	}
	issuer := root
	if !o.NoIntermediate {
		n := o.Intermediates
		if n <= 0 {
			n = 1
		}
		for i := 0; i < n; i++ {
			imo := o.IntermediateOptions
			if imo.CommonName == "" && n > 1 {
				imo.CommonName = fmt.Sprintf("amtkit Test Intermediate CA %d", i+1)
			}
			if imo.Keys == nil {
				imo.Keys = o.Keys
			}
			if imo.Now == nil {
				imo.Now = o.Now
			}
			if imo.Rand == nil {
				imo.Rand = o.Rand
			}
			var err error
			if issuer, err = issuer.NewIntermediate(imo); err != nil {
				return nil, err
			}
		}
	}
	return issueLeaf(o, root, issuer, now)
}

func issueLeaf(o ProvisioningOptions, root, issuer *CA, now func() time.Time) (*ProvisioningChain, error) {
	key := o.LeafKey
	if key == nil {
		var err error
		switch {
		case o.LeafECDSA:
			key, err = o.Keys.ECDSA()
		default:
			bits := o.LeafBits
			if bits == 0 {
				bits = 2048
			}
			key, err = o.Keys.RSA(bits)
		}
		if err != nil {
			return nil, err
		}
	}
	fqdn := o.FQDN
	if fqdn == "" {
		fqdn = DefaultFQDN
	}
	nb, na := o.NotBefore, o.NotAfter
	if o.Expired {
		na = now().Add(-certs.Day)
		nb = na.Add(-365 * certs.Day)
	}
	t, err := certs.ProvisioningTemplate(certs.ProvisioningTemplateOptions{
		CertOptions:  certs.CertOptions{NotBefore: nb, NotAfter: na, Rand: o.Rand, Now: o.Now},
		FQDN:         fqdn,
		Organization: []string{"amtkit test (TEST ONLY)"},
		Marker:       o.Marker,
	})
	if err != nil {
		return nil, err
	}
	if o.SHA1 {
		t.SignatureAlgorithm = x509.SHA1WithRSA
	}
	if o.Leaf != nil {
		o.Leaf(t)
	}
	leaf, err := certs.Issue(t, key.Public(), issuer.Bundle, o.Rand)
	if err != nil {
		return nil, err
	}
	chain := append([]*x509.Certificate{leaf}, issuer.Chain...)
	return &ProvisioningChain{Bundle: certs.Bundle{Chain: chain, Key: key}, Root: root, Issuer: issuer}, nil
}

// MustProvisioningChain is [NewProvisioningChain] that fails the test on error (t
// may be nil, as in examples: it then panics).
func MustProvisioningChain(t testing.TB, o ProvisioningOptions) *ProvisioningChain {
	if t != nil {
		t.Helper()
	}
	c, err := NewProvisioningChain(o)
	if err != nil {
		fail(t, err)
	}
	return c
}
