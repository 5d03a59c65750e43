package amt

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetTLSPSK(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rv := uint32(0)
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, rv) }, wsman.WithLogger(logger))
	const pid, pps = "0000037M", "NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ"
	require.NoError(t, d.SetTLSPSK(ctx, pid, NewSecret(pps)))
	ps := requireMethodInput(t, f.only(t), URISetupAndConfigurationService, "SetTLSPSK")
	assert.Equal(t, []string{"PID", "PPS"}, names(ps), "the SDK's parameter order")
	assert.Equal(t, map[string][]string{"PID": {pid}, "PPS": {pps}}, values(ps))
	mu.Lock()
	logged := buf.String()
	mu.Unlock()
	assert.Contains(t, logged, "SetTLSPSK", "the call is logged")
	assert.NotContains(t, logged, pps, "the PPS is masked in the logged envelope")

	rv = 1
	var rve *ReturnValueError
	require.ErrorAs(t, d.SetTLSPSK(ctx, pid, NewSecret(pps)), &rve)
	assert.Equal(t, uint32(1), rve.Value)

	n := len(f.requests())
	for _, tc := range []struct{ name, pid, pps string }{
		{"dashed PID", "0000-037M", pps},
		{"short PID", "0000037", pps},
		{"lower-case PID", "0000037m", pps},
		{"dashed PPS", pid, "NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ"},
		{"short PPS", pid, pps[:31]},
		{"PPS with a space", pid, "NKLDG5DCRRNQE9YZZIJL7LFLVJED69X "},
	} {
		err := d.SetTLSPSK(ctx, tc.pid, NewSecret(tc.pps))
		assert.ErrorIs(t, err, ErrInvalidArgument, tc.name)
		assert.NotContains(t, err.Error(), tc.pps, "%s: the message never quotes the PPS", tc.name)
	}
	assert.Len(t, f.requests(), n, "refused arguments are never sent")
}
