package transcript

import (
	"crypto"
	"crypto/tls"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amtkit/amtkit/wsman"
)

// Options configure a [Recorder].
type Options struct {
	// Policy says what is secret and what identifies a device. Zero:
	// [AMTPolicy].
	Policy Policy
	// Identifying replaces identifying values (host and domain names, UUIDs,
	// MAC and IP addresses, serial numbers, realms, certificates' names) by
	// consistent placeholders. Secrets are removed in any case.
	Identifying bool
	// MaxExchanges bounds what is kept (default 10000); later exchanges are
	// counted but not kept ([Recorder.Dropped]).
	MaxExchanges int
	// Now stamps RecordedAt when the provenance has none (nil: time.Now).
	Now func() time.Time
}

// Recorder is a wsman.Recorder that keeps a redacted transcript: give it to
// wsman's Client.WithRecorder. Each exchange is redacted when it is recorded,
// before it is kept, so nothing unredacted is ever stored or written:
//
//   - request and response envelopes are rewritten in place (their written
//     form kept) with the content of secret elements and selectors (the
//     policy's and wsman.DefaultRedactor's) replaced by "[REDACTED]", as is
//     any text node holding a private key or a registered secret in any of
//     its forms (see [Recorder.AddPassword]);
//   - headers are kept from an allow-list, authentication headers reduced
//     to scheme, username, realm, uri, qop, algorithm, stale, charset and
//     userhash (wsman.ReduceAuthHeader: no nonce, cnonce, nc, response or
//     opaque);
//   - a body that cannot be redacted safely (not UTF-8, not a SOAP envelope,
//     truncated, a secret outside the text) is replaced whole by a note with
//     its length;
//   - with Options.Identifying, identifying values become placeholders (see
//     [Kind]), the same value the same placeholder within the transcript.
//
// A Recorder is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	opts    Options
	red     *redactor
	ex      []Exchange
	first   time.Time
	dropped int
}

// NewRecorder returns an empty Recorder.
func NewRecorder(o Options) *Recorder {
	if o.Policy.Name == "" && o.Policy.Secret == nil && o.Policy.Identifying == nil {
		o.Policy = AMTPolicy()
	}
	if o.Policy.Name == "" {
		o.Policy.Name = "custom"
	}
	if o.MaxExchanges <= 0 {
		o.MaxExchanges = 10000
	}
	return &Recorder{opts: o, red: newRedactor(o.Policy, o.Identifying)}
}

// AddPassword registers a password (and the user it belongs to) as a secret:
// it is masked wherever it appears as itself, in base64 or hex, as HTTP
// Basic credentials for any user seen, or as a digest A1 hash (MD5 and
// SHA-256, hex and base64: AMT's NetworkAdminPassword and DigestPassword
// encodings) for any user and realm seen. Register every password the
// session uses before it starts.
func (r *Recorder) AddPassword(user, password string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.red.sec.addPassword(user, password)
}

// AddSecret registers any other secret text (an OTP, a PPS): masked as
// itself, in base64 and in hex.
func (r *Recorder) AddSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.red.sec.addValue(s)
}

// AddSecretBytes registers secret bytes: masked in base64 and hex.
func (r *Recorder) AddSecretBytes(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.red.sec.addBlob(b)
}

// AddPrivateKey registers a private key: its DER encodings (PKCS#1, SEC 1,
// PKCS#8) in base64 and hex, their PEM lines, and its private numbers.
// Private keys sent in envelopes are removed without it (by element name and
// by their form); registering one also catches it anywhere else.
func (r *Recorder) AddPrivateKey(k crypto.PrivateKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.red.sec.addKey(k)
}

// AddIdentifying registers an identifying value the recording would not
// otherwise learn (the device address the caller dialled): with
// Options.Identifying it is replaced wherever it appears in text.
func (r *Recorder) AddIdentifying(k Kind, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.red.ph.replace(k, value)
}

// Record redacts and keeps one exchange (wsman.Recorder). The exchange's
// body buffers are cleared afterwards.
func (r *Recorder) Record(x *wsman.Exchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() {
		clear(x.RequestBody)
		clear(x.ResponseBody)
	}()
	if len(r.ex) >= r.opts.MaxExchanges {
		r.dropped++
		return
	}
	if r.first.IsZero() || x.Start.Before(r.first) {
		r.first = x.Start
	}
	// Headers first: a challenge's realm and the user name feed the secret
	// forms the bodies are checked against.
	reqH := r.red.header(x.RequestHeader)
	var respH map[string][]string
	if x.StatusCode != 0 {
		respH = r.red.header(x.ResponseHeader)
	}
	e := Exchange{
		Seq:        len(r.ex) + 1,
		AtMS:       ms(x.Start.Sub(r.first)),
		DurationMS: ms(x.Duration),
		Request: Request{
			Method: x.Method,
			Path:   r.red.text(x.Path),
			Header: reqH,
			Body:   r.red.body(x.RequestBody, false),
		},
	}
	if e.Request.Method == "" {
		e.Request.Method = "POST"
	}
	if e.Request.Path == "" {
		e.Request.Path = "/"
	}
	describeRequest(&e.Request)
	if x.StatusCode != 0 {
		e.Response = &Response{Status: x.StatusCode, Header: respH, Body: r.red.body(x.ResponseBody, x.Truncated), Truncated: x.Truncated}
	}
	if x.Err != nil {
		e.Error = r.red.text(x.Err.Error())
	}
	if x.TLSVersion != 0 {
		e.TLS = tls.VersionName(x.TLSVersion) + " " + tls.CipherSuiteName(x.TLSCipherSuite)
	}
	r.ex = append(r.ex, e)
}

// describeRequest fills Action, ResourceURI and Selectors from the body.
func describeRequest(q *Request) {
	if q.Body == "" || strings.HasPrefix(q.Body, "[body removed") {
		return
	}
	k, err := RequestKey([]byte(q.Body), Policy{})
	if err != nil {
		return
	}
	q.Action, q.ResourceURI, q.Selectors = k.Action, k.ResourceURI, k.Selectors
}

func ms(d time.Duration) float64 {
	if d < 0 {
		d = 0
	}
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// Len returns the number of exchanges kept.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ex)
}

// Dropped returns the number of exchanges not kept (past MaxExchanges).
func (r *Recorder) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Transcript returns the transcript so far with provenance p (its Redaction
// filled in, RecordedAt stamped if zero). With identifying redaction, the
// kept exchanges are redacted once more first, so that a value learnt late
// (a host name read at the end) is replaced in the earlier ones too; secrets
// registered late are masked the same way.
func (r *Recorder) Transcript(p Provenance) *Transcript {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.ex {
		e := &r.ex[i]
		e.Request.Body = r.resweep(e.Request.Body)
		e.Request.Header = r.red.header(e.Request.Header)
		if e.Response != nil {
			e.Response.Body = r.resweep(e.Response.Body)
			e.Response.Header = r.red.header(e.Response.Header)
		}
		e.Error = r.red.text(e.Error)
		describeRequest(&e.Request)
	}
	if p.RecordedAt.IsZero() {
		now := time.Now
		if r.opts.Now != nil {
			now = r.opts.Now
		}
		p.RecordedAt = now().UTC()
	}
	p.Redaction = r.red.stats
	p.Redaction.Policy = r.opts.Policy.Name
	p.Redaction.Identifying = r.opts.Identifying
	for k := range r.red.dropped {
		p.Redaction.Dropped = append(p.Redaction.Dropped, k)
	}
	slices.Sort(p.Redaction.Dropped)
	t := &Transcript{Format: Format, Provenance: p, Exchanges: slices.Clone(r.ex)}
	for i := range t.Exchanges {
		if resp := t.Exchanges[i].Response; resp != nil {
			cp := *resp
			t.Exchanges[i].Response = &cp
		}
	}
	return t
}

func (r *Recorder) resweep(body string) string {
	if body == "" || strings.HasPrefix(body, "[body removed") {
		return body
	}
	return r.red.body([]byte(body), false)
}
