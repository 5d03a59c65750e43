package apf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// APF over a byte stream. Over the MEI one message is one MEI message; over
// CIRA — AMT's TLS connection to a Management Presence Server — the messages
// follow one another on the stream and each one's length must be read from
// its own fields, as MeshCentral's MPS does (mpsserver.js ProcessCommand) and
// go-wsman-messages' (pkg/apf). Two messages say nothing of their own length:
// REQUEST_SUCCESS (the data depend on the request it answers: a uint32 port
// after tcpip-forward, nothing after cancel-tcpip-forward) and a
// GLOBAL_REQUEST of a name this package does not know (MeshCentral reads no
// data after its want-reply byte; so does FrameLength).

// ErrIncomplete is FrameLength's answer for a strict prefix of a message:
// more bytes are needed.
var ErrIncomplete = errors.New("apf: incomplete message")

// ErrUnframeable: the bytes cannot start a message whose length a stream
// reader can know (a type this package does not know). The stream cannot be
// read further.
var ErrUnframeable = errors.New("apf: message length cannot be determined")

// FrameLength returns the length of the APF message at the start of b, read
// from its fields: the whole message for the fixed layouts, and the lengths
// it carries for the others (every length-prefixed string is bounded by
// MaxStringLength, CHANNEL_DATA by nothing but the caller's bound).
// successData is the number of data bytes a REQUEST_SUCCESS carries. It
// returns [ErrIncomplete] when b is a strict prefix of a message,
// [ErrUnframeable] for an unknown type, and a [*FormatError] for a string
// length over MaxStringLength. It never reads past what it returns and never
// panics.
func FrameLength(b []byte, successData int) (int, error) {
	if len(b) == 0 {
		return 0, ErrIncomplete
	}
	t := MessageType(b[0])
	f := framer{b: b, off: 1}
	switch t {
	case TypeProtocolVersion:
		f.skip(4 + 4 + 4 + 16 + protocolVersionPadding)
	case TypeDisconnect:
		f.skip(6)
	case TypeServiceRequest, TypeServiceAccept:
		f.str()
	case TypeUserAuthRequest:
		f.str()
		f.str()
		if m := f.strValue(); m == MethodPassword {
			f.skip(1)
			f.str()
		}
	case TypeUserAuthSuccess, TypeRequestFailure:
	case TypeUserAuthFailure:
		f.str()
		f.skip(1)
	case TypeGlobalRequest:
		name := f.strValue()
		f.skip(1)
		switch name {
		case RequestTCPForward, RequestCancelTCPForward:
			f.str()
			f.skip(4)
		case RequestUDPSendTo:
			f.str()
			f.skip(4)
			f.str()
			f.skip(4)
			f.data()
		}
	case TypeRequestSuccess:
		if successData < 0 {
			successData = 0
		}
		f.skip(successData)
	case TypeChannelOpen:
		f.str()
		f.skip(12)
		f.str()
		f.skip(4)
		f.str()
		f.skip(4)
	case TypeChannelOpenConfirmation, TypeChannelOpenFailure:
		f.skip(16)
	case TypeChannelWindowAdjust, TypeKeepAliveOptionsRequest, TypeKeepAliveOptionsReply:
		f.skip(8)
	case TypeChannelData:
		f.skip(4)
		f.data()
	case TypeChannelClose, TypeKeepAliveRequest, TypeKeepAliveReply:
		f.skip(4)
	default:
		return 0, fmt.Errorf("%w: type %d", ErrUnframeable, uint8(t))
	}
	if f.err != nil {
		if errors.Is(f.err, ErrIncomplete) {
			return 0, ErrIncomplete
		}
		return 0, &FormatError{Type: t, Offset: f.off, Err: f.err}
	}
	return f.off, nil
}

// framer walks a message's fields without decoding them.
type framer struct {
	b   []byte
	off int
	err error
}

func (f *framer) skip(n int) {
	if f.err != nil {
		return
	}
	if n > len(f.b)-f.off {
		f.err = ErrIncomplete
		return
	}
	f.off += n
}

func (f *framer) u32() uint32 {
	if f.err != nil {
		return 0
	}
	if len(f.b)-f.off < 4 {
		f.err = ErrIncomplete
		return 0
	}
	v := binary.BigEndian.Uint32(f.b[f.off:])
	f.off += 4
	return v
}

// strValue skips a length-prefixed string and returns it.
func (f *framer) strValue() string {
	n := f.u32()
	if f.err != nil {
		return ""
	}
	if n > MaxStringLength {
		f.err = fmt.Errorf("%w: length %d", ErrStringTooLong, n)
		return ""
	}
	start := f.off
	f.skip(int(n))
	if f.err != nil {
		return ""
	}
	return string(f.b[start:f.off])
}

func (f *framer) str() { f.strValue() }

// data skips a uint32 length and that many bytes (checked against what is
// there, so a huge length asks for more bytes rather than overflowing).
func (f *framer) data() {
	n := f.u32()
	if f.err != nil {
		return
	}
	if uint64(n) > uint64(len(f.b)-f.off) {
		f.err = ErrIncomplete
		return
	}
	f.off += int(n)
}

// DefaultMaxStreamMessage bounds a message read by a [StreamTransport] when
// its creator gives no bound: CHANNEL_DATA of a 16 KiB window and more than
// any control message.
const DefaultMaxStreamMessage = 64 << 10

// StreamTransport carries APF messages over a byte stream — AMT's CIRA
// connection to an MPS, after the TLS handshake — as a [Transport]: each read
// returns one whole message, framed by [FrameLength]; each write sends one.
// One goroutine reads while others write (writes are serialized). A
// [Session] works over it unchanged: it is the MPS's side of CIRA as it is
// LMS's side of the LME.
type StreamTransport struct {
	conn net.Conn
	max  int

	rmu         sync.Mutex // the reader's state
	buf         []byte
	successData int

	wmu sync.Mutex

	// dlmu guards the deadlines a context sets: each read and write has a
	// generation, and a context's late callback (context.AfterFunc's stop
	// does not wait for one already running) changes a deadline only while
	// its own call is still the current one.
	dlmu       sync.Mutex
	rgen, wgen uint64
}

// NewStreamTransport returns a transport over c whose messages are at most
// maxMessage bytes (0: DefaultMaxStreamMessage); a longer one fails the read
// with a [*FormatError].
func NewStreamTransport(c net.Conn, maxMessage int) *StreamTransport {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxStreamMessage
	}
	return &StreamTransport{conn: c, max: maxMessage}
}

// ExpectRequestSuccess sets how many data bytes the next REQUEST_SUCCESS
// messages carry: 4 while waiting for tcpip-forward replies (the port), 0
// otherwise (the default). It is for the reader's goroutine.
func (t *StreamTransport) ExpectRequestSuccess(dataBytes int) {
	t.rmu.Lock()
	t.successData = dataBytes
	t.rmu.Unlock()
}

// aLongTimeAgo interrupts a blocked read or write (net/http does the same).
var aLongTimeAgo = time.Unix(1, 0)

// ReadMessage returns the next message (its own copy). A message over the
// bound or one that cannot be framed ends the stream with an error; so does
// ctx (the connection's read deadline is set from it).
func (t *StreamTransport) ReadMessage(ctx context.Context) ([]byte, error) {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer t.deadlineFrom(ctx, &t.rgen, t.conn.SetReadDeadline)()
	for {
		n, err := FrameLength(t.buf, t.successData)
		switch {
		case err == nil:
			if n > t.max {
				return nil, &FormatError{Type: MessageType(t.buf[0]), Err: fmt.Errorf("message of %d bytes, the bound is %d", n, t.max)}
			}
			msg := append([]byte(nil), t.buf[:n]...)
			t.buf = append(t.buf[:0], t.buf[n:]...)
			return msg, nil
		case !errors.Is(err, ErrIncomplete):
			return nil, err
		case len(t.buf) > t.max:
			return nil, &FormatError{Type: MessageType(t.buf[0]), Err: fmt.Errorf("message over the bound of %d bytes", t.max)}
		}
		chunk := make([]byte, 4096)
		m, rerr := t.conn.Read(chunk)
		t.buf = append(t.buf, chunk[:m]...)
		if rerr != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(rerr, io.EOF) && len(t.buf) > 0 {
				if _, ferr := FrameLength(t.buf, t.successData); errors.Is(ferr, ErrIncomplete) {
					return nil, io.ErrUnexpectedEOF
				}
				continue
			}
			return nil, rerr
		}
	}
}

// WriteMessage writes msg whole (the connection's write deadline is set from
// ctx).
func (t *StreamTransport) WriteMessage(ctx context.Context, msg []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	defer t.deadlineFrom(ctx, &t.wgen, t.conn.SetWriteDeadline)()
	if _, err := t.conn.Write(msg); err != nil {
		// Part of the message may have gone: the stream can no longer be
		// framed, so it ends here (the session reading it ends with it).
		_ = t.conn.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// deadlineFrom sets the connection's deadline (set) from ctx for one call:
// ctx's deadline now, a time long past when ctx ends. It returns the function
// that ends the call; a callback still running after it changes nothing.
func (t *StreamTransport) deadlineFrom(ctx context.Context, gen *uint64, set func(time.Time) error) func() {
	t.dlmu.Lock()
	*gen++
	mine := *gen
	dl, _ := ctx.Deadline()
	_ = set(dl)
	t.dlmu.Unlock()
	stop := context.AfterFunc(ctx, func() { t.expire(gen, mine, set) })
	return func() {
		stop()
		t.dlmu.Lock()
		*gen++
		t.dlmu.Unlock()
	}
}

// expire interrupts call mine by a deadline long past, unless that call has
// ended (a later one may be running under a live context).
func (t *StreamTransport) expire(gen *uint64, mine uint64, set func(time.Time) error) {
	t.dlmu.Lock()
	defer t.dlmu.Unlock()
	if *gen == mine {
		_ = set(aLongTimeAgo)
	}
}

// Close closes the connection.
func (t *StreamTransport) Close() error { return t.conn.Close() }

// streamFramed marks a stream transport: its messages are framed by their own
// fields, so the session decodes them strictly.
func (*StreamTransport) streamFramed() {}

// Conn returns the connection the transport reads and writes.
func (t *StreamTransport) Conn() net.Conn { return t.conn }
