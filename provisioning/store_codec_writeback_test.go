package provisioning_test

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// What loads can be saved: the write-back check encodes the record as Marshal
// would, from the decoded record, not the stored strings. A source stored in
// a shorter form than Marshal writes ("[::ffff:a0a:a0a]:1", written back as
// "[::ffff:10.10.10.10]:1") made a record at the limit load and then fail
// every save as too large.
func TestCodecWriteBackSourceCanonicalForm(t *testing.T) {
	ctx := context.Background()
	c := provisioning.RecordCodec{Sealer: testSealer(t)}
	r := &provisioning.DeviceRecord{UUID: amt.UUID{0x5}, Version: 1, Source: netip.MustParseAddrPort("[::ffff:10.10.10.10]:1"),
		AdminPassword: amt.NewSecret("P@ssw0rd!"), Users: []provisioning.UserCredential{{Name: "ops", Password: amt.NewSecret("x")}},
		Session: &provisioning.SessionRecord{AdminPassword: amt.NewSecret("s")}, Agent: &provisioning.AgentRequest{OTP: amt.NewSecret("otp")}}
	b, err := c.Marshal(ctx, r)
	require.NoError(t, err)
	r.LastError = strings.Repeat("x", provisioning.MaxRecordSize-1-len(b))
	b, err = c.Marshal(ctx, r)
	require.NoError(t, err)
	require.Equal(t, provisioning.MaxRecordSize-1, len(b))

	// The same record stored with the source in its compact form and the
	// four bytes saved put into LastError: the same length.
	planted := bytes.Replace(b, []byte(`"[::ffff:10.10.10.10]:1"`), []byte(`"[::ffff:a0a:a0a]:1"`), 1)
	planted = bytes.Replace(planted, []byte(`"lastError":"`), []byte(`"lastError":"xxxx`), 1)
	require.Equal(t, provisioning.MaxRecordSize-1, len(planted))

	_, err = c.UnmarshalFor(ctx, r.UUID, 1, planted)
	require.ErrorIs(t, err, provisioning.ErrRecordFormat, "a record that would load and never save again")

	// The record as Marshal wrote it loads, secrets and all, and saves again.
	got, err := c.UnmarshalFor(ctx, r.UUID, 1, b)
	require.NoError(t, err)
	require.Equal(t, "P@ssw0rd!", got.AdminPassword.Reveal())
	require.Equal(t, "otp", got.Agent.OTP.Reveal())
	got.Version = 2
	_, err = c.Marshal(ctx, got)
	require.NoError(t, err)
}
