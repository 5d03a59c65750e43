package provisioning

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/amt"
)

func TestKeyGenTransient(t *testing.T) {
	for _, tt := range []struct {
		st   amt.Status
		want bool
	}{
		{amt.StatusInternalError, true},
		{amt.StatusPKIGeneratingKeys, true},
		{amt.StatusOperationInProgress, true},
		{amt.StatusInvalidParameter, false},
		{amt.StatusMaxLimitReached, false},
		{amt.StatusNotPermitted, false},
		{amt.Status(2066), false},
	} {
		assert.Equal(t, tt.want, keyGenTransient(tt.st), "%v", tt.st)
	}
}
