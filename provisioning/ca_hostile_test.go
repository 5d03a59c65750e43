package provisioning_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// ExtraExtensions override a template's fields: keyCertSign and cRLSign
// sent as a keyUsage extension there (with no basicConstraints) would make
// an end-entity certificate OpenSSL calls a CA. The CA refuses keyUsage and
// nameConstraints in ExtraExtensions.
func TestCARefusesKeyUsageInExtraExtensions(t *testing.T) {
	f := newCAFixture(t)
	ca := f.newCA(t, provisioning.CAOptions{})
	ku, err := asn1.Marshal(asn1.BitString{Bytes: []byte{0x86}, BitLength: 7}) // digitalSignature|keyCertSign|cRLSign
	require.NoError(t, err)
	for _, ext := range []pkix.Extension{
		{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Critical: true, Value: ku},
		{Id: asn1.ObjectIdentifier{2, 5, 29, 30}, Critical: true, Value: []byte{0x30, 0}},
	} {
		tm := f.tlsTemplate(t, "amt.example.com")
		tm.BasicConstraintsValid = false
		tm.ExtraExtensions = append(tm.ExtraExtensions, ext)
		_, err := ca.Issue(t.Context(), provisioning.IssueRequest{Purpose: provisioning.PurposeTLS,
			PublicKey: f.keys.MustRSA(t, 2048).Public(), Template: tm})
		require.ErrorIs(t, err, provisioning.ErrCARequest, ext.Id.String())
	}
}

// Two CA processes on one log file: every log opened before another's
// write refuses to write over it, also when the file system has handed the
// file's old inode out again (ext4 does so at once; an inode check alone let
// the stale writer erase revocations the other had confirmed).
func TestFileRevocationLogStaleWriterDetected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "revocations.log")
	a, err := provisioning.OpenFileRevocationLog(path)
	require.NoError(t, err)
	var stale []*provisioning.FileRevocationLog
	for s := int64(1); s <= 20; s++ {
		o, err := provisioning.OpenFileRevocationLog(path) // opened, then a's write
		require.NoError(t, err)
		stale = append(stale, o)
		require.NoError(t, a.Add(t.Context(), provisioning.Revocation{SerialNumber: big.NewInt(s), RevokedAt: caT0, Reason: certs.RevocationKeyCompromise}))
	}
	for i, o := range stale {
		err := o.Add(t.Context(), provisioning.Revocation{SerialNumber: big.NewInt(1000 + int64(i)), RevokedAt: caT0})
		require.ErrorIs(t, err, provisioning.ErrRevocationLogChanged, "log opened before write %d", i+1)
	}
	reopened, err := provisioning.OpenFileRevocationLog(path)
	require.NoError(t, err)
	all, err := reopened.All(t.Context())
	require.NoError(t, err)
	assert.Len(t, all, 20, "every revocation a confirmed is kept")
}

// A CA prints no key material, also an ed25519 key (a byte slice that fmt
// would print in full), with %v, %+v, %#v, slog, or inside another value.
func TestCAPrintsNoKey(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5a}, ed25519.SeedSize))
	root := certstest.MustRootCA(t, certstest.CAOptions{Key: key, Now: func() time.Time { return caT0 }})
	ca, err := provisioning.NewCA(root.Bundle, provisioning.CAOptions{})
	require.NoError(t, err)
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s\n", ca, ca, ca, ca)
	fmt.Fprintf(&out, "%+v\n", struct{ c, C *provisioning.CA }{ca, ca})
	slog.New(slog.NewTextHandler(&out, nil)).Info("CA ready", "ca", ca)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("CA ready", "ca", ca)
	assert.Contains(t, out.String(), "provisioning.CA(Bundle(")
	for _, form := range []string{fmt.Sprint([]byte(key[:8]))[1:20], hex.EncodeToString(key[:8]), fmt.Sprintf("%#v", []byte(key[:4]))[8:]} {
		assert.False(t, strings.Contains(out.String(), form), "key material printed: %.200s", out.String())
	}
}
