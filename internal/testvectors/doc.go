// Package testvectors holds amtkit's golden test vectors, embedded so that tests run
// anywhere, each file naming its source.
//
// Vectors live in data/<area>.json as
//
//	{"source": "where the values come from", "vectors": [ ... ]}
//
// and are read with [Load] into the test's own case type. Hex-encoded byte fields
// decode through [Hex]. Files under ../shared/vectors (real captures that must not be
// copied into this repository) are reached through [SharedFile] and [SharedDir],
// which skip the test when ../shared is absent and fail it in CI.
package testvectors
