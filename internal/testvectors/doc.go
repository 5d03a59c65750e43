// Package testvectors holds amtkit's golden test vectors, embedded so that tests run
// anywhere, each file naming its source.
//
// Vectors live in data/<area>.json as
//
//	{"source": "where the values come from", "vectors": [ ... ]}
//
// and are read with [Load] into the test's own case type. Hex-encoded byte fields
// decode through [Hex]. Real captures that must not be copied into this repository
// do not ship with the module: when a directory ../shared/vectors sits beside the
// checkout, tests reach them through [SharedFile], [SharedFiles] and [SharedDir],
// which skip the test when it is absent and fail it when
// AMTKIT_REQUIRE_SHARED=1 (CI=true alone does not: an integrator's pipeline
// runs them on a plain clone). They must be called from the test's own goroutine,
// before any fake server starts: a skip inside an HTTP handler kills the handler,
// not the test, and the test fails on the client's EOF.
//
// Where a test needs only a typical response, not a real device's, it uses
// amtkit's own response vectors ([ResponseEnvelopes], data/amt_responses.json),
// written from DMTF DSP0226/DSP0227 and the Intel AMT SDK class reference, so that
// it runs on a plain clone.
package testvectors
