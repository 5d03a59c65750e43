package provisioning_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/provisioning"
)

func TestStateNames(t *testing.T) {
	want := []string{"New", "Authorized", "Connected", "Identified", "Configured", "Committed", "Provisioned", "Rejected", "Failed"}
	for i, w := range want {
		s := provisioning.State(i)
		assert.Equal(t, w, s.String())
		b, err := s.MarshalText()
		require.NoError(t, err)
		var back provisioning.State
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, s, back)
		assert.Equal(t, w == "Provisioned" || w == "Rejected" || w == "Failed", s.Final())
	}
	assert.Equal(t, "State(42)", provisioning.State(42).String())
	var s provisioning.State
	assert.Error(t, s.UnmarshalText([]byte("Bogus")))
}

func TestSessionErrorClassification(t *testing.T) {
	rej := provisioning.Reject(provisioning.ReasonUnknownDevice, "device %s unknown", "x")
	assert.True(t, errors.Is(rej, provisioning.ErrRejected))
	assert.False(t, errors.Is(rej, provisioning.ErrFailed))
	assert.Equal(t, provisioning.ReasonUnknownDevice, provisioning.ReasonOf(fmt.Errorf("wrapped: %w", rej)))
	fail := &provisioning.SessionError{Step: provisioning.StepCommit, Reason: provisioning.ReasonCommitFailed, Err: amt.StatusDataMissing}
	assert.True(t, errors.Is(fail, provisioning.ErrFailed))
	assert.True(t, errors.Is(fail, amt.StatusDataMissing))
	assert.Equal(t, "provisioning: failed at commit: commit-failed: amt: PT_STATUS_DATA_MISSING (2057)", fail.Error())
	cu := &provisioning.CommitUnconfirmedError{CommitErr: errors.New("EOF"), VerifyErr: context.DeadlineExceeded}
	assert.True(t, errors.Is(cu, context.DeadlineExceeded))
	assert.Equal(t, "", string(provisioning.ReasonOf(errors.New("plain"))))
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	s := provisioning.NewMemoryStore()
	u := amt.UUID{1}
	_, err := s.Load(ctx, u)
	assert.ErrorIs(t, err, provisioning.ErrNotFound)
	r := &provisioning.DeviceRecord{UUID: u, State: provisioning.StateAuthorized, AdminPassword: amt.NewSecret("P@ssw0rd1"),
		Certificates: []provisioning.DeviceCertificate{{Purpose: provisioning.PurposeTLS, DER: []byte{1, 2}}},
		History:      []provisioning.StepRecord{{Step: provisioning.StepAuthorize}}, DeviceCertPin: []byte{9}}
	require.NoError(t, s.Save(ctx, r))
	// The store keeps its own copy.
	r.Certificates[0].DER[0] = 7
	r.History[0].Step = "changed"
	got, err := s.Load(ctx, u)
	require.NoError(t, err)
	assert.Equal(t, byte(1), got.Certificates[0].DER[0])
	assert.Equal(t, provisioning.StepAuthorize, got.History[0].Step)
	assert.Equal(t, "P@ssw0rd1", got.AdminPassword.Reveal())
	got.DeviceCertPin[0] = 0
	again, _ := s.Load(ctx, u)
	assert.Equal(t, byte(9), again.DeviceCertPin[0])

	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_ = s.Save(ctx, &provisioning.DeviceRecord{UUID: amt.UUID{byte(i), 1}})
			_, _ = provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
		}(i)
	}
	wg.Wait()
	list, err := provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
	require.NoError(t, err)
	assert.Len(t, list, 51)
	for i := 1; i < len(list); i++ {
		assert.Less(t, string(list[i-1].UUID[:]), string(list[i].UUID[:]))
	}
	require.NoError(t, s.Delete(ctx, u, got.Version))
	_, err = s.Load(ctx, u)
	assert.ErrorIs(t, err, provisioning.ErrNotFound)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.Error(t, s.Save(cctx, r))
	var zero provisioning.MemoryStore
	r.Version = 0 // new to this store
	require.NoError(t, zero.Save(ctx, r))
}

func TestDeviceRecordCurrentCertificate(t *testing.T) {
	r := &provisioning.DeviceRecord{Certificates: []provisioning.DeviceCertificate{
		{Purpose: provisioning.PurposeTLS, Handle: "1", Revoked: true},
		{Purpose: provisioning.PurposeTLS, Handle: "2"},
		{Purpose: provisioning.PurposeIEEE8021X, Handle: "3"},
	}}
	c, ok := r.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	assert.Equal(t, "2", c.Handle)
	r.Certificates[1].Revoked = true
	_, ok = r.CurrentCertificate(provisioning.PurposeTLS)
	assert.False(t, ok)
	assert.True(t, provisioning.Done(7).Has(provisioning.DoneAdminACL|provisioning.DoneMEBxPassword))
	assert.False(t, provisioning.DoneMEBxPassword.Has(provisioning.DoneAdminACL))
}

func TestInventoryList(t *testing.T) {
	u := amt.UUID{1}
	l := provisioning.NewInventoryList(provisioning.Inventory{UUID: u, FQDN: "pc1.sales.contoso.com"})
	assert.Equal(t, 1, l.Len())
	inv, err := l.Authorize(context.Background(), provisioning.AuthRequest{Hello: &hello.Message{UUID: u}})
	require.NoError(t, err)
	assert.Equal(t, "sales.contoso.com", inv.Suffix())
	h, d := inv.HostDomain()
	assert.Equal(t, "pc1", h)
	assert.Equal(t, "sales.contoso.com", d)
	_, err = l.Authorize(context.Background(), provisioning.AuthRequest{Hello: &hello.Message{UUID: amt.UUID{2}}})
	assert.Equal(t, provisioning.ReasonUnknownDevice, provisioning.ReasonOf(err))
	l.Remove(u)
	_, ok := l.Lookup(u)
	assert.False(t, ok)
	assert.Equal(t, "x.y", provisioning.Inventory{DNSSuffix: "x.y", FQDN: "a.b.c"}.Suffix())
	assert.Equal(t, "", provisioning.Inventory{FQDN: "single"}.Suffix())
}

func TestProfileValidate(t *testing.T) {
	ok := provisioning.Profile{Name: "p", Users: []provisioning.UserAccount{{Name: "op", Password: amt.NewSecret("Op3rator!"), Realms: []amt.Realm{amt.RealmRemoteControl}}}}
	assert.NoError(t, ok.Validate())
	bad := []provisioning.Profile{
		{AdminUser: "$$OsAdmin"},
		{AdminPassword: amt.NewSecret("weak")},
		{MEBxPassword: amt.NewSecret("admin")},
		{Users: []provisioning.UserAccount{{Name: "op", Password: amt.NewSecret("weak")}}},
		{Users: []provisioning.UserAccount{{Name: "op", Password: amt.NewSecret("Op3rator!")}}},
		{Users: []provisioning.UserAccount{{Name: "op", Password: amt.NewSecret("Op3rator!"), Realms: []amt.Realm{amt.RealmInvalid}}}},
		{ProvisioningWindow: 25 * time.Hour},
	}
	for i, p := range bad {
		err := p.Validate()
		var ce *provisioning.ConfigError
		assert.True(t, errors.As(err, &ce), "profile %d: %v", i, err)
		if err != nil {
			assert.NotContains(t, err.Error(), "weak")
		}
	}
}
