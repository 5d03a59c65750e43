package transcript_test

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttackExchangeFloodBounded: a transcript file (a vendor's, a
// colleague's) whose exchanges are 1 MiB of "{}" is 350,000 exchanges of
// three bytes each, and each decodes into an Exchange of 168 bytes. Each is
// checked as it is read, so the first (seq 0) ends the decoding, and no more
// than MaxExchanges are ever decoded: before, every exchange was decoded
// first and counted and checked after (about 300 MB for this 1 MiB input, 300
// times its size; ReadFile reads up to 64 MiB).
func TestAttackExchangeFloodBounded(t *testing.T) {
	head, err := validTranscript().Marshal()
	require.NoError(t, err)
	i := bytes.Index(head, []byte(`"exchanges": [`))
	require.Positive(t, i)
	n := (1 << 20) / 3
	b := append(head[:i:i], `"exchanges": [`+strings.Repeat("{},", n)+"{}]}"...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = transcript.Decode(b)
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	allocated := after.TotalAlloc - before.TotalAlloc
	assert.Less(t, allocated, uint64(8<<20), "Decode of %d bytes allocated %d MB", len(b), allocated>>20)
}

// TestDecodeStopsPastMaxExchanges: one exchange more than MaxExchanges is
// refused with ErrTooLarge while the exchanges are read.
func TestDecodeStopsPastMaxExchanges(t *testing.T) {
	head, err := validTranscript().Marshal()
	require.NoError(t, err)
	i := bytes.Index(head, []byte(`"exchanges": [`))
	require.Positive(t, i)
	var b bytes.Buffer
	b.Write(head[:i])
	b.WriteString(`"exchanges": [`)
	for n := 1; n <= transcript.MaxExchanges+1; n++ {
		if n > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"seq":%d,"request":{"method":"POST","path":"/wsman"},"error":"EOF"}`, n)
	}
	b.WriteString("]}")
	_, err = transcript.Decode(b.Bytes())
	require.ErrorIs(t, err, transcript.ErrTooLarge)
	assert.Contains(t, err.Error(), "more than 100000 exchanges")
}
