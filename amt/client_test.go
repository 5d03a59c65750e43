package amt_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setupServer answers Gets of AMT_SetupAndConfigurationService and Puts (echo),
// recording the OperationTimeout of each request.
func setupServer(t *testing.T) (*httptest.Server, func() []time.Duration) {
	var mu sync.Mutex
	var timeouts []time.Duration
	srv := httptest.NewServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		mu.Lock()
		timeouts = append(timeouts, r.OperationTimeout)
		mu.Unlock()
		switch r.Action {
		case wsman.ActionGet:
			return wsmantest.GetResponse(r, wsman.NewInstance(amt.URISetupAndConfigurationService,
				wsman.Prop("ElementName", "Intel(r) AMT Setup and Configuration Service"),
				wsman.Prop("ProvisioningMode", "1"), wsman.Prop("ProvisioningState", "0"),
				wsman.Prop("ProvisioningServerOTP", "")))
		case wsman.ActionPut:
			return wsmantest.PutResponse(r, wsman.Detach(r.Input))
		}
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	}))
	t.Cleanup(srv.Close)
	return srv, func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), timeouts...)
	}
}

func debugLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// NewDevice does not change the client it is given, yet the Device's own calls
// keep AMT's secrets out of the client's log.
func TestDeviceRedactsWithoutChangingTheClient(t *testing.T) {
	srv, _ := setupServer(t)
	var buf bytes.Buffer
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithLogger(debugLogger(&buf)))
	require.NoError(t, err)
	dev := amt.NewDevice(c)
	require.NoError(t, dev.SetProvisioningServerOTP(context.Background(), amt.NewSecret("Otp-Sekr1t-42")))
	assert.NotContains(t, buf.String(), "T3RwLVNla3IxdC00Mg==", "the OTP (base64) is masked in the Device's Put")
	assert.Contains(t, buf.String(), wsman.Redacted)

	// The same element in a call made on the plain client is not masked: the
	// Device added nothing to it.
	buf.Reset()
	const uri = amt.URISetupAndConfigurationService
	_, err = c.Put(context.Background(), uri, nil, wsman.NewInstance(uri, wsman.Prop("ProvisioningServerOTP", "visible-on-a-plain-client")))
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "visible-on-a-plain-client")
}

// NewClient applies ClientOptions: AMT's OperationTimeout and the secret
// elements masked for every call, also those made directly on the client; the
// caller's options come after and can change the defaults.
func TestNewClient(t *testing.T) {
	srv, timeouts := setupServer(t)
	var buf bytes.Buffer
	c, err := amt.NewClient(srv.URL+"/wsman", wsman.WithLogger(debugLogger(&buf)))
	require.NoError(t, err)
	const uri = amt.URISetupAndConfigurationService
	_, err = c.Put(context.Background(), uri, nil, wsman.NewInstance(uri, wsman.Prop("ProvisioningServerOTP", "masked-by-client-options")))
	require.NoError(t, err)
	assert.NotContains(t, buf.String(), "masked-by-client-options")

	c2, err := amt.NewClient(srv.URL+"/wsman", wsman.WithCallDefaults(wsman.OperationTimeout(45*time.Second)))
	require.NoError(t, err)
	_, err = c2.Get(context.Background(), uri, nil)
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{amt.DefaultOperationTimeout, 45 * time.Second}, timeouts())
	assert.GreaterOrEqual(t, amt.DefaultOperationTimeout, amt.MinOperationTimeout)

	_, err = amt.NewClient("ftp://device/wsman")
	require.Error(t, err, "wsman.New's checks apply")
}

// Every Pull of an AMT client carries wsen:MaxCharacters 99999 with
// MaxElements 999, as go-wsman-messages and MeshCentral send them; a call
// option changes it.
func TestClientPullMaxCharacters(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		mu.Lock()
		bodies = append(bodies, string(r.Raw))
		mu.Unlock()
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	}))
	defer srv.Close()
	c, err := amt.NewClient(srv.URL + "/wsman")
	require.NoError(t, err)
	_, _ = c.Pull(context.Background(), amt.URIPublicKeyCertificate, "uuid:1")
	_, _ = c.Pull(context.Background(), amt.URIPublicKeyCertificate, "uuid:2", wsman.MaxCharacters(5000))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, bodies, 2)
	assert.Contains(t, bodies[0], ":MaxElements>999</")
	assert.Contains(t, bodies[0], ":MaxCharacters>99999</")
	assert.Contains(t, bodies[1], ":MaxCharacters>5000</")
}
