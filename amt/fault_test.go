package amt_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The detail forms AMT and other servers write (moved here from wsman, which
// no longer reads AMT's status).
func TestStatusOfFaultDetail(t *testing.T) {
	tests := []struct {
		detail string
		want   amt.Status
		ok     bool
	}{
		{"AMT-STATUS 1", 1, true},
		{"  AMT-STATUS 2068 ", 2068, true},
		{"AMT-STATUS: 36", 36, true},
		{"AMT-STATUS=0x800", 0x800, true},
		{"AMT-STATUS 0x24", 36, true},
		{"prefix text AMT-STATUS 16 suffix", 16, true},
		{"AMT-STATUS x AMT-STATUS 7", 7, true},
		{"AMT-STATUS", 0, false},
		{"AMT-STATUS 99999999999", 0, false},
		{"amt-status 5", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		err := fmt.Errorf("wrapped: %w", &wsman.Fault{Detail: tc.detail})
		got, ok := amt.StatusOfFault(err)
		assert.Equal(t, tc.ok, ok, tc.detail)
		assert.Equal(t, tc.want, got, tc.detail)
	}
	_, ok := amt.StatusOfFault(errors.New("no fault"))
	assert.False(t, ok)
	_, ok = amt.StatusOfFault(nil)
	assert.False(t, ok)
}

// End to end: the fault wsmantest writes the way AMT does, read from a plain
// wsman call.
func TestStatusOfFaultFromClient(t *testing.T) {
	srv := httptest.NewServer(wsmantest.Handler(func(*wsmantest.Request) wsmantest.Reply {
		return wsmantest.FaultReply(wsmantest.InternalError(uint32(amt.StatusNotPermitted)))
	}))
	t.Cleanup(srv.Close)
	c, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	_, err = c.Get(context.Background(), amt.URIGeneralSettings, nil)
	require.ErrorIs(t, err, wsman.ErrInternalError)
	st, ok := amt.StatusOfFault(err)
	require.True(t, ok)
	assert.Equal(t, amt.StatusNotPermitted, st)
}
