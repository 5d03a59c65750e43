package provisioning

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

// The merge rule (docs/state.md): a lease holder's write that lost its
// compare-and-swap keeps what others wrote meanwhile.
func TestMergeRecordKeepsOthersWrites(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	u := amt.UUID{1}
	base := &DeviceRecord{UUID: u, Version: 3, State: StateIdentified, Attempts: 2, LastSeen: t0,
		History: []StepRecord{{Step: StepAuthorize, At: t0}},
		Session: &SessionRecord{Done: DoneMEBxPassword},
		Agent:   &AgentRequest{UUID: u, OTP: amt.NewSecret("Otp-1-abcdef"), Mismatches: 0},
		Certificates: []DeviceCertificate{
			{Purpose: PurposeTLS, DER: []byte{1}, Handle: "h1"},
		}}

	// The holder (a session) configured more and recorded a step.
	mine := base.Clone()
	mine.State = StateConfigured
	mine.Session.Done |= DoneAdminACL
	mine.History = append(mine.History, StepRecord{Step: StepConfigure, At: t0.Add(2 * time.Second)})
	mine.Attempts = 3

	// Meanwhile: an impostor's OTP mismatch counted, the Issuer's revocation
	// of an old certificate was recorded, an unproven session's outcome and a
	// later hello were recorded.
	cur := base.Clone()
	cur.Version = 4
	cur.Agent.Mismatches = 1
	cur.Certificates[0].Revoked = true
	cur.History = append(cur.History, StepRecord{Step: StepConnect, At: t0.Add(time.Second), Reason: ReasonDeviceUntrusted})
	cur.Attempts = 3
	cur.LastSeen = t0.Add(time.Minute)

	out, err := mergeRecord(base, mine, cur)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), out.Version, "the stored version, for the next swap")
	assert.Equal(t, StateConfigured, out.State, "the holder's change")
	assert.Equal(t, DoneMEBxPassword|DoneAdminACL, out.Session.Done, "the holder's change")
	assert.Equal(t, 1, out.Agent.Mismatches, "the other writer's change")
	assert.True(t, out.Agent.OTP.Equal(base.Agent.OTP))
	assert.True(t, out.Certificates[0].Revoked, "revocation is sticky")
	assert.Equal(t, 4, out.Attempts, "both increments")
	assert.Equal(t, t0.Add(time.Minute), out.LastSeen, "the latest hello")
	require.Len(t, out.History, 3, "both histories")
	assert.Equal(t, []Step{StepAuthorize, StepConnect, StepConfigure}, []Step{out.History[0].Step, out.History[1].Step, out.History[2].Step}, "in time order")

	// The merge did not alias the inputs.
	out.Session.Done = 0
	out.Certificates[0].Handle = "x"
	assert.Equal(t, DoneMEBxPassword|DoneAdminACL, mine.Session.Done)
	assert.Equal(t, "h1", cur.Certificates[0].Handle)
}

func TestMergeRecordAgentBelongsToExpectAgentRequest(t *testing.T) {
	u := amt.UUID{2}
	base := &DeviceRecord{UUID: u, Agent: &AgentRequest{OTP: amt.NewSecret("Otp-old-123")}}
	// The holder's verified session spends the request ...
	mine := base.Clone()
	mine.Agent = nil
	// ... and nobody else touched it: spent.
	out, err := mergeRecord(base, mine, base.Clone())
	require.NoError(t, err)
	assert.Nil(t, out.Agent)
	// ... but the integrator registered a new request meanwhile: it stays.
	cur := base.Clone()
	cur.Agent = &AgentRequest{OTP: amt.NewSecret("Otp-new-456")}
	out, err = mergeRecord(base, mine, cur)
	require.NoError(t, err)
	require.NotNil(t, out.Agent)
	assert.Equal(t, "Otp-new-456", out.Agent.OTP.Reveal())
}

func TestMergeRecordCertificates(t *testing.T) {
	u := amt.UUID{3}
	old := DeviceCertificate{Purpose: PurposeTLS, DER: []byte{1}, Handle: "h1"}
	base := &DeviceRecord{UUID: u, Certificates: []DeviceCertificate{old}}
	// The Maintainer installed a renewal (pending) ...
	mine := base.Clone()
	mine.Certificates = append(mine.Certificates, DeviceCertificate{Purpose: PurposeTLS, DER: []byte{2}, Pending: true})
	// ... while Block revoked the old one.
	cur := base.Clone()
	cur.Certificates[0].Revoked = true
	out, err := mergeRecord(base, mine, cur)
	require.NoError(t, err)
	require.Len(t, out.Certificates, 2)
	assert.True(t, out.Certificates[0].Revoked)
	assert.True(t, out.Certificates[1].Pending)

	// A confirmation (Pending cleared) is not undone by a stale copy.
	confirmed := out.Clone()
	confirmed.Certificates[1].Pending = false
	stale := out.Clone()
	stale.Certificates[0].RemovedFromDevice = true
	out2, err := mergeRecord(out, stale, confirmed)
	require.NoError(t, err)
	assert.False(t, out2.Certificates[1].Pending)
	assert.True(t, out2.Certificates[0].RemovedFromDevice)
}

// An issuance in flight recorded before its certificate was issued has no
// DER: it merges by its key's handle, two of them do not collapse into one,
// and it goes once an entry with a certificate names its key (its own later
// state) — unless that entry was removed from the device, whose handle AMT
// may have given to the new key.
func TestMergeRecordIssuanceInFlight(t *testing.T) {
	u := amt.UUID{4}
	keyOnly := func(h string) DeviceCertificate {
		return DeviceCertificate{Purpose: PurposeTLS, KeyHandle: h, Pending: true}
	}
	base := &DeviceRecord{UUID: u}
	cur := base.Clone()
	cur.Certificates = []DeviceCertificate{keyOnly("k1")} // saved once the key existed
	mine := base.Clone()
	mine.Certificates = []DeviceCertificate{keyOnly("k2")}
	out, err := mergeRecord(base, mine, cur)
	require.NoError(t, err)
	assert.Len(t, out.Certificates, 2, "two keys in flight stay two")

	issued := keyOnly("k1")
	issued.DER = []byte{7}
	mine = base.Clone()
	mine.Certificates = []DeviceCertificate{issued}
	out, err = mergeRecord(base, mine, cur)
	require.NoError(t, err)
	require.Len(t, out.Certificates, 1, "the key-only entry became the issued one")
	assert.Equal(t, []byte{7}, out.Certificates[0].DER)

	removed := DeviceCertificate{Purpose: PurposeTLS, DER: []byte{8}, KeyHandle: "k1", RemovedFromDevice: true}
	mine.Certificates = []DeviceCertificate{removed}
	out, err = mergeRecord(base, mine, cur)
	require.NoError(t, err)
	assert.Len(t, out.Certificates, 2, "a removed certificate's key handle names another key now")
}

// A writer that dropped an issuance in flight (its key deleted again) since
// it last saved: a merge with a stored copy that still holds it does not
// bring it back, while one another writer added stays, and so does a new
// issuance under a handle AMT gave again.
func TestMergeRecordHonoursDroppedIssuance(t *testing.T) {
	u := amt.UUID{5}
	k1 := DeviceCertificate{Purpose: PurposeTLS, KeyHandle: "k1", Pending: true}
	saved := &DeviceRecord{UUID: u, Certificates: []DeviceCertificate{k1}}
	base := mergeBase(saved)
	require.Len(t, base.Certificates, 1, "the base keeps what is in flight")

	cur := saved.Clone()
	cur.LastSeen = time.Now() // a lease-free write meanwhile
	mine := saved.Clone()
	mine.Certificates = nil // dropped: the key was deleted
	out, err := mergeRecord(base, mine, cur)
	require.NoError(t, err)
	assert.Empty(t, out.Certificates, "the dropped issuance stays dropped")

	mine.Certificates = []DeviceCertificate{{Purpose: PurposeTLS, KeyHandle: "k1", Pending: true, Profile: "again"}}
	out, err = mergeRecord(base, mine, cur)
	require.NoError(t, err)
	require.Len(t, out.Certificates, 1, "a new issuance under the same handle is in flight")
	assert.True(t, out.Certificates[0].Pending)

	out, err = mergeRecord(nil, &DeviceRecord{UUID: u}, cur)
	require.NoError(t, err)
	assert.Len(t, out.Certificates, 1, "without a base nothing is known dropped")
}

func TestMergeRecordBlockedStopsHolder(t *testing.T) {
	u := amt.UUID{4}
	base := &DeviceRecord{UUID: u}
	mine := base.Clone()
	mine.State = StateConfigured
	cur := base.Clone()
	cur.Blocked = true
	_, err := mergeRecord(base, mine, cur)
	assert.True(t, errors.Is(err, errBlockedMeanwhile))
	// Without a known base the stored block stops it too.
	_, err = mergeRecord(nil, mine, cur)
	assert.True(t, errors.Is(err, errBlockedMeanwhile))
}

func TestMergeRecordDeletedMeanwhile(t *testing.T) {
	mine := &DeviceRecord{UUID: amt.UUID{5}, Version: 7, State: StateConfigured}
	out, err := mergeRecord(mine.Clone(), mine, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), out.Version, "created again")
	assert.Equal(t, StateConfigured, out.State)
}

// Without a base (a save by a writer holding no lease), the writer's fields
// win except what lease-free writers own.
func TestMergeRecordUnknownBase(t *testing.T) {
	u := amt.UUID{6}
	cur := &DeviceRecord{UUID: u, Version: 2, State: StateNew, Agent: &AgentRequest{OTP: amt.NewSecret("Otp-777-abc")}}
	mine := &DeviceRecord{UUID: u, Version: 1, State: StateProvisioned, Inventory: Inventory{FQDN: "pc.contoso.com"}}
	out, err := mergeRecord(nil, mine, cur)
	require.NoError(t, err)
	assert.Equal(t, StateProvisioned, out.State)
	assert.Equal(t, "pc.contoso.com", out.Inventory.FQDN)
	require.NotNil(t, out.Agent, "the agent request is not the holder's to drop")
}

// A lease holder keeps mergeBase of what it saved, not the whole record: the
// merge must come out the same as with the whole record as its base.
func TestMergeBaseMergesAsTheWholeRecord(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	u := amt.UUID{2}
	base := &DeviceRecord{UUID: u, Version: 3, State: StateIdentified, Attempts: 2, LastSeen: t0,
		History: []StepRecord{{Step: StepAuthorize, At: t0}, {Step: StepConnect, At: t0.Add(time.Second)}},
		Session: &SessionRecord{Done: DoneMEBxPassword, Certificates: []DeviceCertificate{{Purpose: PurposeTLS, DER: []byte{9}, Handle: "s1"}}},
		Agent:   &AgentRequest{UUID: u, OTP: amt.NewSecret("Otp-1-abcdef")},
		Certificates: []DeviceCertificate{
			{Purpose: PurposeTLS, DER: []byte{1}, Handle: "h1"},
			{Purpose: PurposeIEEE8021X, DER: []byte{2}, Handle: "h2"},
		}}
	mine := base.Clone()
	mine.State = StateConfigured
	mine.Session.Done |= DoneAdminACL
	mine.Session.Certificates[0].Pending = true
	mine.History = mine.History[:1] // trimmed to its bound
	mine.History = append(mine.History, StepRecord{Step: StepConfigure, At: t0.Add(3 * time.Second)})
	mine.Certificates = append(mine.Certificates[:1:1], DeviceCertificate{Purpose: PurposeTLS, DER: []byte{3}, Handle: "h3"})

	cur := base.Clone()
	cur.Version = 4
	cur.Agent.Mismatches = 1
	cur.Certificates[1].Revoked = true
	cur.History = append(cur.History, StepRecord{Step: StepOTP, At: t0.Add(2 * time.Second), Reason: ReasonOTPMismatch})
	cur.LastSeen = t0.Add(time.Minute)

	whole, err := mergeRecord(base, mine, cur)
	require.NoError(t, err)
	light := mergeBase(base)
	assert.Nil(t, light.History, "the base keeps no history")
	assert.Nil(t, light.Certificates, "nor the record's certificates (but issuances in flight not yet certified)")
	require.NotNil(t, light.Session)
	assert.Len(t, light.Session.Certificates, 1, "but the session's progress, whose change the merge detects")
	got, err := mergeRecord(light, mine, cur)
	require.NoError(t, err)
	assert.Equal(t, whole, got)
}

// mergeRecord is mergeRecordAs for a holder that is not a proven session.
func mergeRecord(base, mine, cur *DeviceRecord) (*DeviceRecord, error) {
	return mergeRecordAs(base, mine, cur, false)
}
