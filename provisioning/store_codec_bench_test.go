package provisioning_test

import (
	"context"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning/storetest"
)

// BenchmarkRecordCodecUnmarshal decodes a record with every field set (the
// load of a SQL or key-value store, secrets opened).
func BenchmarkRecordCodecUnmarshal(b *testing.B) {
	ctx := context.Background()
	c := codec(b)
	r, err := storetest.Fill(amt.UUID{1}, 1)
	if err != nil {
		b.Fatal(err)
	}
	r.Version = 7
	raw, err := c.Marshal(ctx, r)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.UnmarshalFor(ctx, r.UUID, 7, raw); err != nil {
			b.Fatal(err)
		}
	}
}
