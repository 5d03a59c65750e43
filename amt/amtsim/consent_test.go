package amtsim_test

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
)

// The user-consent flow (IPS_OptInService StartOptIn, SendOptInCode,
// CancelOptIn) through amt.Device, against the simulator's rules: the code on
// the host's screen, three wrong codes, cancelling, and the display and code
// timeouts by the injected clock (cls_redirection.go has the sources).

const uriOptInSvc = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService"

// failingRand is Config.Rand that fails once told to: the consent code is
// drawn from it.
type failingRand struct{ fail atomic.Bool }

func (r *failingRand) Read(b []byte) (int, error) {
	if r.fail.Load() {
		return 0, errors.New("no entropy")
	}
	return rand.Read(b)
}

// consentEnv is a device in client control mode (consent ALL, fixed), with a
// settable clock and randomness, and an admin amt.Device.
type consentEnv struct {
	d     *amtsim.Device
	c     *wsman.Client
	dev   *amt.Device
	clock *fakeClock
	rand  *failingRand
}

func newConsentEnv(t *testing.T) *consentEnv {
	t.Helper()
	e := &consentEnv{clock: &fakeClock{now: time.Now()}, rand: &failingRand{}}
	e.d = start(t, amtsim.Config{Now: e.clock.Now, Rand: e.rand})
	rv, _ := invoke(t, localClient(t, e.d), uriHBS, "Setup", wsman.Prop("NetAdminPassEncryptionType", "2"), wsman.Prop("NetworkAdminPassword", hexA1("admin", e.d.DigestRealm(), adminPW)))
	require.Zero(t, rv)
	e.c = adminClient(t, e.d.HTTPEndpoint(), "admin", adminPW)
	e.dev = amt.NewDevice(e.c)
	return e
}

// state reads OptInState through the API and checks that the simulator's
// Features agree.
func (e *consentEnv) state(t *testing.T) amt.OptInState {
	t.Helper()
	s, err := e.dev.OptInService(t.Context())
	require.NoError(t, err)
	assert.Equal(t, s.OptInState, e.d.Features().ConsentState)
	return s.OptInState
}

// screen is what the user reads on the host's screen.
func (e *consentEnv) screen(t *testing.T) uint32 {
	t.Helper()
	code, ok := e.d.DisplayedConsentCode()
	require.True(t, ok, "a code is on the host's screen")
	require.Less(t, code, uint32(1000000), "six digits")
	return code
}

func wrong(code uint32) uint32 { return (code + 1) % 1000000 }

// requireReturnValue checks that err is the method's ReturnValue v of the
// IPS_OptInService family, and never a PT_STATUS.
func requireReturnValue(t *testing.T, err error, method string, v uint32) {
	t.Helper()
	var rv *amt.ReturnValueError
	require.ErrorAs(t, err, &rv)
	assert.Equal(t, method, rv.Method)
	assert.Equal(t, v, rv.Value)
	assert.Equal(t, "IPS_OptInService", rv.Family())
	assert.NotErrorIs(t, err, amt.Status(v))
}

func TestConsentFlow(t *testing.T) {
	for _, tc := range []struct {
		name      string
		run       func(t *testing.T, e *consentEnv)
		wantState amt.OptInState
	}{
		{"the right code gives consent", func(t *testing.T, e *consentEnv) {
			ctx := t.Context()
			assert.Equal(t, amt.OptInNotStarted, e.state(t))
			_, shown := e.d.DisplayedConsentCode()
			assert.False(t, shown, "nothing on the screen before StartOptIn")
			require.NoError(t, e.dev.StartOptIn(ctx))
			assert.Equal(t, amt.OptInDisplayed, e.state(t))
			require.NoError(t, e.dev.SendOptInCode(ctx, e.screen(t)))
			assert.True(t, e.state(t).Granted())
			_, shown = e.d.DisplayedConsentCode()
			assert.False(t, shown, "the sprite is gone once the code is accepted")
			err := e.dev.StartOptIn(ctx)
			require.ErrorIs(t, err, amt.ErrOptInInvalidState, "consent is already given")
			requireReturnValue(t, err, "StartOptIn", 2)
		}, amt.OptInReceived},
		{"a second StartOptIn keeps the code on the screen", func(t *testing.T, e *consentEnv) {
			require.NoError(t, e.dev.StartOptIn(t.Context()))
			code := e.screen(t)
			require.ErrorIs(t, e.dev.StartOptIn(t.Context()), amt.ErrOptInInvalidState)
			assert.Equal(t, code, e.screen(t))
		}, amt.OptInDisplayed},
		{"a wrong code is refused and the right one still works", func(t *testing.T, e *consentEnv) {
			ctx := t.Context()
			require.NoError(t, e.dev.StartOptIn(ctx))
			code := e.screen(t)
			err := e.dev.SendOptInCode(ctx, wrong(code))
			require.ErrorIs(t, err, amt.ErrOptInWrongCode)
			require.NotErrorIs(t, err, amt.StatusUnsupported, "2066 is a mistyped code here, not a missing feature")
			requireReturnValue(t, err, "SendOptInCode", 2066)
			assert.Equal(t, amt.OptInDisplayed, e.state(t))
			assert.Equal(t, code, e.screen(t))
			require.NoError(t, e.dev.SendOptInCode(ctx, code))
		}, amt.OptInReceived},
		{"three wrong codes end the flow and block StartOptIn for a while", func(t *testing.T, e *consentEnv) {
			ctx := t.Context()
			require.NoError(t, e.dev.StartOptIn(ctx))
			code := e.screen(t)
			for i := range 3 {
				require.ErrorIs(t, e.dev.SendOptInCode(ctx, wrong(code)), amt.ErrOptInWrongCode, "attempt %d", i+1)
			}
			assert.Equal(t, amt.OptInNotStarted, e.state(t))
			_, shown := e.d.DisplayedConsentCode()
			assert.False(t, shown)
			require.ErrorIs(t, e.dev.SendOptInCode(ctx, code), amt.ErrOptInInvalidState, "the old code is gone")
			err := e.dev.StartOptIn(ctx)
			require.ErrorIs(t, err, amt.ErrOptInBlocked)
			requireReturnValue(t, err, "StartOptIn", 3)
			e.clock.advance(time.Minute - time.Second)
			require.ErrorIs(t, e.dev.StartOptIn(ctx), amt.ErrOptInBlocked)
			e.clock.advance(time.Second)
			require.NoError(t, e.dev.StartOptIn(ctx))
			require.ErrorIs(t, e.dev.SendOptInCode(ctx, wrong(e.screen(t))), amt.ErrOptInWrongCode, "a new code, a new count")
			require.ErrorIs(t, e.dev.SendOptInCode(ctx, wrong(e.screen(t))), amt.ErrOptInWrongCode)
		}, amt.OptInDisplayed},
		{"cancel takes the code off the screen", func(t *testing.T, e *consentEnv) {
			ctx := t.Context()
			require.NoError(t, e.dev.StartOptIn(ctx))
			code := e.screen(t)
			require.NoError(t, e.dev.CancelOptIn(ctx))
			assert.Equal(t, amt.OptInNotStarted, e.state(t))
			require.ErrorIs(t, e.dev.SendOptInCode(ctx, code), amt.ErrOptInInvalidState)
			err := e.dev.CancelOptIn(ctx)
			require.ErrorIs(t, err, amt.ErrOptInInvalidState, "nothing left to cancel")
			requireReturnValue(t, err, "CancelOptIn", 2)
			require.NoError(t, e.dev.StartOptIn(ctx), "a new flow may start")
		}, amt.OptInDisplayed},
		{"cancel ends a received consent", func(t *testing.T, e *consentEnv) {
			ctx := t.Context()
			require.NoError(t, e.dev.StartOptIn(ctx))
			require.NoError(t, e.dev.SendOptInCode(ctx, e.screen(t)))
			require.NoError(t, e.dev.CancelOptIn(ctx))
		}, amt.OptInNotStarted},
		{"the code leaves the screen after OptInDisplayTimeout", func(t *testing.T, e *consentEnv) {
			ctx := t.Context()
			s, err := e.dev.OptInService(ctx)
			require.NoError(t, err)
			require.NoError(t, e.dev.StartOptIn(ctx))
			code := e.screen(t)
			e.clock.advance(time.Duration(s.OptInDisplayTimeout)*time.Second - time.Second)
			assert.Equal(t, amt.OptInDisplayed, e.state(t))
			e.clock.advance(time.Second)
			assert.Equal(t, amt.OptInNotStarted, e.state(t))
			err = e.dev.SendOptInCode(ctx, code)
			require.ErrorIs(t, err, amt.ErrOptInInvalidState, "expired")
			requireReturnValue(t, err, "SendOptInCode", 2)
		}, amt.OptInNotStarted},
		{"a received consent ends after OptInCodeTimeout", func(t *testing.T, e *consentEnv) {
			ctx := t.Context()
			s, err := e.dev.OptInService(ctx)
			require.NoError(t, err)
			assert.Equal(t, uint32(120), s.OptInCodeTimeout, "Intel: 2 minutes of inactivity by default")
			s.OptInCodeTimeout = 60
			_, err = e.dev.PutOptInService(ctx, s)
			require.NoError(t, err)
			require.NoError(t, e.dev.StartOptIn(ctx))
			require.NoError(t, e.dev.SendOptInCode(ctx, e.screen(t)))
			e.clock.advance(59 * time.Second)
			assert.Equal(t, amt.OptInReceived, e.state(t))
			e.clock.advance(time.Second)
			assert.Equal(t, amt.OptInNotStarted, e.state(t))
			require.NoError(t, e.dev.StartOptIn(ctx), "consent must be asked for again")
		}, amt.OptInDisplayed},
		{"the code is drawn from Config.Rand", func(t *testing.T, e *consentEnv) {
			e.rand.fail.Store(true)
			err := e.dev.StartOptIn(t.Context())
			e.rand.fail.Store(false)
			require.ErrorIs(t, err, amt.ErrOptInInternalError)
			requireReturnValue(t, err, "StartOptIn", 1)
		}, amt.OptInNotStarted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newConsentEnv(t)
			tc.run(t, e)
			assert.Equal(t, tc.wantState, e.state(t))
			_, shown := e.d.DisplayedConsentCode()
			assert.Equal(t, tc.wantState == amt.OptInDisplayed, shown, "a code is on the screen exactly while displayed")
		})
	}
}

// StartOptIn needs a policy that asks for consent: in admin control mode the
// policy may be none, and then no code is displayed.
func TestConsentPolicy(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	for _, tc := range []struct {
		policy amt.OptInRequired
		want   error
	}{
		{amt.OptInNone, amt.ErrOptInInvalidState},
		{amt.OptInKVM, nil},
		{amt.OptInAll, nil},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			d, c := provisioned(t, keys, pc, nil)
			ctx := t.Context()
			dev := amt.NewDevice(c)
			s, err := dev.OptInService(ctx)
			require.NoError(t, err)
			s.OptInRequired = tc.policy
			_, err = dev.PutOptInService(ctx, s)
			require.NoError(t, err)
			err = dev.StartOptIn(ctx)
			_, shown := d.DisplayedConsentCode()
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				assert.False(t, shown)
				assert.Equal(t, amt.OptInNotStarted, d.Features().ConsentState)
				return
			}
			require.NoError(t, err)
			assert.True(t, shown)
			assert.Equal(t, amt.OptInDisplayed, d.Features().ConsentState)
		})
	}
}

// A SendOptInCode written as go-wsman-messages writes it (its envelope:
// default namespace SOAP, ReplyTo, OperationTimeout, a numeric MessageID; its
// body: h:SendOptInCode_INPUT with h:OptInCode) is answered as the simulator
// answers every method: the same declared namespaces, header and end tags as
// AMT_RedirectionService.RequestStateChange, whose shape the recorded
// responses check.
func TestConsentRawSendOptInCode(t *testing.T) {
	e := newConsentEnv(t)
	require.NoError(t, e.dev.StartOptIn(t.Context()))
	code := e.screen(t)

	envelope := func(code string) string {
		return `<?xml version="1.0" encoding="utf-8"?>` +
			`<Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope">` +
			`<Header><a:Action>` + uriOptInSvc + `/SendOptInCode</a:Action><a:To>/wsman</a:To><w:ResourceURI>` + uriOptInSvc + `</w:ResourceURI>` +
			`<a:MessageID>7</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>` +
			`<w:OperationTimeout>PT60S</w:OperationTimeout></Header>` +
			`<Body><h:SendOptInCode_INPUT xmlns:h="` + uriOptInSvc + `"><h:OptInCode>` + code + `</h:OptInCode></h:SendOptInCode_INPUT></Body></Envelope>`
	}
	status, raw := postDigest(t, e.d.HTTPEndpoint(), "admin", adminPW, envelope(fmt.Sprint(code)))
	require.Equal(t, http.StatusOK, status, "%s", raw)

	env, err := wsman.ParseEnvelope(raw, 0)
	require.NoError(t, err)
	assert.Equal(t, uriOptInSvc+"/SendOptInCodeResponse", env.Action())
	assert.Equal(t, "7", env.RelatesTo())
	assert.Equal(t, uriOptInSvc, env.ResourceURI())
	out := env.Content()
	require.True(t, wsman.Is(out, uriOptInSvc, "SendOptInCode_OUTPUT"), "got %s", out.Tag)
	kids := out.ChildElements()
	require.Len(t, kids, 1)
	assert.True(t, wsman.Is(kids[0], uriOptInSvc, "ReturnValue"))
	assert.Equal(t, "0", wsman.Text(kids[0]))
	assert.Equal(t, amt.OptInReceived, e.state(t))

	// The same written form as another method's answer, the class
	// namespace (declared on the envelope) aside.
	other, err := e.c.Invoke(t.Context(), uriRedirectionSvc, "RequestStateChange", nil,
		wsman.NewInput(uriRedirectionSvc, "RequestStateChange", wsman.Prop("RequestedState", "32771")))
	require.NoError(t, err)
	compareWritten(t, other.Raw, bytes.ReplaceAll(raw, []byte(uriOptInSvc), []byte(uriRedirectionSvc)))

	// A code that is not a number does not parse as the MOF's uint32.
	status, raw = postDigest(t, e.d.HTTPEndpoint(), "admin", adminPW, envelope("12a456"))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(raw), "SchemaValidationError")
}

// postDigest posts body to endpoint with HTTP digest authentication as AMT
// asks for it (one challenge, qop auth) and returns the status and body.
func postDigest(t *testing.T, endpoint, user, password, body string) (int, []byte) {
	t.Helper()
	post := func(auth string) (*http.Response, []byte) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, b
	}
	resp, _ := post("")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	ch, err := wsman.ParseDigestChallenge(resp.Header.Get("WWW-Authenticate"))
	require.NoError(t, err)
	h := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	uri := "/wsman"
	r := h(h(user+":"+ch.Realm+":"+password) + ":" + ch.Nonce + ":00000001:c0ffee:auth:" + h("POST:"+uri))
	resp, b := post(fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", qop=auth, nc=00000001, cnonce="c0ffee", response="%s"`,
		user, ch.Realm, ch.Nonce, uri, r))
	return resp.StatusCode, b
}
