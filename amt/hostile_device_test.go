package amt_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func hostile(t *testing.T, fn wsmantest.HandlerFunc) *amt.Device {
	srv := httptest.NewServer(wsmantest.Handler(fn))
	t.Cleanup(srv.Close)
	c, err := amt.NewClient(srv.URL+"/wsman", wsman.WithDigestAuth("admin", "x"))
	require.NoError(t, err)
	return amt.NewDevice(c)
}

// A device claiming millions of user entries (64 pages of 30,000 handles) is
// refused, not walked with one GetUserAclEntryEx per handle; so is a handle
// listed twice.
func TestUserACLHandlesBounded(t *testing.T) {
	var gets atomic.Int64
	handles := func(total string, hs ...string) func(r *wsmantest.Request) wsmantest.Reply {
		return func(r *wsmantest.Request) wsmantest.Reply {
			switch m, _ := r.Method(); m {
			case "EnumerateUserAclEntries":
				props := []wsman.Property{wsman.Prop("TotalCount", total), wsman.Prop("HandlesCount", strconv.Itoa(len(hs)))}
				for _, h := range hs {
					props = append(props, wsman.Prop("Handles", h))
				}
				return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0, props...))
			case "GetUserAclEntryEx":
				gets.Add(1)
				return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0, wsman.Prop("DigestUsername", "u"), wsman.Prop("AccessPermission", "2")))
			}
			return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
		}
	}
	many := make([]string, 30000)
	for i := range many {
		many[i] = strconv.Itoa(i + 1)
	}
	_, err := hostile(t, handles("1920000", many...)).UserACLEntries(context.Background())
	require.ErrorIs(t, err, amt.ErrBadResponse)
	assert.Zero(t, gets.Load())
	_, err = hostile(t, handles("2", "7", "7")).UserACLEntries(context.Background())
	require.ErrorIs(t, err, amt.ErrBadResponse)
	assert.Zero(t, gets.Load())
	got, err := hostile(t, handles("2", "7", "8")).UserACLEntries(context.Background())
	require.NoError(t, err)
	assert.Len(t, got, 2)
}

// A fault that echoes the request does not carry the password it quotes
// into the error ("Secrets ... never appear in errors").
func TestFaultEchoesSecretIntoError(t *testing.T) {
	const pw = "Fleet-MEBx-P4ss!"
	dev := hostile(t, func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.FaultReply(wsmantest.SenderFault("InvalidParameter", "bad Password "+strings.Join(r.Fields()["Password"], "")))
	})
	err := dev.SetMEBxPassword(context.Background(), amt.NewSecret(pw))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pw)
}
