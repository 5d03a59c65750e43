package amt

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetupAndConfigurationRecorded(t *testing.T) {
	tests := []struct {
		src        vectorSource
		ztc        bool
		dhcpSuffix string
	}{
		{ownSource, false, "corp.example.com"},
		// A Post device sends 32 zero bytes as its OTP: none.
		{recordedSource, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "amt/setupandconfiguration/get", "amt/setupandconfiguration/pull")
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				return rs.reply(t, r, "amt/setupandconfiguration/get")
			})
			s, err := d.SetupAndConfiguration(context.Background())
			require.NoError(t, err)
			r := f.only(t)
			assert.Equal(t, wsman.ActionGet, r.Action)
			assert.Equal(t, URISetupAndConfigurationService, r.ResourceURI)
			assert.Empty(t, r.Selectors)

			assert.Equal(t, PostProvisioning, s.ProvisioningState)
			assert.Equal(t, ProvisioningModeAdmin, s.ProvisioningMode)
			assert.Equal(t, tc.ztc, s.ZeroTouchConfigurationEnabled)
			assert.Equal(t, uint8(1), s.PasswordModel)
			assert.Equal(t, uint16(5), s.EnabledState)
			assert.Equal(t, uint16(12), s.RequestedState)
			assert.True(t, s.OTP.IsZero(), "no OTP")
			assert.Equal(t, tc.dhcpSuffix, s.DhcpDNSSuffix)

			items := rs.items(t, "amt/setupandconfiguration/pull")
			require.Len(t, items, 1)
			s2, err := parseSetupAndConfiguration(items[0])
			require.NoError(t, err)
			assert.Equal(t, s.ProvisioningState, s2.ProvisioningState)
		})
	}
}

// inProvisioning is a hand-made In-state instance with an OTP and DNS suffixes.
func inProvisioning() *etree.Element {
	return instance(URISetupAndConfigurationService,
		wsman.Prop("CreationClassName", "AMT_SetupAndConfigurationService"),
		wsman.Prop("DhcpDNSSuffix", "dhcp.example.com"),
		wsman.Prop("ElementName", "Intel(r) AMT Setup and Configuration Service"),
		wsman.Prop("EnabledState", "5"),
		wsman.Prop("Name", "Intel(r) AMT Setup and Configuration Service"),
		wsman.Prop("PasswordModel", "1"),
		wsman.Prop("ProvisioningMode", "1"),
		wsman.Prop("ProvisioningServerOTP", "T3RwMTIzNDUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), // "Otp12345" + 24 zero bytes
		wsman.Prop("ProvisioningState", "1"),
		wsman.Prop("RequestedState", "12"),
		wsman.Prop("SystemCreationClassName", "CIM_ComputerSystem"),
		wsman.Prop("SystemName", "Intel(r) AMT"),
		wsman.Prop("TrustedDNSSuffix", "trusted.example.com"),
		wsman.Prop("ZeroTouchConfigurationEnabled", "true"))
}

func TestSetupAndConfigurationOTP(t *testing.T) {
	ctx := context.Background()
	var putBody *etree.Element
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if r.Action == wsman.ActionPut {
			putBody = wsman.Detach(r.Input)
			return wsmantest.PutResponse(r, r.Input)
		}
		return wsmantest.GetResponse(r, inProvisioning())
	})
	s, err := d.SetupAndConfiguration(ctx)
	require.NoError(t, err)
	assert.Equal(t, InProvisioning, s.ProvisioningState)
	assert.Equal(t, "dhcp.example.com", s.DhcpDNSSuffix)
	assert.Equal(t, "trusted.example.com", s.TrustedDNSSuffix)
	assert.Equal(t, "Otp12345", s.OTP.Reveal(), "trailing zero bytes are padding")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(verb, s), "Otp12345")
		assert.NotContains(t, fmt.Sprintf(verb, *s), "Otp12345")
	}

	// Changing another property leaves the OTP out of the Put.
	s.ZeroTouchConfigurationEnabled = false
	_, err = d.PutSetupAndConfiguration(ctx, s)
	require.NoError(t, err)
	v := values(params(t, putBody))
	assert.Equal(t, []string{"false"}, v["ZeroTouchConfigurationEnabled"])
	assert.NotContains(t, v, "ProvisioningServerOTP")
	assert.Equal(t, []string{"trusted.example.com"}, v["TrustedDNSSuffix"], "read-only properties are echoed")

	// SetProvisioningServerOTP sends base64 of the new OTP.
	require.NoError(t, d.SetProvisioningServerOTP(ctx, NewSecret("NewOtp-2024")))
	ps := params(t, putBody)
	assert.Equal(t, []string{"CreationClassName", "DhcpDNSSuffix", "ElementName", "EnabledState", "Name", "PasswordModel",
		"ProvisioningMode", "ProvisioningServerOTP", "ProvisioningState", "RequestedState", "SystemCreationClassName",
		"SystemName", "TrustedDNSSuffix", "ZeroTouchConfigurationEnabled"}, names(ps))
	assert.Equal(t, []string{base64.StdEncoding.EncodeToString([]byte("NewOtp-2024"))}, values(ps)["ProvisioningServerOTP"])
	put := f.requests()[len(f.requests())-1]
	assert.Equal(t, wsman.ActionPut, put.Action)
	assert.Empty(t, put.Selectors)

	// The same OTP as stored is still sent when asked for explicitly.
	require.NoError(t, d.SetProvisioningServerOTP(ctx, NewSecret("Otp12345")))
	assert.Equal(t, []string{"T3RwMTIzNDU="}, values(params(t, putBody))["ProvisioningServerOTP"])

	require.NoError(t, d.SetZeroTouchConfiguration(ctx, false))
	assert.Equal(t, []string{"false"}, values(params(t, putBody))["ZeroTouchConfigurationEnabled"])

	n := len(f.requests())
	for _, bad := range []string{"short", "", strings.Repeat("x", 33)} {
		err := d.SetProvisioningServerOTP(ctx, NewSecret(bad))
		require.ErrorIs(t, err, ErrInvalidArgument)
		if bad != "" {
			assert.NotContains(t, err.Error(), bad)
		}
	}
	assert.Len(t, f.requests(), n+3, "only the Gets")

	_, err = d.PutSetupAndConfiguration(ctx, &SetupAndConfiguration{})
	require.ErrorIs(t, err, ErrNotReadFromDevice)
}

func TestSetupAndConfigurationBadOTP(t *testing.T) {
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.GetResponse(r, instance(URISetupAndConfigurationService, wsman.Prop("ProvisioningState", "1"), wsman.Prop("ProvisioningServerOTP", "S3cr3t!!")))
	})
	_, err := d.SetupAndConfiguration(context.Background())
	require.ErrorIs(t, err, ErrBadResponse)
	assert.Contains(t, err.Error(), "base64")
	assert.NotContains(t, err.Error(), "S3cr3t")
}

// An answer without ProvisioningState is refused: it would read as 0,
// pre-provisioning, and callers decide on it (whether a device is still
// provisioned, which settles its record as unprovisioned).
func TestSetupAndConfigurationWithoutState(t *testing.T) {
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.GetResponse(r, instance(URISetupAndConfigurationService, wsman.Prop("ProvisioningMode", "1")))
	})
	_, err := d.SetupAndConfiguration(context.Background())
	require.ErrorIs(t, err, ErrBadResponse)
	assert.Contains(t, err.Error(), "ProvisioningState")
}

func TestGetUuid(t *testing.T) {
	type vector struct {
		B64       string `json:"b64"`
		Canonical string `json:"canonical"`
	}
	for _, v := range testvectors.Load[vector](t, "device_getuuid").Vectors {
		d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0, wsman.Prop("UUID", v.B64)) })
		u, err := d.UUID(context.Background())
		require.NoError(t, err)
		assert.Equal(t, v.Canonical, u.String())
		assert.Empty(t, requireMethodInput(t, f.only(t), URISetupAndConfigurationService, "GetUuid"), "GetUuid has no inputs")
	}

	t.Run("recorded", func(t *testing.T) {
		rs := recordedResponses(t, "amt/setupandconfiguration/getuuid", "amt/setupandconfiguration/getuuid-bad")
		// The recorded file's UUID decodes to the value go-wsman-messages' test gives.
		u, err := parseGetUuidOutput(rs.content(t, "amt/setupandconfiguration/getuuid"))
		require.NoError(t, err)
		assert.Equal(t, "55e3ae13-bfd2-61bb-17a0-88aedd7037ea", u.String())
		// That file is synthetic: it has no ReturnValue, which the full check refuses.
		d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
			return rs.reply(t, r, "amt/setupandconfiguration/getuuid")
		})
		_, err = d.UUID(context.Background())
		require.ErrorIs(t, err, ErrBadResponse)
		require.ErrorIs(t, err, wsman.ErrNoReturnValue)

		_, err = parseGetUuidOutput(rs.content(t, "amt/setupandconfiguration/getuuid-bad"))
		require.ErrorIs(t, err, ErrBadResponse)
	})

	for name, tc := range map[string]struct {
		b64  string
		want error
	}{
		"all zero":  {base64.StdEncoding.EncodeToString(make([]byte, 16)), ErrUUIDNotSet},
		"all FF":    {base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 16)), ErrUUIDNotSet},
		"15 bytes":  {base64.StdEncoding.EncodeToString(make([]byte, 15)), ErrBadResponse},
		"not b64":   {"####", ErrBadResponse},
		"no output": {"", ErrBadResponse},
	} {
		t.Run(name, func(t *testing.T) {
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				if tc.b64 == "" {
					return output(r, 0)
				}
				return output(r, 0, wsman.Prop("UUID", tc.b64))
			})
			_, err := d.UUID(context.Background())
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestSetupAndConfigurationMethods(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		method   string
		response string
		call     func(d *Device) error
		params   []param
	}{
		{"SetMEBxPassword", "amt/setupandconfiguration/setmebxpassword",
			func(d *Device) error { return d.SetMEBxPassword(ctx, NewSecret("Mebx-P4ss")) },
			[]param{{Name: "Password", Value: "Mebx-P4ss"}}},
		{"CommitChanges", "amt/setupandconfiguration/commitchanges",
			func(d *Device) error { return d.CommitChanges(ctx) }, nil},
		{"Unprovision", "amt/setupandconfiguration/unprovision",
			func(d *Device) error { return d.Unprovision(ctx) },
			[]param{{Name: "ProvisioningMode", Value: "1"}}},
		{"PartialUnprovision", "amt/setupandconfiguration/partialunprovision",
			func(d *Device) error { return d.PartialUnprovision(ctx) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			rs := ownResponses(t, tc.response)
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return rs.reply(t, r, tc.response) })
			require.NoError(t, tc.call(d))
			ps := requireMethodInput(t, f.only(t), URISetupAndConfigurationService, tc.method)
			for i := range ps {
				ps[i].NS = ""
			}
			assert.Equal(t, tc.params, ps)
		})
	}
}

func TestSetupAndConfigurationArguments(t *testing.T) {
	ctx := context.Background()
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if m, _ := r.Method(); m == "GetUnprovisionBlockingComponents" {
			return output(r, 0, wsman.Prop("Component", "1"))
		}
		return output(r, 0)
	})
	for _, h := range []uint32{0, 6, 24} {
		require.NoError(t, d.ExtendProvisioningPeriod(ctx, h))
		ps := requireMethodInput(t, f.requests()[len(f.requests())-1], URISetupAndConfigurationService, "ExtendProvisioningPeriod")
		assert.Equal(t, map[string][]string{"Duration": {fmt.Sprint(h)}}, values(ps))
	}
	n := len(f.requests())
	require.ErrorIs(t, d.ExtendProvisioningPeriod(ctx, 25), ErrInvalidArgument)

	err := d.SetMEBxPassword(ctx, NewSecret("weakpassword"))
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.ErrorIs(t, err, ErrPasswordNoUpper)
	require.ErrorIs(t, err, ErrPasswordNoDigit)
	assert.NotContains(t, err.Error(), "weakpassword")
	assert.Len(t, f.requests(), n, "refused arguments are never sent")

	comps, err := d.UnprovisionBlockingComponents(ctx)
	require.NoError(t, err)
	assert.Equal(t, []uint32{1}, comps)
}

// TestDeviceRedactsSecrets: with a debug logger on the client, no password,
// digest, OTP or private key reaches the log.
func TestDeviceRedactsSecrets(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		switch r.Action {
		case wsman.ActionGet:
			return wsmantest.GetResponse(r, inProvisioning())
		case wsman.ActionPut:
			return wsmantest.PutResponse(r, r.Input)
		}
		switch m, _ := r.Method(); m {
		case "AddKey":
			return output(r, 0, wsman.PropEPR("CreatedKey", instanceEPR(URIPublicPrivateKeyPair, "Intel(r) AMT Key: Handle: 1")))
		case "GetUuid":
			return output(r, 0, wsman.Prop("UUID", "E67jVdK/u2EXoIiu3XA36g=="))
		}
		return output(r, 0)
	}, wsman.WithLogger(logger))
	testChain(t)
	pw := NewSecret("Zq7!unique-pw")
	otp := NewSecret("Otp-unique-77")
	require.NoError(t, d.SetMEBxPassword(ctx, pw))
	require.NoError(t, d.SetProvisioningServerOTP(ctx, otp))
	require.NoError(t, d.AdminSetup(ctx, pw, testRealm, SetupSignature{McNonce: testNonce(), Signature: []byte{9}}))
	require.NoError(t, d.SetAdminACLEntryEx(ctx, "admin", pw, testRealm))
	_, err := d.AddKey(ctx, rsaKey)
	require.NoError(t, err)
	_, err = d.UUID(ctx)
	require.NoError(t, err)

	mu.Lock()
	log := buf.String()
	mu.Unlock()
	require.Contains(t, log, "wsman request", "the logger must have seen the envelopes")
	require.Contains(t, log, "E67jVdK/u2EXoIiu3XA36g==", "non-secret values are logged")
	blob := base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PrivateKey(rsaKey))
	for name, secret := range map[string]string{
		"MEBx password":        pw.Reveal(),
		"OTP":                  otp.Reveal(),
		"OTP base64":           base64.StdEncoding.EncodeToString([]byte(otp.Reveal())),
		"stored OTP base64":    "T3RwMTIzNDUAAAAA",
		"NetworkAdminPassword": DigestA1Hex("admin", testRealm, pw).Reveal(),
		"DigestPassword":       DigestA1Base64("admin", testRealm, pw).Reveal(),
		"KeyBlob":              blob[:40],
	} {
		assert.NotContains(t, log, secret, name)
	}
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}
