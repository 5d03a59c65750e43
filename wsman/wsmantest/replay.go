package wsmantest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/transcript"
)

// ReplayOptions configure a [Replay].
type ReplayOptions struct {
	// Policy must be the policy the transcript was recorded with, so that
	// live requests are masked as the recorded ones were (zero:
	// transcript.AMTPolicy).
	Policy transcript.Policy
	// Strict makes a request asked more often than the transcript answered
	// it a miss. By default the last recorded answer is repeated (reads are
	// often repeated; a state change between them is what Strict catches).
	Strict bool
	// Writer writes the miss faults (zero: AMT's shapes).
	Writer *Writer
}

// Replay is an http.Handler that answers WS-Management requests with what a
// device answered in a transcript, so a test can run amtkit's reads and
// engine steps against a real device's words.
//
// A request is matched to recorded exchanges by transcript.RequestKey:
// action, resource URI, selectors and the canonical body, with secret and
// volatile values masked on both sides. Exchanges with the same key are
// answered in recorded order. The recorded status, headers and envelope are
// sent as recorded, the envelope's RelatesTo set to the live MessageID. A
// recorded transport error (the device dropped the connection) is replayed
// by closing the connection. Recorded 401 challenges are not replayed:
// authentication is the test's (wrap the Replay in a [DigestAuth]).
//
// A request the transcript does not answer gets HTTP 500 with a Receiver /
// wsman InternalError fault whose reason says "amtkit replay: no recorded
// answer to …" and whose detail is "amtkit-replay-miss"; it is listed by
// [Replay.Misses]. A Replay is safe for concurrent use.
type Replay struct {
	opts    ReplayOptions
	w       *Writer
	mu      sync.Mutex
	entries map[transcript.Key][]replayEntry
	next    map[transcript.Key]int
	misses  []ReplayMiss
	served  map[int]bool
	skipped int
}

type replayEntry struct {
	seq  int
	resp *transcript.Response // nil: hang up
}

// ReplayMiss is a request the transcript did not answer.
type ReplayMiss struct {
	Key transcript.Key
	// Reason says why: not recorded, asked more often than recorded
	// (Strict), or its recorded answer was removed by redaction.
	Reason string
}

func (m ReplayMiss) String() string { return m.Key.String() + ": " + m.Reason }

// ErrNothingToReplay: the transcript holds no exchange a Replay can answer
// with.
var ErrNothingToReplay = errors.New("wsmantest: the transcript holds no replayable exchange")

// NewReplay indexes t's exchanges. Exchanges that cannot be replayed — a 401,
// a request body removed by redaction — are skipped ([Replay.Skipped]).
func NewReplay(t *transcript.Transcript, o ReplayOptions) (*Replay, error) {
	if o.Policy.Name == "" && o.Policy.Secret == nil && o.Policy.Identifying == nil {
		o.Policy = transcript.AMTPolicy()
	}
	r := &Replay{opts: o, w: o.Writer, entries: map[transcript.Key][]replayEntry{}, next: map[transcript.Key]int{}, served: map[int]bool{}}
	if r.w == nil {
		r.w = &Writer{}
	}
	for i := range t.Exchanges {
		x := &t.Exchanges[i]
		if x.Response != nil && x.Response.Status == http.StatusUnauthorized {
			r.skipped++
			continue
		}
		k, err := transcript.RequestKey([]byte(x.Request.Body), o.Policy)
		if err != nil {
			r.skipped++
			continue
		}
		r.entries[k] = append(r.entries[k], replayEntry{seq: x.Seq, resp: x.Response})
	}
	if len(r.entries) == 0 {
		return nil, ErrNothingToReplay
	}
	return r, nil
}

// Skipped returns the number of exchanges that cannot be replayed.
func (r *Replay) Skipped() int { return r.skipped }

// Misses returns the requests answered with the miss fault, in order.
func (r *Replay) Misses() []ReplayMiss {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ReplayMiss(nil), r.misses...)
}

// Unused returns the sequence numbers of replayable exchanges never served,
// in order.
func (r *Replay) Unused() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, es := range r.entries {
		for _, e := range es {
			if !r.served[e.seq] {
				out = append(out, e.seq)
			}
		}
	}
	slices.Sort(out)
	return out
}

// pick returns the entry answering k, or a miss reason.
func (r *Replay) pick(k transcript.Key) (replayEntry, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	es := r.entries[k]
	if len(es) == 0 {
		return replayEntry{}, "no recorded answer"
	}
	i := r.next[k]
	if i >= len(es) {
		if r.opts.Strict {
			return replayEntry{}, fmt.Sprintf("asked %d times, recorded %d", i+1, len(es))
		}
		i = len(es) - 1
	} else {
		r.next[k] = i + 1
	}
	e := es[i]
	r.served[e.seq] = true
	if e.resp != nil && strings.HasPrefix(e.resp.Body, "[body removed") {
		return replayEntry{}, fmt.Sprintf("the recorded answer (exchange %d) was removed by redaction", e.seq)
	}
	return e, ""
}

// ServeHTTP answers one request.
func (r *Replay) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	if hr.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	req, err := ReadRequest(hr, 0)
	if err != nil {
		_ = r.w.Write(w, nil, FaultReply(SenderFault("SchemaValidationError", "The request does not decode.")))
		return
	}
	k, err := transcript.RequestKey(req.Raw, r.opts.Policy)
	if err != nil {
		_ = r.w.Write(w, req, FaultReply(SenderFault("SchemaValidationError", "The request does not decode.")))
		return
	}
	e, why := r.pick(k)
	if why != "" {
		r.mu.Lock()
		r.misses = append(r.misses, ReplayMiss{Key: k, Reason: why})
		r.mu.Unlock()
		_ = r.w.Write(w, req, FaultReply(Fault{
			HTTPStatus: http.StatusInternalServerError,
			Action:     wsman.ActionWSManFault,
			Code:       wsman.QName{Space: wsman.NSSOAP, Local: "Receiver"},
			Subcode:    wsman.QName{Space: wsman.NSWSMan, Local: "InternalError"},
			Reason:     "amtkit replay: " + why + " to " + k.String(),
			Detail:     "amtkit-replay-miss",
		}))
		return
	}
	if e.resp == nil {
		_ = r.w.Write(w, req, Hangup())
		return
	}
	body := []byte(e.resp.Body)
	if req.MessageID != "" && len(body) > 0 {
		if b, err := setRelatesTo(body, req.MessageID); err == nil {
			body = b
		}
	}
	h := w.Header()
	for k, vs := range e.resp.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Connection", "Transfer-Encoding", "Date", "Www-Authenticate":
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	w.WriteHeader(e.resp.Status)
	_, _ = w.Write(body)
}

// setRelatesTo replaces the text of the envelope's wsa:RelatesTo in place.
func setRelatesTo(b []byte, id string) ([]byte, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	start := -1
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space == wsman.NSAddressing && t.Name.Local == "RelatesTo" {
				start = int(dec.InputOffset())
			}
		case xml.EndElement:
			if start >= 0 && t.Name.Space == wsman.NSAddressing && t.Name.Local == "RelatesTo" {
				var out bytes.Buffer
				out.Write(b[:start])
				_ = xml.EscapeText(&out, []byte(id))
				out.Write(b[before:])
				return out.Bytes(), nil
			}
		}
	}
}
