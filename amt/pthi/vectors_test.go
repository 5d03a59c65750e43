package pthi_test

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/amt/pthi/pthitest"
	"github.com/amtkit/amtkit/internal/testvectors"
)

type vectorArgs struct {
	Handle    uint32   `json:"handle"`
	Interface uint32   `json:"interface"`
	OTP       string   `json:"otp"`
	Suffix    string   `json:"suffix"`
	IPv6      bool     `json:"ipv6"`
	HashAlg   uint8    `json:"hashAlg"`
	Hash      string   `json:"hash"`
	HostVPN   bool     `json:"hostVPN"`
	Suffixes  []string `json:"suffixes"`
}

type vectorEntry struct {
	Name    string `json:"name"`
	Alg     uint8  `json:"alg"`
	Hash    string `json:"hash"`
	Default bool   `json:"default"`
	Active  bool   `json:"active"`
}

type vectorLAN struct {
	Enabled     bool   `json:"enabled"`
	IPv4        string `json:"ipv4"`
	DHCPEnabled bool   `json:"dhcpEnabled"`
	DHCPMode    uint8  `json:"dhcpMode"`
	LinkUp      bool   `json:"linkUp"`
	MAC         string `json:"mac"`
}

type vectorExpect struct {
	BIOS       string       `json:"bios"`
	Versions   [][2]string  `json:"versions"`
	AMTVersion string       `json:"amtVersion"`
	UUID       string       `json:"uuid"`
	State      *int         `json:"state"`
	Mode       *int         `json:"mode"`
	TLSMode    *int         `json:"tlsMode"`
	Bool       *bool        `json:"bool"`
	RNG        *int         `json:"rng"`
	Handles    []uint32     `json:"handles"`
	Entry      *vectorEntry `json:"entry"`
	Suffix     string       `json:"suffix"`
	User       string       `json:"user"`
	Password   string       `json:"password"`
	LAN        *vectorLAN   `json:"lan"`
	HashAlg    uint8        `json:"hashAlg"`
	Hash       string       `json:"hash"`
	Flags      *uint8       `json:"flags"`
	TLSLocal   bool         `json:"tlsLocal"`
	AMTEnabled bool         `json:"amtEnabled"`
	Allowed    bool         `json:"allowed"`
}

type commandVector struct {
	Name     string          `json:"name"`
	Command  string          `json:"command"`
	Layout   string          `json:"layout"`
	Args     vectorArgs      `json:"args"`
	Request  testvectors.Hex `json:"request"`
	Response testvectors.Hex `json:"response"`
	Expect   vectorExpect    `json:"expect"`
	Status   uint32          `json:"status"`
	Error    string          `json:"error"`
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// run sends the vector's command through a Client over a strict replay of the
// vector's exchange and checks the decoded result against the vector.
func run(t *testing.T, v commandVector) error {
	t.Helper()
	ctx := context.Background()
	replay := pthitest.NewReplay(pthitest.Exchange{Request: v.Request, Response: v.Response})
	c := pthi.NewClient(replay)
	e := v.Expect
	var err error
	switch v.Name {
	case "GetCodeVersions":
		var cv pthi.CodeVersions
		if cv, err = c.CodeVersions(ctx); err == nil {
			assert.Equal(t, e.BIOS, cv.BIOS)
			require.Len(t, cv.Entries, len(e.Versions))
			for i, p := range e.Versions {
				assert.Equal(t, pthi.VersionEntry{Description: p[0], Version: p[1]}, cv.Entries[i])
			}
			ver, verr := cv.AMTVersion()
			require.NoError(t, verr)
			assert.Equal(t, e.AMTVersion, ver.String())
		}
	case "GetUUID":
		var u amt.UUID
		if u, err = c.UUID(ctx); err == nil {
			assert.Equal(t, e.UUID, u.String())
		}
	case "GetProvisioningState":
		var s amt.ProvisioningState
		if s, err = c.ProvisioningState(ctx); err == nil {
			assert.Equal(t, *e.State, int(s))
		}
	case "GetControlMode":
		var m amt.ControlMode
		if m, err = c.ControlMode(ctx); err == nil {
			assert.Equal(t, *e.Mode, int(m))
		}
	case "GetProvisioningTLSMode":
		var m pthi.TLSMode
		if m, err = c.TLSMode(ctx); err == nil {
			assert.Equal(t, *e.TLSMode, int(m))
		}
	case "GetZeroTouchEnabled", "GetZeroTouchEnabledBoolean2":
		var b bool
		if b, err = c.ZeroTouchEnabled(ctx); err == nil {
			assert.Equal(t, *e.Bool, b)
		}
	case "GetRNGSeedStatus":
		var s pthi.RNGStatus
		if s, err = c.RNGSeedStatus(ctx); err == nil {
			assert.Equal(t, *e.RNG, int(s))
		}
	case "GenerateRNGSeed":
		err = c.GenerateRNGSeed(ctx)
	case "EnumerateHashHandles", "EnumerateHashHandlesTrailing":
		var h []uint32
		if h, err = c.HashHandles(ctx); err == nil {
			assert.Equal(t, e.Handles, h)
		}
	case "GetCertHashEntry", "GetCertHashEntryUnknownAlgorithm":
		var ent pthi.CertHashEntry
		if ent, err = c.CertHashEntry(ctx, v.Args.Handle); err == nil {
			assert.Equal(t, e.Entry.Name, ent.Name)
			assert.Equal(t, amt.HashAlgorithm(e.Entry.Alg), ent.Hash.Alg)
			assert.Equal(t, e.Entry.Hash, ent.Hash.Hex())
			assert.Equal(t, e.Entry.Default, ent.Default)
			assert.Equal(t, e.Entry.Active, ent.Active)
		}
	case "GetPKIDNSSuffix":
		var s string
		if s, err = c.PKIDNSSuffix(ctx); err == nil {
			assert.Equal(t, e.Suffix, s)
		}
	case "SetPKIDNSSuffix":
		err = c.SetPKIDNSSuffix(ctx, v.Args.Suffix)
	case "SetProvisioningServerOTP":
		err = c.SetProvisioningServerOTP(ctx, amt.NewSecret(v.Args.OTP))
	case "StartConfiguration":
		err = c.StartConfiguration(ctx)
	case "StartConfigurationEx":
		err = c.StartConfigurationEx(ctx, v.Args.IPv6)
	case "StopConfiguration", "StopConfigurationTrailing":
		err = c.StopConfiguration(ctx)
	case "Unprovision", "UnprovisionStatusOnly":
		err = c.Unprovision(ctx)
	case "SetAmtOperationalState":
		err = pthi.SetOperationalState(ctx, replay, true)
	case "GetLocalSystemAccount":
		var a pthi.LocalSystemAccount
		if a, err = c.LocalSystemAccount(ctx); err == nil {
			assert.Equal(t, e.User, a.Username)
			assert.Equal(t, e.Password, a.Password.Reveal())
		}
	case "GetLANInterfaceSettings":
		var s pthi.LANSettings
		if s, err = c.LANSettings(ctx, pthi.Interface(v.Args.Interface)); err == nil {
			assert.Equal(t, e.LAN.Enabled, s.Enabled)
			assert.Equal(t, e.LAN.IPv4, s.IPv4.String())
			assert.Equal(t, e.LAN.DHCPEnabled, s.DHCPEnabled)
			assert.Equal(t, e.LAN.DHCPMode, uint8(s.DHCPMode))
			assert.Equal(t, e.LAN.LinkUp, s.LinkUp)
			assert.Equal(t, e.LAN.MAC, s.MAC.String())
		}
	case "StartConfigurationHBased", "StartConfigurationHBasedSuffixes", "StartConfigurationHBasedHexHash":
		var h amt.CertHash
		h, err = c.StartConfigurationHBased(ctx, pthi.HBasedRequest{
			ServerHash:  amt.CertHash{Alg: amt.HashAlgorithm(v.Args.HashAlg), Sum: mustHex(t, v.Args.Hash)},
			HostVPN:     v.Args.HostVPN,
			DNSSuffixes: v.Args.Suffixes,
		})
		if err == nil {
			assert.Equal(t, amt.HashAlgorithm(e.HashAlg), h.Alg)
			assert.Equal(t, e.Hash, h.Hex())
		}
	case "IsChangeToAMTEnabled":
		var f pthi.ChangeEnabled
		if f, err = pthi.QueryChangeEnabled(ctx, replay); err == nil {
			assert.Equal(t, *e.Flags, uint8(f))
			assert.Equal(t, e.TLSLocal, f.TLSEnforcedOnLocalPorts())
			assert.Equal(t, e.AMTEnabled, f.AMTEnabled())
			assert.Equal(t, e.Allowed, f.Allowed())
		}
	default:
		t.Fatalf("vector %q has no runner", v.Name)
	}
	// Every request must have matched the golden bytes and been answered.
	require.NoError(t, replay.Done(), "request bytes differ from the golden request")
	return err
}

func TestGoldenCommands(t *testing.T) {
	f := testvectors.Load[commandVector](t, "pthi_commands")
	seen := map[string]bool{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			require.NotEmpty(t, v.Layout, "each vector names the source of its layout")
			require.NoError(t, run(t, v))
			seen[v.Command] = true
		})
	}
	// Every implemented command has a golden exchange.
	for _, cmd := range pthi.Commands() {
		assert.True(t, seen[upperHex(cmd)], "no golden vector for %v", cmd)
	}
}

func upperHex(c pthi.Command) string {
	const digits = "0123456789ABCDEF"
	b := []byte("0x00000000")
	for i := 0; i < 8; i++ {
		b[9-i] = digits[(uint32(c)>>(4*i))&0xf]
	}
	return string(b)
}

func TestGoldenErrors(t *testing.T) {
	f := testvectors.Load[commandVector](t, "pthi_errors")
	kinds := map[string]error{
		"wrong-command": pthi.ErrWrongCommand,
		"length":        pthi.ErrLengthMismatch,
		"version":       pthi.ErrProtocolVersion,
		"truncated":     pthi.ErrTruncated,
		"value":         pthi.ErrBadValue,
		"too-large":     pthi.ErrTooLarge,
	}
	for _, v := range f.Vectors {
		t.Run(v.Name+"/"+v.Layout, func(t *testing.T) {
			err := run(t, v)
			require.Error(t, err)
			if v.Status != 0 {
				assert.ErrorIs(t, err, amt.Status(v.Status))
				var ce *pthi.CommandError
				var we *pthi.WatchdogError
				switch {
				case errors.As(err, &ce):
					assert.Equal(t, v.Status, uint32(ce.Status))
				case errors.As(err, &we): // the watchdog client's own answer format
					assert.Equal(t, v.Status, uint32(we.Status))
				default:
					t.Fatalf("expected a *pthi.CommandError or *pthi.WatchdogError, got %T: %v", err, err)
				}
				assert.NotErrorIs(t, err, pthi.ErrMalformed)
				return
			}
			kind, ok := kinds[v.Error]
			require.True(t, ok, "unknown error kind %q", v.Error)
			assert.ErrorIs(t, err, kind)
			assert.ErrorIs(t, err, pthi.ErrMalformed)
			var fe *pthi.FormatError
			assert.ErrorAs(t, err, &fe)
		})
	}
}

// TestGoldenPrefixes: every strict prefix of every golden response fails to decode.
func TestGoldenPrefixes(t *testing.T) {
	f := testvectors.Load[commandVector](t, "pthi_commands")
	for _, v := range f.Vectors {
		if v.Name == "IsChangeToAMTEnabled" {
			continue // not a PTHI message; its only prefix is empty (see TestChangeEnabled)
		}
		for n := 0; n < len(v.Response); n++ {
			cut := v
			cut.Response = v.Response[:n]
			err := run(t, cut)
			require.Error(t, err, "%s: prefix of %d bytes decoded", v.Name, n)
			require.True(t, errors.Is(err, pthi.ErrMalformed), "%s: prefix %d: %v", v.Name, n, err)
		}
	}
}
