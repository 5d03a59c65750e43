package testvectors_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"testing"

	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryFileNamesItsSource loads every embedded vector file: each has a
// source and at least one vector.
func TestEveryFileNamesItsSource(t *testing.T) {
	names := testvectors.Names()
	require.NotEmpty(t, names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			f := testvectors.Load[json.RawMessage](t, n)
			assert.NotEmpty(t, f.Source)
		})
	}
}

// TestResponseEnvelopes: every own response vector becomes a well-formed SOAP
// envelope whose body is the vector's.
func TestResponseEnvelopes(t *testing.T) {
	envs := testvectors.ResponseEnvelopes(t, "amt_responses")
	require.NotEmpty(t, envs)
	raw := testvectors.Load[testvectors.Response](t, "amt_responses")
	require.Len(t, envs, len(raw.Vectors), "names are unique")
	for _, v := range raw.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			assert.NotEmpty(t, v.Action)
			assert.NotEmpty(t, v.ResourceURI)
			b := envs[v.Name]
			require.NotEmpty(t, b)
			dec := xml.NewDecoder(bytes.NewReader(b))
			var root string
			for {
				tok, err := dec.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err, "well-formed XML")
				if se, ok := tok.(xml.StartElement); ok && root == "" {
					root = se.Name.Space + " " + se.Name.Local
				}
			}
			assert.Equal(t, "http://www.w3.org/2003/05/soap-envelope Envelope", root)
		})
	}
}

// TestSharedFilesSkipsWhenAbsent: outside CI a missing shared vector skips the
// calling test; it never fails it.
func TestSharedFilesSkipsWhenAbsent(t *testing.T) {
	for _, k := range []string{"CI", "AMTKIT_REQUIRE_SHARED", "AMTKIT_REQUIRE_INTEROP"} {
		t.Setenv(k, "")
	}
	tests := []struct {
		name string
		call func(t *testing.T)
	}{
		{"missing dir", func(t *testing.T) { testvectors.SharedFiles(t, "no-such-dir-for-amtkit-tests", "x.xml") }},
		{"missing file", func(t *testing.T) { testvectors.SharedFile(t, "no-such-file-for-amtkit-tests.bin") }},
	}
	for _, tc := range tests {
		var inner *testing.T
		ok := t.Run(tc.name, func(t *testing.T) {
			inner = t
			tc.call(t)
			t.Error("not reached: the call skips")
		})
		assert.True(t, ok, tc.name)
		require.NotNil(t, inner)
		assert.True(t, inner.Skipped(), tc.name)
	}
}
