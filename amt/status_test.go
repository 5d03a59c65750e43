package amt_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/amt"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		s    amt.Status
		code uint32
		name string
	}{
		{amt.StatusSuccess, 0, "PT_STATUS_SUCCESS"},
		{amt.StatusInternalError, 1, "PT_STATUS_INTERNAL_ERROR"},
		{amt.StatusNotReady, 2, "PT_STATUS_NOT_READY"},
		{amt.StatusInvalidPTMode, 3, "PT_STATUS_INVALID_PT_MODE"},
		{amt.StatusNotPermitted, 16, "PT_STATUS_NOT_PERMITTED"},
		{amt.StatusMaxLimitReached, 23, "PT_STATUS_MAX_LIMIT_REACHED"},
		{amt.StatusInvalidProvisioningState, 32, "PT_STATUS_INVALID_PROVISIONING_STATE"},
		{amt.StatusFlashWriteLimitExceeded, 38, "PT_STATUS_FLASH_WRITE_LIMIT_EXCEEDED"},
		{amt.StatusInvalidHandle, 2053, "PT_STATUS_INVALID_HANDLE"},
		{amt.StatusInvalidPassword, 2054, "PT_STATUS_INVALID_PASSWORD"},
		{amt.StatusInvalidRealm, 2055, "PT_STATUS_INVALID_REALM"},
		{amt.StatusDataMissing, 2057, "PT_STATUS_DATA_MISSING"},
		{amt.StatusDuplicate, 2058, "PT_STATUS_DUPLICATE"},
		{amt.StatusPKIGeneratingKeys, 2061, "PT_STATUS_PKI_GENERATING_KEYS"},
		{amt.StatusCertKeyNotMatch, 2064, "PT_STATUS_CERT_KEY_NOT_MATCH"},
		{amt.StatusNotFound, 2068, "PT_STATUS_NOT_FOUND"},
		{amt.StatusOperationInProgress, 2082, "PT_STATUS_OPERATION_IN_PROGRESS"},
		{amt.StatusInterfaceDoesNotExist, 2501, "PT_STATUS_INTERFACE_DOES_NOT_EXIST"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.code, uint32(tt.s))
		assert.Equal(t, tt.name, tt.s.Name())
		assert.True(t, tt.s.Known())
		assert.Equal(t, fmt.Sprintf("amt: %s (%d)", tt.name, tt.code), tt.s.Error())
		assert.Equal(t, fmt.Sprintf("%s (%d)", tt.name, tt.code), tt.s.String())
	}
	// Unnamed codes print their number.
	for _, c := range []amt.Status{2071, 2073, 2077, 9999} {
		assert.False(t, c.Known())
		assert.Equal(t, "", c.Name())
		assert.Equal(t, fmt.Sprintf("amt: PT_STATUS %d", uint32(c)), c.Error())
	}
}

func TestStatusErrorsIsAs(t *testing.T) {
	err := fmt.Errorf("commit: %w", amt.StatusDataMissing)
	assert.True(t, errors.Is(err, amt.StatusDataMissing))
	assert.False(t, errors.Is(err, amt.StatusInternalError))
	var s amt.Status
	assert.True(t, errors.As(err, &s))
	assert.Equal(t, amt.Status(2057), s)
	// An unknown code is still matchable by value.
	assert.True(t, errors.Is(fmt.Errorf("x: %w", amt.Status(2071)), amt.Status(2071)))
}

func TestStatusFromCIM(t *testing.T) {
	s, ok := amt.StatusFromCIM(32768 + 2057)
	assert.True(t, ok)
	assert.Equal(t, amt.StatusDataMissing, s)
	s, ok = amt.StatusFromCIM(32768)
	assert.True(t, ok)
	assert.Equal(t, amt.StatusSuccess, s)
	for _, v := range []uint32{0, 1, 4096, 32767, 65536} {
		_, ok := amt.StatusFromCIM(v)
		assert.False(t, ok, v)
	}
}

func TestRealms(t *testing.T) {
	assert.Equal(t, amt.Realm(2), amt.RealmRedirection)
	assert.Equal(t, amt.Realm(3), amt.RealmPTAdministration)
	assert.Equal(t, amt.Realm(5), amt.RealmRemoteControl)
	assert.Equal(t, amt.Realm(24), amt.RealmLocalSystem)
	assert.Equal(t, "RedirectionRealm", amt.RealmRedirection.String())
	assert.Equal(t, "PTAdministrationRealm", amt.RealmPTAdministration.String())
	assert.Equal(t, "LocalSystemRealm", amt.RealmLocalSystem.String())
	assert.Equal(t, "Realm(25)", amt.Realm(25).String())
	assert.True(t, amt.RealmRedirection.Assignable())
	for _, r := range []amt.Realm{0, 1, 22, 23, 25} {
		assert.False(t, r.Assignable(), r)
	}
	assert.Equal(t, "Any", amt.AccessAny.String())
	assert.Equal(t, "Local", amt.AccessLocal.String())
	assert.Equal(t, "Network", amt.AccessNetwork.String())
	assert.Equal(t, "AccessPermission(3)", amt.AccessPermission(3).String())
}
