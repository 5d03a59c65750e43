// Package wire is amtkit's one bounds-checked little-endian reader, shared by
// the binary codecs of AMT's own formats: the setup-mode hello (amt/hello), PTHI
// messages (amt/pthi) and setup.bin (pskx/setupbin). TLS stays big-endian and
// uses golang.org/x/crypto/cryptobyte.
//
// A [Reader] works like cryptobyte.String, little-endian: every read reports
// success, never panics and never reads past the end. Unlike cryptobyte it
// remembers the first failed read (its offset, the bytes it wanted and the bytes
// that were left), and every later read of one byte or more fails too, so a
// decoder may read several fields and check once ([Reader.Err]). Offsets count from the start of the
// input, or from the offset given to [NewReaderAt] for a slice cut from a larger
// input, so that errors can name the byte where a field starts. Peek looks
// ahead without consuming.
//
// The reads are written so that the compiler inlines them: decoding a 24-hash
// hello through this Reader costs about 25 ns more than the hand-indexed loop it
// replaced (docs/PERFORMANCE.md), because the Reader's position lives in memory
// rather than in a register. Walk length-prefixed lists with Peek and one Skip
// per entry, and read into fields of a struct rather than into fresh locals.
//
// Encoders need no counterpart: encoding/binary's LittleEndian.AppendUint16,
// AppendUint32 and AppendUint64 are already append-style and cannot fail.
package wire
