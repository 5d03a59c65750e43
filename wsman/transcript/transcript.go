package transcript

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Format is the value of [Transcript].Format this package writes and reads.
const Format = "amtkit-transcript/1"

// Bounds [Decode] enforces: a transcript is evidence from one device check,
// tens of exchanges of a few kilobytes each.
const (
	// MaxFileBytes bounds a transcript file.
	MaxFileBytes = 64 << 20
	// MaxExchanges bounds the exchanges of a transcript.
	MaxExchanges = 100000
	// MaxBodyBytes bounds one request or response body.
	MaxBodyBytes = 4 << 20
)

// Sources of a transcript ([Provenance].Source).
const (
	// SourceDevice: recorded from real firmware.
	SourceDevice = "device"
	// SourceSimulator: recorded from amtkit's simulator (amt/amtsim), not
	// real firmware. Such a transcript tests the replay machinery, never the
	// simulator itself.
	SourceSimulator = "amtsim"
)

// Transcript is a redacted record of the WS-Management exchanges of one
// session with one device, with its provenance. Its JSON form is the file
// format (docs/field-kit.md).
type Transcript struct {
	// Format is [Format].
	Format     string     `json:"format"`
	Provenance Provenance `json:"provenance"`
	Exchanges  []Exchange `json:"exchanges"`
}

// Provenance says where a transcript comes from and how it was redacted.
type Provenance struct {
	// Firmware is the AMT version the device reported ("16.1.25"); empty
	// when it could not be read.
	Firmware string `json:"firmware"`
	// Build and SKU are the device's "Build Number" and "Sku" software
	// identities, when read.
	Build string `json:"build,omitempty"`
	SKU   string `json:"sku,omitempty"`
	// Source is [SourceDevice] or [SourceSimulator].
	Source string `json:"source"`
	// RecordedBy names who recorded it (a person, a team, "amtkit tests").
	RecordedBy string `json:"recorded_by"`
	// RecordedAt is when the recording ended.
	RecordedAt time.Time `json:"recorded_at"`
	// Tool names the program and version that recorded it.
	Tool string `json:"tool"`
	// Redaction describes what was removed or replaced.
	Redaction Redaction `json:"redaction"`
	// Note is free text: the platform, the state the device was in, anything
	// a reader should know.
	Note string `json:"note,omitempty"`
}

// Redaction describes how a transcript was redacted.
type Redaction struct {
	// Policy names the [Policy] ("amt/1").
	Policy string `json:"policy"`
	// Identifying reports that identifying values were replaced by
	// placeholders.
	Identifying bool `json:"identifying"`
	// Masked counts the element contents, text nodes and header values
	// replaced by "[REDACTED]"; Replaced the values replaced by placeholders;
	// Removed the bodies replaced whole (unparsable, or a secret outside any
	// text). Dropped lists the header names left out.
	Masked   int      `json:"masked"`
	Replaced int      `json:"replaced"`
	Removed  int      `json:"removed"`
	Dropped  []string `json:"dropped_headers,omitempty"`
}

// Exchange is one HTTP exchange: a request and its response, or the
// transport error that ended it.
type Exchange struct {
	// Seq numbers the exchanges from 1, in the order they ended.
	Seq int `json:"seq"`
	// AtMS is when the exchange started, in milliseconds after the first one;
	// DurationMS how long it took.
	AtMS       float64   `json:"at_ms"`
	DurationMS float64   `json:"duration_ms"`
	Request    Request   `json:"request"`
	Response   *Response `json:"response,omitempty"`
	// TLS is the connection's version and cipher suite ("TLS 1.2
	// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), empty without TLS.
	TLS string `json:"tls,omitempty"`
	// Error is the transport error of an exchange without a response (or
	// whose response broke off), redacted like the bodies.
	Error string `json:"error,omitempty"`
}

// Request is the request of an [Exchange]. Action, ResourceURI and Selectors
// are read from the body for the reader's convenience; replay reads the
// body itself.
type Request struct {
	Method      string              `json:"method"`
	Path        string              `json:"path"`
	Header      map[string][]string `json:"header,omitempty"`
	Action      string              `json:"action,omitempty"`
	ResourceURI string              `json:"resource_uri,omitempty"`
	Selectors   string              `json:"selectors,omitempty"`
	Body        string              `json:"body,omitempty"`
}

// Response is the response of an [Exchange].
type Response struct {
	Status int                 `json:"status"`
	Header map[string][]string `json:"header,omitempty"`
	Body   string              `json:"body,omitempty"`
	// Truncated reports that the body was longer than the client's cap and
	// only its beginning was recorded (and then removed: a truncated
	// envelope does not parse).
	Truncated bool `json:"truncated,omitempty"`
}

// Errors of [Decode].
var (
	// ErrFormat: the input is not a transcript this package reads.
	ErrFormat = errors.New("transcript: not a valid transcript")
	// ErrTooLarge: the input exceeds a bound (MaxFileBytes, MaxExchanges,
	// MaxBodyBytes).
	ErrTooLarge = errors.New("transcript: too large")
)

// Marshal returns the JSON form of t, indented, with a final newline.
func (t *Transcript) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(t); err != nil {
		return nil, fmt.Errorf("transcript: encoding: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteFile writes t to path (mode 0600 on Unix; on Windows the file's ACL
// applies: a transcript recorded without identifying redaction names the
// device and its network). A regular file already at path is replaced by a
// new one, never written into: a reader who opened it while its mode was
// wider (restricting a mode revokes no open descriptor) keeps the old
// contents. A device or pipe (/dev/stdout) is written as it is.
func (t *Transcript) WriteFile(path string) error {
	b, err := t.Marshal()
	if err != nil {
		return err
	}
	flag := os.O_CREATE | os.O_WRONLY
	if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
		if err := os.Remove(path); err != nil {
			return err
		}
		flag |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return err
	}
	// The umask can only narrow a new file's mode; this makes it exact.
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadFile reads and decodes a transcript file (see [Decode]).
func ReadFile(path string) (*Transcript, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	return Decode(b)
}

// Decode reads a transcript. It refuses, with [ErrTooLarge], input beyond
// the package's bounds, and with [ErrFormat] anything else that is not a
// complete, valid transcript of [Format]: unknown fields, trailing data, a
// missing provenance (source, recorded_by, recorded_at, tool, policy),
// exchanges not numbered 1, 2, 3 …, an empty method or path, a status
// outside 100–599, an exchange with neither response nor error, a key
// repeated in an object or not written exactly as the format names it (JSON
// readers differ on those: encoding/json ignores case and takes the last of
// two). Exchanges are checked as they are read: decoding stops at the first
// refused one, or past MaxExchanges. It never panics.
func Decode(b []byte) (*Transcript, error) {
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxFileBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w wireTranscript
	if err := dec.Decode(&w); err != nil {
		if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrFormat) {
			return nil, err // an exchange refused as it was read
		}
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the transcript", ErrFormat)
	}
	// Once the decoder's bounds held (a flood of exchanges is refused
	// without a pass over the rest of the file).
	if err := checkKeys(b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	t := Transcript{Format: w.Format, Provenance: w.Provenance, Exchanges: w.Exchanges}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// checkKeys refuses what encoding/json would take without a word but other
// readers of the file would not: a key repeated in one object (the last
// wins) and a key not written exactly as the format names it (encoding/json
// ignores case, so {"body": "<a/>", "BODY": "<b/>"} showed jq one body and
// replayed the other). Header names, the keys of the "header" objects, are
// free but not repeated.
func checkKeys(b []byte) error {
	// One entry per open object or array; entries are reused as the depth
	// comes back, so that a file of many small objects costs no allocation
	// per object.
	type open struct {
		array  bool
		header bool                // a "header" object: any names
		keys   []string            // the keys of a format object (at most its fields)
		names  map[string]struct{} // the names of a header object
	}
	known := formatKeys()
	dec := json.NewDecoder(bytes.NewReader(b))
	var stack []open
	depth := 0
	push := func(array, header bool) {
		if depth == len(stack) {
			stack = append(stack, open{})
		}
		o := &stack[depth]
		o.array, o.header, o.keys = array, header, o.keys[:0]
		if header {
			o.names = map[string]struct{}{}
		} else {
			o.names = nil
		}
		depth++
	}
	inObject := func() bool { return depth > 0 && !stack[depth-1].array }
	keyNext := false // the next token is a key of the object on top
	last := ""       // the key just read
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if keyNext {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				depth--
				keyNext = inObject()
				continue
			}
			k, _ := tok.(string)
			o := &stack[depth-1]
			switch {
			case o.header:
				if _, dup := o.names[k]; dup {
					return fmt.Errorf("header %q repeated (byte %d)", k, dec.InputOffset())
				}
				o.names[k] = struct{}{}
			case !known[k]:
				return fmt.Errorf("key %q (byte %d) is not one of the format's: keys are written in lower case, as WriteFile writes them", k, dec.InputOffset())
			case slices.Contains(o.keys, k):
				return fmt.Errorf("key %q repeated (byte %d)", k, dec.InputOffset())
			default:
				o.keys = append(o.keys, k)
			}
			last, keyNext = k, false
			continue
		}
		switch tok {
		case json.Delim('{'):
			push(false, inObject() && last == "header" && !stack[depth-1].header)
			keyNext = true
			continue
		case json.Delim('['):
			push(true, false)
			continue
		case json.Delim(']'):
			depth--
		}
		// A value ended: the next token of an enclosing object is a key.
		keyNext = inObject()
	}
}

// formatKeys returns the keys of the format: the JSON names of the fields
// of Transcript and of the structures it holds.
var formatKeys = sync.OnceValue(func() map[string]bool {
	keys := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice:
			walk(t.Elem())
			return
		case reflect.Struct:
		default:
			return
		}
		if t == reflect.TypeFor[time.Time]() {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				keys[name] = true
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Transcript]())
	return keys
})

// wireTranscript is what Decode parses: a [Transcript] whose exchanges are
// counted as they are read.
type wireTranscript struct {
	Format     string           `json:"format"`
	Provenance Provenance       `json:"provenance"`
	Exchanges  boundedExchanges `json:"exchanges"`
}

// boundedExchanges decodes a JSON array of exchanges one at a time, checks
// each as it is read and stops at the first past MaxExchanges: an exchange of
// three bytes ("{},") decodes into about 170, so counting and checking after
// decoding let a 64 MiB file take gigabytes.
type boundedExchanges []Exchange

// UnmarshalJSON implements [json.Unmarshaler].
func (x *boundedExchanges) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*x = nil
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("exchanges: expected an array, got %v", tok)
	}
	var out []Exchange
	for dec.More() {
		if len(out) == MaxExchanges {
			return fmt.Errorf("%w: more than %d exchanges", ErrTooLarge, MaxExchanges)
		}
		out = append(out, Exchange{})
		if err := dec.Decode(&out[len(out)-1]); err != nil {
			return err
		}
		// Checked as read: a flood of invalid exchanges ends at the first.
		if err := out[len(out)-1].validate(len(out) - 1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return err
	}
	*x = out
	return nil
}

// Validate checks what [Decode] checks after parsing.
func (t *Transcript) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
	}
	if t.Format != Format {
		return bad("format %q, expected %q", t.Format, Format)
	}
	p := t.Provenance
	switch {
	case p.Source == "":
		return bad("provenance has no source (expected %q or %q)", SourceDevice, SourceSimulator)
	case p.RecordedBy == "":
		return bad("provenance has no recorded_by")
	case p.RecordedAt.IsZero():
		return bad("provenance has no recorded_at")
	case p.Tool == "":
		return bad("provenance has no tool")
	case p.Redaction.Policy == "":
		return bad("provenance has no redaction policy")
	}
	if len(t.Exchanges) > MaxExchanges {
		return fmt.Errorf("%w: %d exchanges, at most %d", ErrTooLarge, len(t.Exchanges), MaxExchanges)
	}
	for i := range t.Exchanges {
		if err := t.Exchanges[i].validate(i); err != nil {
			return err
		}
	}
	return nil
}

// validate checks the i-th exchange (0-based) as [Transcript.Validate] does.
func (x *Exchange) validate(i int) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
	}
	if x.Seq != i+1 {
		return bad("exchange %d has seq %d", i+1, x.Seq)
	}
	if x.Request.Method == "" || x.Request.Path == "" {
		return bad("exchange %d: request without method or path", x.Seq)
	}
	if len(x.Request.Body) > MaxBodyBytes || (x.Response != nil && len(x.Response.Body) > MaxBodyBytes) {
		return fmt.Errorf("%w: exchange %d: a body exceeds %d bytes", ErrTooLarge, x.Seq, MaxBodyBytes)
	}
	if x.Response == nil && x.Error == "" {
		return bad("exchange %d has neither response nor error", x.Seq)
	}
	if x.Response != nil && (x.Response.Status < 100 || x.Response.Status > 599) {
		return bad("exchange %d: status %d", x.Seq, x.Response.Status)
	}
	if x.AtMS < 0 || x.DurationMS < 0 {
		return bad("exchange %d: negative time", x.Seq)
	}
	if !utf8.ValidString(x.Request.Body) || (x.Response != nil && !utf8.ValidString(x.Response.Body)) {
		return bad("exchange %d: a body is not UTF-8", x.Seq)
	}
	return nil
}
