package storetest_test

import (
	"testing"

	"github.com/amtkit/amtkit/provisioning/storetest"
	"github.com/amtkit/amtkit/pskx"
)

// pskx's in-memory pair store passes the pair-store suite.
func TestPSKMemoryStoreConformance(t *testing.T) {
	storetest.RunPairStore(t, storetest.PairHarness{
		New: func(*testing.T) pskx.Store { return &pskx.MemoryStore{} },
	})
}
