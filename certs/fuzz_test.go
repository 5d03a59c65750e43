package certs_test

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"software.sslmate.com/src/go-pkcs12"
)

// fuzzSeeds returns a good provisioning bundle as PEM and as PKCS#12 in each
// encoding.
func fuzzSeeds(f *testing.F) (pemData []byte, p12 [][]byte) {
	fx := newFixture(f)
	c := fx.chain(f, certstest.ProvisioningOptions{})
	pemData, err := certs.EncodePEM(c.Bundle)
	if err != nil {
		f.Fatal(err)
	}
	for _, enc := range []certs.PKCS12Encoding{certs.PKCS12Modern2023, certs.PKCS12LegacyDES, certs.PKCS12LegacyRC2, certs.PKCS12Modern2026} {
		der, err := certs.EncodePKCS12(c.Bundle, amt.NewSecret(fuzzPassword), certs.PKCS12Options{Encoding: enc})
		if err != nil {
			f.Fatal(err)
		}
		p12 = append(p12, der)
	}
	return pemData, p12
}

// fuzzPassword protects the PKCS#12 seeds; no loader's error may quote it.
const fuzzPassword = "Fuzz-pw-7Qx!"

// checkRefused holds for every refusal of a loader: the error is one the
// loaders document (errors.Is / errors.As), and it never quotes the password.
func checkRefused(t *testing.T, err error) {
	var ce *certs.ChainError
	switch {
	case errors.Is(err, certs.ErrMalformed), errors.Is(err, pkcs12.ErrIncorrectPassword),
		errors.Is(err, pkcs12.ErrDecryption), errors.As(err, &ce), errors.Is(err, certs.ErrKeyType),
		errors.Is(err, certs.ErrKeyMismatch), errors.Is(err, certs.ErrNoCertificates),
		errors.Is(err, certs.ErrMultipleKeys), errors.Is(err, certs.ErrEncryptedKey):
	default:
		t.Fatalf("undocumented error %T: %v", err, err)
	}
	if strings.Contains(err.Error(), fuzzPassword) {
		t.Fatalf("error quotes the password: %v", err)
	}
}

// checkLoaded holds for anything a loader accepts.
func checkLoaded(t *testing.T, b certs.Bundle) {
	if len(b.Chain) == 0 || b.Leaf() == nil {
		t.Fatal("loader returned an empty chain without error")
	}
	if b.Key != nil {
		if err := b.CheckKey(); err != nil {
			t.Fatalf("loader returned a key that does not match the leaf: %v", err)
		}
	}
}

func FuzzLoadPEM(f *testing.F) {
	pemData, _ := fuzzSeeds(f)
	f.Add(pemData)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := certs.LoadPEM(data)
		if err != nil {
			checkRefused(t, err)
			return
		}
		checkLoaded(t, b)
		// Round trip: what loaded re-encodes and loads the same.
		out := certs.EncodeCertificatesPEM(b.Chain)
		b2, err := certs.LoadPEM(out)
		if err != nil {
			t.Fatalf("re-encoded chain does not load: %v", err)
		}
		if len(b2.Chain) != len(b.Chain) {
			t.Fatalf("round trip changed the chain length %d → %d", len(b.Chain), len(b2.Chain))
		}
	})
}

func FuzzLoadPKCS12(f *testing.F) {
	_, p12 := fuzzSeeds(f)
	for _, s := range p12 {
		f.Add(s)
	}
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := certs.LoadPKCS12(data, amt.NewSecret(fuzzPassword))
		if err != nil {
			checkRefused(t, err)
			return
		}
		checkLoaded(t, b)
	})
}

func FuzzLoad(f *testing.F) {
	pemData, p12 := fuzzSeeds(f)
	f.Add(pemData)
	f.Add(p12[0])
	f.Add([]byte("MAMCAQM="))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := certs.Load(data, amt.NewSecret(fuzzPassword))
		if err != nil {
			checkRefused(t, err)
			return
		}
		checkLoaded(t, b)
	})
}

// FuzzParsePublicKey: whatever ParsePublicKey accepts (a key a device
// supplies) is within CheckDeviceKey's bounds.
func FuzzParsePublicKey(f *testing.F) {
	fx := newFixture(f)
	k := fx.keys.MustRSA(f, 2048)
	f.Add(x509.MarshalPKCS1PublicKey(&k.PublicKey))
	if spki, err := x509.MarshalPKIXPublicKey(k.Public()); err == nil {
		f.Add(spki)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		pub, err := certs.ParsePublicKey(der)
		if err != nil {
			if !errors.Is(err, certs.ErrPublicKey) {
				t.Fatalf("error %v does not wrap ErrPublicKey", err)
			}
			return
		}
		if err := certs.CheckDeviceKey(pub); err != nil {
			t.Fatalf("accepted a key CheckDeviceKey refuses: %v", err)
		}
	})
}
