package provisioning

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// refValues counts, with encoding/json's tokenizer, the commas, objects and
// arrays of a valid JSON text.
func refValues(b []byte) (int, bool) {
	if !json.Valid(b) {
		return 0, false
	}
	type frame struct {
		obj, expectKey bool
		n              int
	}
	var st []frame
	n := 0
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	for {
		t, err := d.Token()
		if err == io.EOF {
			return n, true
		}
		if err != nil {
			return 0, false
		}
		if dl, ok := t.(json.Delim); ok && (dl == '}' || dl == ']') {
			f := st[len(st)-1]
			st = st[:len(st)-1]
			n += max(0, f.n-1)
			continue
		}
		if len(st) > 0 {
			top := &st[len(st)-1]
			switch {
			case top.obj && top.expectKey:
				top.n++
				top.expectKey = false
				continue
			case top.obj:
				top.expectKey = true
			default:
				top.n++
			}
		}
		if dl, ok := t.(json.Delim); ok {
			n++
			st = append(st, frame{obj: dl == '{', expectKey: dl == '{'})
		}
	}
}

func FuzzJSONValues(f *testing.F) {
	for _, s := range []string{`{"a":"x\\","b":[1,2,{}]}`, `["\"",",","\\\"",[]]`, `{"k\"\\,":"\\\\\"[{,"}`, `[[],[{}],{"a":{"b":[]}}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, ok := refValues(b)
		if !ok {
			return
		}
		if got := jsonValues(b); got != want {
			t.Fatalf("jsonValues(%q) = %d, encoding/json says %d", b, got, want)
		}
	})
}
