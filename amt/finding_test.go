package amt_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

func TestSeverityText(t *testing.T) {
	for _, tc := range []struct {
		s    amt.Severity
		text string
	}{
		{amt.SeverityInfo, "info"}, {amt.SeverityWarning, "warning"}, {amt.SeverityError, "error"},
	} {
		assert.Equal(t, tc.text, tc.s.String())
		b, err := tc.s.MarshalText()
		require.NoError(t, err)
		assert.Equal(t, tc.text, string(b))
		var back amt.Severity
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, tc.s, back)
	}
	assert.True(t, amt.SeverityInfo < amt.SeverityWarning && amt.SeverityWarning < amt.SeverityError, "ordered")
	for _, s := range []amt.Severity{0, 4, -1} {
		_, err := s.MarshalText()
		assert.Error(t, err, "%d", int(s))
	}
	assert.Equal(t, "Severity(0)", amt.Severity(0).String())
	assert.Equal(t, "Severity(9)", amt.Severity(9).String())
	var s amt.Severity
	for _, bad := range []string{"", "Error", "fatal", "Severity(1)"} {
		assert.Error(t, s.UnmarshalText([]byte(bad)), "%q", bad)
	}
	// In JSON a finding's severity is its name.
	b, err := json.Marshal(amt.Finding{Code: "x", Severity: amt.SeverityWarning})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"Severity":"warning"`)
	var f amt.Finding
	require.NoError(t, json.Unmarshal(b, &f))
	assert.Equal(t, amt.SeverityWarning, f.Severity)
}

func TestFindings(t *testing.T) {
	cause := errors.New("cause")
	fs := amt.Findings{
		{Code: "a", Severity: amt.SeverityInfo, Message: "fact", Index: -1},
		{Code: "b", Severity: amt.SeverityError, Subject: "certificate 1 (CN=x)", Message: "bad", Index: 1, Err: cause},
		{Code: "c", Severity: amt.SeverityWarning, Subject: "record 2", Message: "odd", Index: 1},
		{Code: "d", Severity: amt.SeverityError, Message: "worse", Index: -1},
	}
	assert.Equal(t, "info a: fact", fs[0].String(), "no subject")
	assert.Equal(t, "error b: certificate 1 (CN=x): bad", fs[1].String())
	assert.True(t, fs.Has("c"))
	assert.False(t, fs.Has("e"))
	assert.Equal(t, []amt.FindingCode{"a", "b", "c", "d"}, fs.Codes())
	assert.Nil(t, amt.Findings(nil).Codes())
	assert.Equal(t, amt.SeverityError, fs.Worst())
	assert.Equal(t, amt.Severity(0), amt.Findings(nil).Worst())
	assert.Equal(t, []amt.FindingCode{"b", "c", "d"}, fs.AtLeast(amt.SeverityWarning).Codes())

	err := fs.Err()
	require.Error(t, err)
	assert.ErrorIs(t, err, amt.ErrCheckFailed)
	var ce *amt.CheckError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []amt.FindingCode{"b", "d"}, ce.Findings.Codes())
	assert.Equal(t, "check failed: b: certificate 1 (CN=x): bad; d: worse", err.Error())
	assert.NoError(t, fs[:1].Err(), "info only")
	assert.NoError(t, fs[2:3].Err(), "warning only")
	assert.NoError(t, amt.Findings(nil).Err())
}
