package wsman

// Internal helpers the external tests drive directly.
var (
	RedactEnvelope = redactEnvelope
)

var (
	Find           = find
	FormatDuration = formatDuration
)
