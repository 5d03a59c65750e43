// Package transcripts holds transcripts of WS-Management sessions with
// devices (package wsman/transcript's format) as test vectors, embedded so
// that tests replay them on a plain clone. Each file carries its provenance:
// the firmware version, whether it comes from a real device or from the
// simulator, who recorded it, when, with which tool and how it was redacted.
// README.md lists them; docs/field-kit.md says how to contribute one.
//
// Transcripts recorded from amt/amtsim ("source": "amtsim") are not field
// truth: they test the recording and replay machinery, never the simulator.
package transcripts

import (
	"embed"
	"path"
	"slices"
	"strings"

	"github.com/amtkit/amtkit/wsman/transcript"
)

//go:embed *.json
var files embed.FS

// Names lists the transcripts (file names without .json), sorted.
func Names() []string {
	ents, _ := files.ReadDir(".")
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") {
			out = append(out, strings.TrimSuffix(e.Name(), ".json"))
		}
	}
	slices.Sort(out)
	return out
}

// Raw returns the bytes of a transcript file.
func Raw(name string) ([]byte, error) {
	return files.ReadFile(path.Clean(name) + ".json")
}

// Load reads and decodes a transcript.
func Load(name string) (*transcript.Transcript, error) {
	b, err := Raw(name)
	if err != nil {
		return nil, err
	}
	return transcript.Decode(b)
}
