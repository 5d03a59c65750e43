package amt_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want amt.Version
		str  string
	}{
		{"16.1.25", amt.Version{16, 1, 25, 0}, "16.1.25"},
		{"11.8.50.3425", amt.Version{11, 8, 50, 3425}, "11.8.50.3425"},
		{" 2.2.20 ", amt.Version{2, 2, 20, 0}, "2.2.20"},
		{"19", amt.Version{19, 0, 0, 0}, "19.0.0"},
		{"3.2", amt.Version{3, 2, 0, 0}, "3.2.0"},
	}
	for _, tt := range tests {
		v, err := amt.ParseVersion(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, v)
		assert.Equal(t, tt.str, v.String())
	}
	for _, bad := range []string{"", "  ", "16.", ".1", "16..1", "1.2.3.4.5", "v16.1", "16.1-rc", "16.-1", "1234567890"} {
		_, err := amt.ParseVersion(bad)
		assert.ErrorIs(t, err, amt.ErrVersionFormat, bad)
	}
}

func TestVersionCompare(t *testing.T) {
	order := []string{"2.2.20", "2.6.0", "3.0", "3.2.2", "11.8.50", "11.8.50.3425", "11.8.65", "12.0.32", "16.1.25", "19.0.0"}
	for i := range order {
		for j := range order {
			a, b := amt.MustParseVersion(order[i]), amt.MustParseVersion(order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			assert.Equal(t, want, a.Compare(b), "%s vs %s", order[i], order[j])
			assert.Equal(t, i < j, a.Less(b))
			assert.Equal(t, i >= j, a.AtLeast(b))
		}
	}
	assert.Panics(t, func() { amt.MustParseVersion("x") })
	var v amt.Version
	assert.True(t, v.IsZero())
	require.NoError(t, v.UnmarshalText([]byte("15.0.1")))
	b, _ := v.MarshalText()
	assert.Equal(t, "15.0.1", string(b))
}

func TestStateStrings(t *testing.T) {
	assert.Equal(t, "Pre", amt.PreProvisioning.String())
	assert.Equal(t, "In", amt.InProvisioning.String())
	assert.Equal(t, "Post", amt.PostProvisioning.String())
	assert.Equal(t, "ProvisioningState(7)", amt.ProvisioningState(7).String())
	assert.Equal(t, "None", amt.ControlModeNone.String())
	assert.Equal(t, "CCM", amt.ControlModeCCM.String())
	assert.Equal(t, "ACM", amt.ControlModeACM.String())
	assert.Equal(t, "ControlMode(9)", amt.ControlMode(9).String())
	assert.Equal(t, "Admin", amt.ProvisioningModeAdmin.String())
	assert.Equal(t, "Client", amt.ProvisioningModeClient.String())
	assert.Equal(t, "ProvisioningMode(2)", amt.ProvisioningMode(2).String())
}
