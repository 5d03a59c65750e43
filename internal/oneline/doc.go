// Package oneline escapes text a peer chose (a device, an MPS, a firmware)
// before it goes into an error, an event or a log line: its control
// characters and the Unicode line and paragraph separators are written as Go
// writes them in a quoted string, so the text stays on one line and cannot
// forge another or drive a terminal; everything else is left as it is.
package oneline
