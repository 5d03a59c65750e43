package provisioning

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TLSActivationOptions.Sleep shadows the embedded HostBasedOptions.Sleep; a
// caller who set the embedded one (shared with the other host-based calls)
// had it ignored and waited on a real timer.
func TestTLSActivationSleepFallsBackToTheEmbeddedOne(t *testing.T) {
	var got []string
	outer := func(context.Context, time.Duration) error { got = append(got, "outer"); return nil }
	inner := func(context.Context, time.Duration) error { got = append(got, "inner"); return nil }
	for _, tc := range []struct {
		o    TLSActivationOptions
		want string
	}{
		{TLSActivationOptions{Sleep: outer, HostBasedOptions: HostBasedOptions{Sleep: inner}}, "outer"},
		{TLSActivationOptions{HostBasedOptions: HostBasedOptions{Sleep: inner}}, "inner"},
	} {
		got = nil
		assert.NoError(t, tc.o.sleep(t.Context(), time.Hour))
		assert.Equal(t, []string{tc.want}, got)
	}
}
