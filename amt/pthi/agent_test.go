package pthi_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/amt/pthi/pthitest"
)

// Building blocks of recorded conversations. Payload bytes are written out by hand
// where the layout is simple; CodeVersions and hash entries use the package's
// encoders, whose bytes the golden vectors pin independently.

const testOTP = "Ot9-xQ2#pL"

var (
	testUUIDWire = mustDecodeHex("3ec2ffd2d19d2d41860a54b2039b72ff")
	testUUID     = mustUUID("d2ffc23e-9dd1-412d-860a-54b2039b72ff")
)

func mustUUID(s string) amt.UUID {
	u, err := amt.ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}

func mustDecodeHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func ansi(s string) []byte { return append([]byte{byte(len(s)), byte(len(s) >> 8)}, s...) }

func versionsPayload(ver string) []byte {
	b, err := pthi.CodeVersions{BIOS: "TESTBIOS", Entries: []pthi.VersionEntry{
		{Description: "Flash", Version: ver}, {Description: "AMT", Version: ver},
	}}.AppendBinary(nil)
	if err != nil {
		panic(err)
	}
	return b
}

func hashEntry(name string, b byte, active bool) []byte {
	sum := make([]byte, 32)
	for i := range sum {
		sum[i] = b
	}
	p, err := pthi.CertHashEntry{Name: name, Hash: amt.CertHash{Alg: amt.HashSHA256, Sum: sum}, Default: true, Active: active}.AppendBinary(nil)
	if err != nil {
		panic(err)
	}
	return p
}

// otpReq is the SetProvisioningServerOTP payload for testOTP: u16 11, the OTP, NUL.
var otpReq = append(append([]byte{11, 0}, testOTP...), 0)

func version(v string) pthitest.Exchange {
	return pthitest.OK(pthi.CmdGetCodeVersions, nil, versionsPayload(v))
}
func state(s uint32) pthitest.Exchange {
	return pthitest.OK(pthi.CmdGetProvisioningState, nil, le32(s))
}
func ztc(on uint32) pthitest.Exchange { return pthitest.OK(pthi.CmdGetZeroTouchEnabled, nil, le32(on)) }
func tlsMode(m uint32) pthitest.Exchange {
	return pthitest.OK(pthi.CmdGetProvisioningTLSMode, nil, le32(m))
}
func setOTP() pthitest.Exchange { return pthitest.OK(pthi.CmdSetProvisioningServerOTP, otpReq, nil) }
func startEx() pthitest.Exchange {
	return pthitest.OK(pthi.CmdStartConfigurationEx, le32(0), nil)
}
func rng(s uint32) pthitest.Exchange { return pthitest.OK(pthi.CmdGetRNGSeedStatus, nil, le32(s)) }

// identity is the tail of a successful Prepare: UUID, suffix, two hashes of which
// one is active.
func identity() []pthitest.Exchange {
	return []pthitest.Exchange{
		pthitest.OK(pthi.CmdGetUUID, nil, testUUIDWire),
		pthitest.OK(pthi.CmdGetPKIDNSSuffix, nil, ansi("vprodemo.com")),
		pthitest.OK(pthi.CmdEnumerateHashHandles, nil, append(le32(2), append(le32(1), le32(5)...)...)),
		pthitest.OK(pthi.CmdGetCertHashEntry, le32(1), hashEntry("Active Root", 0xAA, true)),
		pthitest.OK(pthi.CmdGetCertHashEntry, le32(5), hashEntry("Inactive Root", 0xBB, false)),
	}
}

func script(parts ...any) []pthitest.Exchange {
	var s []pthitest.Exchange
	for _, p := range parts {
		switch p := p.(type) {
		case pthitest.Exchange:
			s = append(s, p)
		case []pthitest.Exchange:
			s = append(s, p...)
		default:
			panic(fmt.Sprintf("script: %T", p))
		}
	}
	return s
}

var fixedNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func fastOptions() pthi.PrepareOptions {
	return pthi.PrepareOptions{PollInterval: time.Millisecond, PollAttempts: 3, Now: func() time.Time { return fixedNow },
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
}

func TestPrepare(t *testing.T) {
	activeHash := amt.CertHash{Alg: amt.HashSHA256, Sum: []byte(strings.Repeat("\xaa", 32))}
	tests := []struct {
		name    string
		otp     string
		opts    func(*pthi.PrepareOptions)
		script  []pthitest.Exchange
		wantErr error
		check   func(t *testing.T, r *pthi.AgentRequest)
	}{
		{
			name:   "AMT 16 from Pre",
			otp:    testOTP,
			script: script(version("16.1.25"), state(0), ztc(1), setOTP(), startEx(), state(1), identity()),
			check: func(t *testing.T, r *pthi.AgentRequest) {
				assert.Equal(t, testUUID, r.UUID)
				assert.Equal(t, amt.MustParseVersion("16.1.25"), r.Version)
				assert.Equal(t, amt.InProvisioning, r.State)
				assert.Equal(t, pthi.TLSModePKI, r.TLSMode)
				assert.Equal(t, "vprodemo.com", r.DNSSuffix)
				assert.Equal(t, []amt.CertHash{activeHash}, r.TrustedHashes)
				assert.Equal(t, testOTP, r.OTP.Reveal())
				assert.True(t, r.Started)
				assert.Equal(t, fixedNow, r.PreparedAt)
				assert.NoError(t, r.Validate())
			},
		},
		{
			name:   "IPv6 and a DNS suffix",
			otp:    testOTP,
			opts:   func(o *pthi.PrepareOptions) { o.IPv6 = true; o.DNSSuffix = "corp.example" },
			script: script(version("12.0.45"), state(0), ztc(1), pthitest.OK(pthi.CmdSetPKIDNSSuffix, ansi("corp.example"), nil), pthitest.OK(pthi.CmdGetPKIDNSSuffix, nil, ansi("corp.example")), setOTP(), pthitest.OK(pthi.CmdStartConfigurationEx, le32(1), nil), state(1), identity()),
			check:  func(t *testing.T, r *pthi.AgentRequest) { assert.True(t, r.IPv6) },
		},
		{
			name:    "DNS suffix not stored",
			otp:     testOTP,
			opts:    func(o *pthi.PrepareOptions) { o.DNSSuffix = "corp.example" },
			script:  script(version("12.0.45"), state(0), ztc(1), pthitest.OK(pthi.CmdSetPKIDNSSuffix, ansi("corp.example"), nil), pthitest.OK(pthi.CmdGetPKIDNSSuffix, nil, ansi("other.example"))),
			wantErr: pthi.ErrDNSSuffixNotStored,
		},
		{
			name:    "Post-provisioned",
			otp:     testOTP,
			script:  script(version("16.1.25"), state(2)),
			wantErr: pthi.ErrAlreadyProvisioned,
		},
		{
			name:    "zero touch disabled",
			otp:     testOTP,
			script:  script(version("16.1.25"), state(0), ztc(0)),
			wantErr: pthi.ErrRemoteConfigDisabled,
		},
		{
			name:    "PSK mode refuses an OTP (AMT 11)",
			otp:     testOTP,
			script:  script(version("11.8.50"), state(0), tlsMode(1)),
			wantErr: pthi.ErrPSKMode,
		},
		{
			name:   "PSK mode without OTP (AMT 11)",
			script: script(version("11.8.50"), state(0), tlsMode(1), startEx(), state(1), identity()),
			check: func(t *testing.T, r *pthi.AgentRequest) {
				assert.Equal(t, pthi.TLSModePSK, r.TLSMode)
				assert.True(t, r.OTP.IsZero())
			},
		},
		{
			name:    "OTP refused by firmware",
			otp:     testOTP,
			script:  script(version("16.1.25"), state(0), ztc(1), pthitest.Fail(pthi.CmdSetProvisioningServerOTP, otpReq, amt.StatusInvalidParameter)),
			wantErr: amt.StatusInvalidParameter,
		},
		{
			name:    "start refused",
			otp:     testOTP,
			script:  script(version("16.1.25"), state(0), ztc(1), setOTP(), pthitest.Fail(pthi.CmdStartConfigurationEx, le32(0), amt.StatusInvalidPTMode)),
			wantErr: amt.StatusInvalidPTMode,
		},
		{
			name: "certificate not ready, then In",
			otp:  testOTP,
			script: script(version("16.1.25"), state(0), ztc(1), setOTP(),
				pthitest.Fail(pthi.CmdStartConfigurationEx, le32(0), amt.StatusCertificateNotReady),
				pthitest.Fail(pthi.CmdGetProvisioningState, nil, amt.StatusNotReady), state(0), state(1),
				state(1), identity()),
			check: func(t *testing.T, r *pthi.AgentRequest) { assert.Equal(t, amt.InProvisioning, r.State) },
		},
		{
			name: "certificate not ready, never In",
			otp:  testOTP,
			script: script(version("16.1.25"), state(0), ztc(1), setOTP(),
				pthitest.Fail(pthi.CmdStartConfigurationEx, le32(0), amt.StatusCertificateNotReady), state(0), state(0), state(0)),
			wantErr: pthi.ErrNotInProvisioning,
		},
		{
			name: "AMT 2.6 creates its RNG seed and uses StartConfiguration",
			otp:  testOTP,
			script: script(version("2.6.3"), state(0), tlsMode(2), ztc(1), rng(2),
				pthitest.Fail(pthi.CmdGenerateRNGSeed, nil, amt.StatusRNGGenerationInProgress), rng(1), rng(0),
				setOTP(), pthitest.OK(pthi.CmdStartConfiguration, nil, nil), state(1), identity()),
			check: func(t *testing.T, r *pthi.AgentRequest) { assert.Equal(t, 2, r.Version.Major) },
		},
		{
			name:   "AMT 2.6 with its seed present",
			otp:    testOTP,
			script: script(version("2.6.3"), state(0), tlsMode(2), ztc(1), rng(0), setOTP(), pthitest.OK(pthi.CmdStartConfiguration, nil, nil), state(1), identity()),
		},
		{
			name:    "AMT 2.6 seed never ready",
			otp:     testOTP,
			script:  script(version("2.6.3"), state(0), tlsMode(2), ztc(1), rng(2), pthitest.OK(pthi.CmdGenerateRNGSeed, nil, nil), rng(1), rng(1), rng(1)),
			wantErr: pthi.ErrRNGSeed,
		},
		{
			name:    "AMT 2.6 seed generation refused",
			otp:     testOTP,
			script:  script(version("2.6.3"), state(0), tlsMode(2), ztc(1), rng(2), pthitest.Fail(pthi.CmdGenerateRNGSeed, nil, amt.StatusInternalError)),
			wantErr: amt.StatusInternalError,
		},
		{
			name:   "AMT 2.6 without an OTP still makes its seed before starting",
			script: script(version("2.6.3"), state(0), tlsMode(2), ztc(1), rng(0), pthitest.OK(pthi.CmdStartConfiguration, nil, nil), state(1), identity()),
		},
		{
			name: "RNG not ready at start: seed made, start sent again",
			otp:  testOTP,
			script: script(version("5.2.70"), state(0), tlsMode(2), ztc(1), setOTP(),
				pthitest.Fail(pthi.CmdStartConfiguration, nil, amt.StatusRNGNotReady), rng(2), pthitest.OK(pthi.CmdGenerateRNGSeed, nil, nil), rng(0),
				pthitest.OK(pthi.CmdStartConfiguration, nil, nil), state(1), identity()),
			check: func(t *testing.T, r *pthi.AgentRequest) { assert.True(t, r.Started) },
		},
		{
			name:   "AMT 5 uses StartConfiguration",
			otp:    testOTP,
			script: script(version("5.2.70"), state(0), tlsMode(2), ztc(1), setOTP(), pthitest.OK(pthi.CmdStartConfiguration, nil, nil), state(1), identity()),
		},
		{
			name:   "already In-provisioning: OTP set, not restarted",
			otp:    testOTP,
			script: script(version("16.1.25"), state(1), ztc(1), setOTP(), identity()),
			check:  func(t *testing.T, r *pthi.AgentRequest) { assert.False(t, r.Started) },
		},
		{
			name:    "malformed state",
			otp:     testOTP,
			script:  script(version("16.1.25"), pthitest.OK(pthi.CmdGetProvisioningState, nil, le32(7))),
			wantErr: pthi.ErrBadValue,
		},
		{
			name:    "transport failure",
			otp:     testOTP,
			script:  script(version("16.1.25"), pthitest.Exchange{Request: mustEncode(t, pthi.CmdGetProvisioningState, nil), Err: pthi.ErrEmptyResponse}),
			wantErr: pthi.ErrEmptyResponse,
		},
		{
			name:    "invalid OTP sends nothing",
			otp:     "short",
			wantErr: pthi.ErrOTPFormat,
		},
		{
			name:    "invalid DNS suffix sends nothing",
			otp:     testOTP,
			opts:    func(o *pthi.PrepareOptions) { o.DNSSuffix = "bad suffix" },
			wantErr: pthi.ErrInvalidArgument,
		},
		{
			name:    "hash entry refused",
			otp:     testOTP,
			script:  script(version("16.1.25"), state(0), ztc(1), setOTP(), startEx(), state(1), identity()[:3], pthitest.Fail(pthi.CmdGetCertHashEntry, le32(1), amt.StatusInvalidHandle)),
			wantErr: amt.StatusInvalidHandle,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			replay := pthitest.NewReplay(tt.script...)
			opts := fastOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			var otp amt.Secret
			if tt.otp != "" {
				otp = amt.NewSecret(tt.otp)
			}
			r, err := pthi.NewClient(replay).PrepareWith(context.Background(), otp, opts)
			// The helper sent exactly the recorded requests, in order, and stopped
			// where the recording stops.
			require.NoError(t, replay.Done())
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, r)
				if tt.otp != "" {
					assert.NotContains(t, err.Error(), tt.otp)
				}
				return
			}
			require.NoError(t, err)
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestPrepareHonoursContext(t *testing.T) {
	replay := pthitest.NewReplay(script(version("16.1.25"), state(0), ztc(1), setOTP(),
		pthitest.Fail(pthi.CmdStartConfigurationEx, le32(0), amt.StatusCertificateNotReady))...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	opts := pthi.PrepareOptions{PollInterval: time.Hour}
	start := time.Now()
	_, err := pthi.NewClient(replay).PrepareWith(ctx, amt.NewSecret(testOTP), opts)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Minute) // not the hour-long poll
	require.NoError(t, replay.Done())

	// A cancelled context stops before any exchange.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	empty := pthitest.NewReplay()
	_, err = pthi.NewClient(empty).Prepare(cctx, amt.NewSecret(testOTP))
	assert.ErrorIs(t, err, context.Canceled)
}

func TestAgentRequestJSONHidesOTP(t *testing.T) {
	r := &pthi.AgentRequest{
		UUID: testUUID, Version: amt.MustParseVersion("16.1.25"), State: amt.InProvisioning, TLSMode: pthi.TLSModePKI,
		TrustedHashes: []amt.CertHash{{Alg: amt.HashSHA256, Sum: make([]byte, 32)}}, OTP: amt.NewSecret(testOTP),
		PreparedAt: fixedNow,
	}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.NotContains(t, string(b), testOTP)
	assert.Contains(t, string(b), `"uuid":"d2ffc23e-9dd1-412d-860a-54b2039b72ff"`)
	assert.Contains(t, string(b), `"version":"16.1.25"`)
	assert.NotContains(t, fmt.Sprintf("%+v", r), testOTP)
	assert.NoError(t, r.Validate())

	var back pthi.AgentRequest
	require.NoError(t, json.Unmarshal(b, &back))
	want := *r
	want.OTP = amt.Secret{} // not carried in JSON
	assert.Equal(t, want, back)

	bad := *r
	bad.UUID = amt.UUID{}
	assert.ErrorIs(t, bad.Validate(), pthi.ErrInvalidArgument)
	bad = *r
	bad.TrustedHashes = nil
	assert.ErrorIs(t, bad.Validate(), pthi.ErrInvalidArgument)
	bad = *r
	bad.OTP = amt.NewSecret("1234")
	assert.ErrorIs(t, bad.Validate(), pthi.ErrOTPFormat)
	assert.ErrorIs(t, (*pthi.AgentRequest)(nil).Validate(), pthi.ErrInvalidArgument)
}

func statusScript(wireless pthitest.Exchange) []pthitest.Exchange {
	return script(version("16.1.25"), pthitest.OK(pthi.CmdGetUUID, nil, testUUIDWire), state(2),
		pthitest.OK(pthi.CmdGetControlMode, nil, le32(1)),
		pthitest.OK(pthi.CmdGetPKIDNSSuffix, nil, ansi("")),
		pthitest.OK(pthi.CmdEnumerateHashHandles, nil, append(le32(1), le32(7)...)),
		pthitest.OK(pthi.CmdGetCertHashEntry, le32(7), hashEntry("Root", 0x11, true)),
		pthitest.OK(pthi.CmdGetLANInterfaceSettings, le32(0), []byte{1, 0, 0, 0, 10, 1, 168, 192, 1, 0, 0, 0, 1, 1, 0, 0x1b, 0x21, 1, 2, 3}),
		wireless)
}

func TestStatus(t *testing.T) {
	t.Run("wireless absent", func(t *testing.T) {
		replay := pthitest.NewReplay(statusScript(pthitest.Fail(pthi.CmdGetLANInterfaceSettings, le32(1), amt.StatusInterfaceDoesNotExist))...)
		s, err := pthi.NewClient(replay).Status(context.Background())
		require.NoError(t, err)
		require.NoError(t, replay.Done())
		assert.Equal(t, testUUID, s.UUID)
		assert.Equal(t, "16.1.25", s.Version.String())
		assert.Equal(t, amt.PostProvisioning, s.State)
		assert.Equal(t, amt.ControlModeCCM, s.ControlMode)
		assert.Empty(t, s.DNSSuffix)
		require.Len(t, s.Hashes, 1)
		assert.Equal(t, "Root", s.Hashes[0].Name)
		require.NotNil(t, s.Wired)
		assert.Equal(t, "192.168.1.10", s.Wired.IPv4.String())
		assert.Equal(t, "00:1b:21:01:02:03", s.Wired.MAC.String())
		assert.Nil(t, s.Wireless)
		require.Len(t, s.Unavailable, 1)
		assert.ErrorIs(t, s.Unavailable[0], amt.StatusInterfaceDoesNotExist)
	})
	t.Run("transport error in an optional item", func(t *testing.T) {
		boom := errors.New("boom")
		replay := pthitest.NewReplay(statusScript(pthitest.Exchange{Request: mustEncode(t, pthi.CmdGetLANInterfaceSettings, le32(1)), Err: boom})...)
		_, err := pthi.NewClient(replay).Status(context.Background())
		assert.ErrorIs(t, err, boom)
		require.NoError(t, replay.Done())
	})
	t.Run("required item refused", func(t *testing.T) {
		replay := pthitest.NewReplay(version("16.1.25"), pthitest.Fail(pthi.CmdGetUUID, nil, amt.StatusNotReady))
		_, err := pthi.NewClient(replay).Status(context.Background())
		assert.ErrorIs(t, err, amt.StatusNotReady)
		require.NoError(t, replay.Done())
	})
}
