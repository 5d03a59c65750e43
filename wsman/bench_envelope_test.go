package wsman

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"testing"
)

const benchGS = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
const benchMsgID = "uuid:00000000-0000-4000-8000-000000000000"

func benchResponse(b *testing.B) []byte {
	raw, err := os.ReadFile("testdata/responses/get-generalsettings-indented.xml")
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkEnvelopeGet builds the request envelope of an AMT_GeneralSettings Get
// and parses its ~2.6 KB response (header checks and the body instance), as a
// call does. Its floor is BenchmarkEnvelopeGetFloor.
func BenchmarkEnvelopeGet(b *testing.B) {
	raw := benchResponse(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	var buf bytes.Buffer
	for b.Loop() {
		cc := callConfig{}
		buf.Reset()
		writeRequest(&buf, &Request{Action: ActionGet, ResourceURI: benchGS}, &cc, "/wsman", benchMsgID)
		env, err := ParseEnvelope(raw, 0)
		if err != nil {
			b.Fatal(err)
		}
		if f, err := env.Fault(); f != nil || err != nil {
			b.Fatal("fault")
		}
		if env.RelatesTo() != benchMsgID || env.Action() != ActionGetResponse {
			b.Fatal("header")
		}
		if env.Content() == nil {
			b.Fatal("no instance")
		}
	}
}

// BenchmarkEnvelopeGetFloor is the floor: a bare encoding/xml token loop over
// the same response bytes.
func BenchmarkEnvelopeGetFloor(b *testing.B) {
	raw := benchResponse(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		d := xml.NewDecoder(bytes.NewReader(raw))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReadXML and BenchmarkReadXMLEtree compare the envelope reader with
// etree's own (encoding/xml based) reader on the same response.
func BenchmarkReadXML(b *testing.B) {
	raw := benchResponse(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readXML(raw, DefaultMaxDepth); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadXMLEtree(b *testing.B) {
	raw := benchResponse(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := etreeRead(raw); err != nil {
			b.Fatal(err)
		}
	}
}
