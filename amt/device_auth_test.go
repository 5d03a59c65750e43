package amt

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAuthorizationRecorded(t *testing.T) {
	tests := []struct {
		src                      vectorSource
		adminDefault, netDefault bool
		handles                  []uint32
		entry                    UserACLEntry // GetUserAclEntryEx answers this for every handle
		enabled                  bool
	}{
		{ownSource, false, true, []uint32{4, 7, 9},
			UserACLEntry{Username: "operator", Access: AccessAny, Realms: []Realm{RealmRedirection, RealmRemoteControl}}, false},
		{recordedSource, false, false, []uint32{1, 2},
			UserACLEntry{Username: "$$uns", Access: AccessLocal, Realms: []Realm{RealmLocalUN}}, true},
	}
	methods := map[string]string{
		"SetAdminAclEntryEx":        "amt/authorization/setadminaclentryex",
		"GetAdminAclEntry":          "amt/authorization/getadminaclentry",
		"GetAdminAclEntryStatus":    "amt/authorization/getadminaclentrystatus",
		"GetAdminNetAclEntryStatus": "amt/authorization/getadminnetaclentrystatus",
		"EnumerateUserAclEntries":   "amt/authorization/enumerateuseraclentries",
		"GetUserAclEntryEx":         "amt/authorization/getuseraclentryex",
		"RemoveUserAclEntry":        "amt/authorization/removeuseraclentry",
		"SetAclEnabledState":        "amt/authorization/setaclenabledstate",
		"GetAclEnabledState":        "amt/authorization/getaclenabledstate",
	}
	var files []string
	for _, f := range methods {
		files = append(files, f)
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			ctx := context.Background()
			rs := tc.src.load(t, files...)
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				m, _ := r.Method()
				return rs.reply(t, r, methods[m])
			})
			last := func(method string) []param {
				rs := f.requests()
				return requireMethodInput(t, rs[len(rs)-1], URIAuthorizationService, method)
			}

			for _, v := range strongDigestVectors(t, false) {
				require.NoError(t, d.SetAdminACLEntryEx(ctx, v.User, NewSecret(v.Password), v.Realm))
				ps := last("SetAdminAclEntryEx")
				assert.Equal(t, []string{"Username", "DigestPassword"}, names(ps))
				assert.Equal(t, []string{v.User}, values(ps)["Username"])
				assert.Equal(t, []string{v.Base64}, values(ps)["DigestPassword"], "base64 of the raw MD5, not hex")
			}

			user, err := d.AdminACLEntry(ctx)
			require.NoError(t, err)
			assert.Equal(t, "admin", user)
			assert.Empty(t, last("GetAdminAclEntry"))

			isDefault, err := d.AdminACLEntryStatus(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.adminDefault, isDefault)
			isDefault, err = d.AdminNetACLEntryStatus(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.netDefault, isDefault)

			hs, err := d.UserACLEntryHandles(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.handles, hs)
			assert.Equal(t, map[string][]string{"StartIndex": {"1"}}, values(last("EnumerateUserAclEntries")))

			e, err := d.UserACLEntryEx(ctx, 1)
			require.NoError(t, err)
			want := tc.entry
			want.Handle = 1
			assert.Equal(t, &want, e)
			assert.Equal(t, map[string][]string{"Handle": {"1"}}, values(last("GetUserAclEntryEx")))

			all, err := d.UserACLEntries(ctx)
			require.NoError(t, err)
			require.Len(t, all, len(tc.handles))
			for i, h := range tc.handles {
				assert.Equal(t, h, all[i].Handle)
			}

			require.NoError(t, d.RemoveUserACLEntry(ctx, 2))
			assert.Equal(t, map[string][]string{"Handle": {"2"}}, values(last("RemoveUserAclEntry")))

			require.NoError(t, d.SetACLEnabledState(ctx, 1, false))
			ps := last("SetAclEnabledState")
			assert.Equal(t, []string{"Handle", "Enabled"}, names(ps))
			assert.Equal(t, map[string][]string{"Handle": {"1"}, "Enabled": {"false"}}, values(ps))

			enabled, err := d.ACLEnabledState(ctx, 1)
			require.NoError(t, err)
			assert.Equal(t, tc.enabled, enabled)
			assert.Equal(t, map[string][]string{"Handle": {"1"}}, values(last("GetAclEnabledState")))
		})
	}
}

func TestUserACLEntryRequests(t *testing.T) {
	ctx := context.Background()
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if m, _ := r.Method(); m == "AddUserAclEntryEx" {
			return output(r, 0, wsman.Prop("Handle", "7"))
		}
		return output(r, 0)
	})
	v := strongDigestVectors(t, false)
	op := v[len(v)-1]
	h, err := d.AddUserACLEntryEx(ctx, UserACLEntryRequest{
		Username: op.User, Password: NewSecret(op.Password), DigestRealm: op.Realm,
		Access: AccessAny, Realms: []Realm{RealmRedirection, RealmPTAdministration, RealmRemoteControl},
	})
	require.NoError(t, err)
	assert.Equal(t, uint32(7), h)
	ps := requireMethodInput(t, f.requests()[0], URIAuthorizationService, "AddUserAclEntryEx")
	assert.Equal(t, []string{"DigestUsername", "DigestPassword", "AccessPermission", "Realms", "Realms", "Realms"}, names(ps))
	assert.Equal(t, map[string][]string{
		"DigestUsername": {op.User}, "DigestPassword": {op.Base64}, "AccessPermission": {"2"}, "Realms": {"2", "3", "5"},
	}, values(ps), "realms are repeated elements")

	sid := []byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0}
	_, err = d.AddUserACLEntryEx(ctx, UserACLEntryRequest{KerberosSID: sid, Access: AccessNetwork, Realms: []Realm{RealmHardwareAsset}})
	require.NoError(t, err)
	ps = requireMethodInput(t, f.requests()[1], URIAuthorizationService, "AddUserAclEntryEx")
	assert.Equal(t, []string{"KerberosUserSid", "AccessPermission", "Realms"}, names(ps))
	assert.Equal(t, base64.StdEncoding.EncodeToString(sid), ps[0].Value)

	require.NoError(t, d.UpdateUserACLEntryEx(ctx, 7, UserACLEntryRequest{Username: op.User, Password: NewSecret(op.Password), DigestRealm: op.Realm, Access: AccessLocal}))
	ps = requireMethodInput(t, f.requests()[2], URIAuthorizationService, "UpdateUserAclEntryEx")
	assert.Equal(t, []string{"Handle", "DigestUsername", "DigestPassword", "AccessPermission"}, names(ps))
	assert.Equal(t, "7", ps[0].Value)

	n := len(f.requests())
	for name, req := range map[string]UserACLEntryRequest{
		"neither":      {Access: AccessAny},
		"both":         {Username: "u1", Password: testPassword(), DigestRealm: testRealm, KerberosSID: sid},
		"no realm":     {Username: "u1", Password: testPassword()},
		"weak":         {Username: "u1", Password: NewSecret("password"), DigestRealm: testRealm},
		"long user":    {Username: "abcdefghijklmnopq", Password: testPassword(), DigestRealm: testRealm},
		"system user":  {Username: "$$OsAdmin", Password: testPassword(), DigestRealm: testRealm},
		"bad SID":      {KerberosSID: []byte{1, 2, 3}},
		"long SID":     {KerberosSID: make([]byte, 32)},
		"bad access":   {Username: "u1", Password: testPassword(), DigestRealm: testRealm, Access: 3},
		"colon in pwd": {Username: "u1", Password: NewSecret("P@ss:w0rd1"), DigestRealm: testRealm},
	} {
		_, err := d.AddUserACLEntryEx(ctx, req)
		require.ErrorIs(t, err, ErrInvalidArgument, name)
		require.ErrorIs(t, d.UpdateUserACLEntryEx(ctx, 1, req), ErrInvalidArgument, name)
	}
	require.ErrorIs(t, d.SetAdminACLEntryEx(ctx, "admin", testPassword(), ""), ErrInvalidArgument)
	require.ErrorIs(t, d.SetAdminACLEntryEx(ctx, "", testPassword(), testRealm), ErrUsernameEmpty)
	assert.Len(t, f.requests(), n, "refused arguments are never sent")
}

// TestUserACLEntryPaging: the device returns at most 50 handles per call;
// StartIndex is 1-based and advances by HandlesCount.
func TestUserACLEntryPaging(t *testing.T) {
	const total = 120
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		start, err := strconv.Atoi(r.Fields()["StartIndex"][0])
		if err != nil || start < 1 || start > total {
			return output(r, uint32(StatusInvalidIndex))
		}
		props := []wsman.Property{wsman.Prop("TotalCount", strconv.Itoa(total))}
		n := min(50, total-start+1)
		props = append(props, wsman.Prop("HandlesCount", strconv.Itoa(n)))
		for h := start; h < start+n; h++ {
			props = append(props, wsman.Prop("Handles", strconv.Itoa(1000+h)))
		}
		return output(r, 0, props...)
	})
	hs, err := d.UserACLEntryHandles(context.Background())
	require.NoError(t, err)
	require.Len(t, hs, total)
	assert.Equal(t, uint32(1001), hs[0])
	assert.Equal(t, uint32(1000+total), hs[total-1])
	var starts []string
	for _, r := range f.requests() {
		starts = append(starts, r.Fields()["StartIndex"][0])
	}
	assert.Equal(t, []string{"1", "51", "101"}, starts)
}

func TestUserACLEntryBadPages(t *testing.T) {
	for name, props := range map[string][]wsman.Property{
		"count mismatch": {wsman.Prop("TotalCount", "2"), wsman.Prop("HandlesCount", "2"), wsman.Prop("Handles", "1")},
		"no total":       {wsman.Prop("HandlesCount", "0")},
		"bad handle":     {wsman.Prop("TotalCount", "1"), wsman.Prop("HandlesCount", "1"), wsman.Prop("Handles", "x")},
	} {
		t.Run(name, func(t *testing.T) {
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0, props...) })
			_, err := d.UserACLEntryHandles(context.Background())
			require.ErrorIs(t, err, ErrBadResponse)
		})
	}
	// A device that keeps promising more than it sends is cut off.
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return output(r, 0, wsman.Prop("TotalCount", "1000"), wsman.Prop("HandlesCount", "1"), wsman.Prop("Handles", r.Fields()["StartIndex"][0]))
	})
	_, err := d.UserACLEntryHandles(context.Background())
	require.ErrorIs(t, err, ErrBadResponse)
	assert.Len(t, f.requests(), maxACLPages)
	// One that promises more entries than AMT keeps is refused at once.
	d, f = newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return output(r, 0, wsman.Prop("TotalCount", "100000"), wsman.Prop("HandlesCount", "1"), wsman.Prop("Handles", "1"))
	})
	_, err = d.UserACLEntryHandles(context.Background())
	require.ErrorIs(t, err, ErrBadResponse)
	assert.Len(t, f.requests(), 1)

	// An empty list is one call.
	d, f = newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return output(r, 0, wsman.Prop("TotalCount", "0"), wsman.Prop("HandlesCount", "0"))
	})
	hs, err := d.UserACLEntryHandles(context.Background())
	require.NoError(t, err)
	assert.Empty(t, hs)
	assert.Len(t, f.requests(), 1)
}

func TestBoolAndHandleOutputs(t *testing.T) {
	for name, tc := range map[string]struct {
		props []wsman.Property
	}{
		"missing": {nil},
		"bad":     {[]wsman.Property{wsman.Prop("IsDefault", "perhaps"), wsman.Prop("Handle", "-1"), wsman.Prop("Username", "")}},
	} {
		t.Run(name, func(t *testing.T) {
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0, tc.props...) })
			_, err := d.AdminACLEntryStatus(context.Background())
			require.ErrorIs(t, err, ErrBadResponse)
			_, err = d.AddUserACLEntryEx(context.Background(), UserACLEntryRequest{Username: "u1", Password: testPassword(), DigestRealm: testRealm})
			require.ErrorIs(t, err, ErrBadResponse)
			if tc.props == nil {
				_, err = d.AdminACLEntry(context.Background())
				require.ErrorIs(t, err, ErrBadResponse)
			}
		})
	}
}

func TestTimeSynchronization(t *testing.T) {
	tests := []struct {
		src vectorSource
		ta0 time.Time
	}{
		// 1767225600 is 2026-01-01T00:00:00Z.
		{ownSource, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		// Ta0 1704586865 is 2024-01-07T00:21:05Z (Python datetime.utcfromtimestamp).
		{recordedSource, time.Date(2024, 1, 7, 0, 21, 5, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "amt/timesynchronization/getlowaccuracytimesynch", "amt/timesynchronization/sethighaccuracytimesynch")
			testTimeSynchronization(t, rs, tc.ta0)
		})
	}
}

func testTimeSynchronization(t *testing.T, rs responses, wantTa0 time.Time) {
	ctx := context.Background()
	recorded := map[string]string{
		"GetLowAccuracyTimeSynch":  "amt/timesynchronization/getlowaccuracytimesynch",
		"SetHighAccuracyTimeSynch": "amt/timesynchronization/sethighaccuracytimesynch",
	}
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		m, _ := r.Method()
		return rs.reply(t, r, recorded[m])
	})
	ta0, err := d.LowAccuracyTimeSynch(ctx)
	require.NoError(t, err)
	assert.Equal(t, wantTa0, ta0)
	assert.Empty(t, requireMethodInput(t, f.only(t), URITimeSynchronizationService, "GetLowAccuracyTimeSynch"))

	now := time.Date(2024, 1, 7, 0, 25, 0, 600e6, time.UTC) // rounded up, as RPS and MeshCentral round
	calls := 0
	before, err := d.SyncClock(ctx, func() time.Time { calls++; return now })
	require.NoError(t, err)
	assert.Equal(t, ta0, before)
	assert.Equal(t, 1, calls, "Tm1 and Tm2 are one reading")
	rs2 := f.requests()
	require.Len(t, rs2, 3)
	requireMethodInput(t, rs2[1], URITimeSynchronizationService, "GetLowAccuracyTimeSynch")
	ps := requireMethodInput(t, rs2[2], URITimeSynchronizationService, "SetHighAccuracyTimeSynch")
	assert.Equal(t, []string{"Ta0", "Tm1", "Tm2"}, names(ps))
	assert.Equal(t, map[string][]string{"Ta0": {strconv.FormatInt(wantTa0.Unix(), 10)}, "Tm1": {"1704587101"}, "Tm2": {"1704587101"}}, values(ps))

	// A device clock lost before 2004 is still sent back as read; client
	// times must be after 2004-01-01.
	old := time.Unix(86400, 0)
	require.NoError(t, d.SetHighAccuracyTimeSynch(ctx, old, now, now))
	n := len(f.requests())
	for _, bad := range []time.Time{time.Date(2003, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2107, 1, 1, 0, 0, 0, 0, time.UTC)} {
		err := d.SetHighAccuracyTimeSynch(ctx, now, bad, now)
		require.ErrorIs(t, err, ErrInvalidArgument, fmt.Sprint(bad))
		require.ErrorIs(t, d.SetHighAccuracyTimeSynch(ctx, now, now, bad), ErrInvalidArgument)
	}
	require.ErrorIs(t, d.SetHighAccuracyTimeSynch(ctx, time.Unix(-1, 0), now, now), ErrInvalidArgument)
	_, err = d.SyncClock(ctx, func() time.Time { return time.Unix(0, 0) })
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Len(t, f.requests(), n+1, "only SyncClock's read went out")

	// SyncClock with the default clock sets something after 2004.
	_, err = d.SyncClock(ctx, nil)
	require.NoError(t, err)

	d, _ = newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0, wsman.Prop("Ta0", "-5")) })
	_, err = d.LowAccuracyTimeSynch(ctx)
	require.ErrorIs(t, err, ErrBadResponse)
}
