package apf_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/amt/apf"
)

// TestMessageTypeStrings pins what MessageType.String prints for every byte:
// the APF name without its APF_ prefix for the known types and "MessageType(n)"
// for the rest. It was written against the hand-written method before it was
// replaced by a generated one (go generate, stringer), so the generated method
// prints the same.
func TestMessageTypeStrings(t *testing.T) {
	names := map[int]string{
		1: "DISCONNECT", 5: "SERVICE_REQUEST", 6: "SERVICE_ACCEPT",
		50: "USERAUTH_REQUEST", 51: "USERAUTH_FAILURE", 52: "USERAUTH_SUCCESS",
		80: "GLOBAL_REQUEST", 81: "REQUEST_SUCCESS", 82: "REQUEST_FAILURE",
		90: "CHANNEL_OPEN", 91: "CHANNEL_OPEN_CONFIRMATION", 92: "CHANNEL_OPEN_FAILURE",
		93: "CHANNEL_WINDOW_ADJUST", 94: "CHANNEL_DATA", 97: "CHANNEL_CLOSE",
		192: "PROTOCOL_VERSION", 208: "KEEPALIVE_REQUEST", 209: "KEEPALIVE_REPLY",
		210: "KEEPALIVE_OPTIONS_REQUEST", 211: "KEEPALIVE_OPTIONS_REPLY",
	}
	for i := range 256 {
		want, ok := names[i]
		if !ok {
			want = "MessageType(" + strconv.Itoa(i) + ")"
		}
		assert.Equal(t, want, apf.MessageType(i).String(), "%d", i)
	}
}
