package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

type recorder struct{ out strings.Builder }

func (r *recorder) Errorf(format string, args ...any) { fmt.Fprintf(&r.out, format, args...) }
func (r *recorder) Helper()                           {}

// A store that returns another secret, or another field, fails the suite
// without the failure message showing a secret (store authors' CI logs).
func TestEqualRecordsRedacts(t *testing.T) {
	want := &provisioning.DeviceRecord{UUID: amt.UUID{1}, AdminUser: "admin", AdminPassword: amt.NewSecret("Want-Secret-1")}
	for name, got := range map[string]*provisioning.DeviceRecord{
		"secret": {UUID: amt.UUID{1}, AdminUser: "admin", AdminPassword: amt.NewSecret("Got-Secret-2")},
		"field":  {UUID: amt.UUID{1}, AdminUser: "root", AdminPassword: amt.NewSecret("Got-Secret-2")},
	} {
		var r recorder
		assert.False(t, equalRecords(&r, want, got), name)
		assert.NotContains(t, r.out.String(), "Want-Secret-1", name)
		assert.NotContains(t, r.out.String(), "Got-Secret-2", name)
		if name == "secret" {
			assert.Contains(t, r.out.String(), "record.AdminPassword: the secrets differ")
		} else {
			assert.Contains(t, r.out.String(), "record.AdminUser: want admin, got root")
		}
	}
	var r recorder
	assert.True(t, equalRecords(&r, want, want.Clone()))
}
