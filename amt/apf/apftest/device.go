package apftest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/amt/pthi"
)

// Defaults of [Config].
const (
	// DefaultWindow is the fake firmware's receive window per channel. It
	// differs from apf.DefaultWindow on purpose, so that a host mixing up the
	// two windows is caught.
	DefaultWindow = 2048
	// DefaultMaxMessageLength is the fake LME client's maximum message length.
	DefaultMaxMessageLength = 4096
	// DefaultMaxChannels is the fake firmware's pool of forwarded-tcpip
	// channels (AMT's has 8 slots, rpc-go internal/lm/engine.go).
	DefaultMaxChannels = 8
)

// Config configures a fake [Device]. Ports is required.
type Config struct {
	// UUID is the system UUID sent in PROTOCOL_VERSION.
	UUID amt.UUID
	// Ports maps each port the firmware forwards to the TCP address a channel
	// to it is connected to (e.g. 16992 → a simulated device's HTTP listener).
	Ports map[uint32]string
	// Order is the order of the tcpip-forward requests (default: Ports'
	// ports, ascending). A port in Order but not in Ports is forwarded but
	// refuses channels (connect failed), as 623 and 664 would here.
	Order []uint32
	// Window is the firmware's receive window per channel (default
	// DefaultWindow).
	Window uint32
	// MaxMessageLength is the LME client's maximum message length (default
	// DefaultMaxMessageLength).
	MaxMessageLength int
	// MaxChannels bounds the channels open at once (default
	// DefaultMaxChannels); one more is refused with resource shortage.
	MaxChannels int
	// Dial connects channels to their targets (default a net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// IgnoreHostWindow makes the firmware misbehave: it sends data beyond the
	// window the host gave (the host must close the channel, not buffer it).
	IgnoreHostWindow bool
	// RefuseOpens makes the firmware refuse the first RefuseOpens channel
	// opens with resource shortage, whatever its pool holds: AMT refuses
	// back-to-back opens transiently (rpc-go localTransport.go
	// isTransientLMEError; PR 1466, AMT 16 with no slot held).
	RefuseOpens int
	// StaleClose makes the firmware send a CHANNEL_CLOSE naming each channel
	// the host opens before it answers the open, as AMT replays stale closes
	// for old channel numbers after an MEI reinit (rpc-go
	// internal/lm/engine.go).
	StaleClose bool
	// Logger receives debug records. Nil: none.
	Logger *slog.Logger
}

// ForSim returns a Config for fake firmware in front of a simulated device:
// its UUID, and the ports LMS would serve — 16992 to the device's HTTP
// listener (the local non-TLS port) and 16993 to its local TLS port — with
// 623 and 664 advertised as well (their channels are refused). Like firmware,
// it forwards no non-TLS port when the platform enforces TLS on its local
// ports (asked over the device's simulated MEI, as an agent would): rpc-go's
// internal/lm/engine.go records 16992 and 623 then missing and 16993 with 664
// advertised instead.
func ForSim(d *amtsim.Device) Config {
	tlsOnly := false
	if f, err := pthi.QueryChangeEnabled(context.Background(), d.WatchdogMEI()); err == nil {
		tlsOnly = f.TLSEnforcedOnLocalPorts()
	}
	c := Config{UUID: d.UUID(), Ports: map[uint32]string{apf.PortHTTPS: d.LocalTLSAddr()}, Order: []uint32{apf.PortHTTPS, 664}}
	if !tlsOnly {
		c.Ports[apf.PortHTTP] = d.HTTPAddr()
		c.Order = []uint32{apf.PortHTTP, 623, apf.PortHTTPS, 664}
	}
	return c
}

// Stats counts what the fake firmware saw from the host.
type Stats struct {
	// ChannelsOpened counts the channels the firmware confirmed.
	ChannelsOpened int
	// MaxOpen is the most channels open at once.
	MaxOpen int
	// DataFromHost counts CHANNEL_DATA messages from the host, BytesFromHost
	// their data, LargestFromHost the largest; BytesToHost the data sent.
	DataFromHost    int
	BytesFromHost   int64
	LargestFromHost int
	BytesToHost     int64
	// AdjustsFromHost counts the host's WINDOW_ADJUST messages.
	AdjustsFromHost int
	// Refused counts channel opens the firmware refused.
	Refused int
}

// Device is fake AMT firmware behind the LME client: it speaks APF as the
// firmware does — protocol version, the port-forwarding service request,
// tcpip-forward requests one at a time — and connects each channel the host
// opens to a TCP target, forwarding data both ways within the windows. It
// enforces the protocol on the host: the first rule the host breaks
// (messages out of order, a reply that does not match the request, data
// beyond the firmware's window, a message for a channel that does not exist)
// ends the conversation with DISCONNECT (protocol error) and is kept in
// [Device.Violation].
type Device struct {
	cfg Config
	end *End
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wmu    sync.Mutex

	mu         sync.Mutex
	ctl        [][]byte
	ctlReady   chan struct{}
	phase      phase
	pending    int // index in Order of the forward awaiting its reply
	forwarded  map[uint32]bool
	chans      map[uint32]*dchan
	hostIDs    map[uint32]bool
	nextID     uint32
	opens      int // channel opens seen
	stats      Stats
	violation  error
	closed     bool
	generation int
}

type phase int

const (
	awaitHostVersion phase = iota
	awaitServiceAccept
	forwarding
	running
)

// dchan is one channel on the firmware side.
type dchan struct {
	d      *Device
	id     uint32
	hostID uint32
	port   uint32
	conn   net.Conn
	gen    int

	changed   chan struct{}
	hostWin   uint32 // bytes the firmware may send to the host
	rxLeft    uint32 // bytes the host may still send
	in        [][]byte
	closeSent bool
	closeRecv bool
	dead      bool
}

// Start starts a fake firmware and returns it with the host's end of its LME
// connection (give it to apf.NewSession). The firmware speaks first, with its
// PROTOCOL_VERSION, as MeshCentral's LME code expects AMT to.
func Start(cfg Config) (*Device, *End) {
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxMessageLength <= 0 {
		cfg.MaxMessageLength = DefaultMaxMessageLength
	}
	if cfg.MaxChannels <= 0 {
		cfg.MaxChannels = DefaultMaxChannels
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	if len(cfg.Order) == 0 {
		for p := range cfg.Ports {
			cfg.Order = append(cfg.Order, p)
		}
		slices.Sort(cfg.Order)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, dev := Pipe(cfg.MaxMessageLength)
	ctx, cancel := context.WithCancel(context.Background())
	d := &Device{
		cfg: cfg, end: dev, log: log, ctx: ctx, cancel: cancel, ctlReady: make(chan struct{}, 1),
		forwarded: map[uint32]bool{}, chans: map[uint32]*dchan{}, hostIDs: map[uint32]bool{},
	}
	d.queue(apf.ProtocolVersion{Major: 1, Minor: 0, Trigger: apf.TriggerLME, UUID: cfg.UUID})
	d.wg.Add(2)
	go d.readLoop()
	go d.writeLoop()
	return d, host
}

// Stats returns the counters so far.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Violation returns the first protocol rule the host broke, or nil.
func (d *Device) Violation() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.violation
}

// Forwarded returns the ports the host accepted to forward, ascending.
func (d *Device) Forwarded() []uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []uint32
	for p := range d.forwarded {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Restart plays a firmware reset of the LME: the channels the firmware had
// vanish without a CHANNEL_CLOSE, and it starts over with PROTOCOL_VERSION,
// the service request and the forwards.
func (d *Device) Restart() {
	d.mu.Lock()
	chans := d.chans
	d.chans, d.hostIDs = map[uint32]*dchan{}, map[uint32]bool{}
	d.forwarded = map[uint32]bool{}
	d.phase, d.pending = awaitHostVersion, 0
	d.generation++
	for _, c := range chans {
		c.dead = true
		c.broadcastLocked()
	}
	d.mu.Unlock()
	for _, c := range chans {
		_ = c.conn.Close()
	}
	d.queue(apf.ProtocolVersion{Major: 1, Minor: 0, Trigger: apf.TriggerLME, UUID: d.cfg.UUID})
}

// Close stops the firmware and closes every channel's connection.
func (d *Device) Close() {
	d.shutdown()
	d.wg.Wait()
}

func (d *Device) shutdown() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	chans := d.chans
	d.chans = map[uint32]*dchan{}
	for _, c := range chans {
		c.dead = true
		c.broadcastLocked()
	}
	d.mu.Unlock()
	d.cancel()
	_ = d.end.Close()
	for _, c := range chans {
		_ = c.conn.Close()
	}
}

// violate records the host's first violation, disconnects and stops.
func (d *Device) violate(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	d.mu.Lock()
	if d.violation == nil {
		d.violation = err
	}
	d.mu.Unlock()
	d.log.Debug("apftest: host violated the protocol", "err", err)
	if b, e := apf.Encode(apf.Disconnect{Reason: apf.DisconnectProtocolError}); e == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = d.write(ctx, b)
		cancel()
	}
	d.shutdown()
}

func (d *Device) write(ctx context.Context, b []byte) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	return d.end.WriteMessage(ctx, b)
}

func (d *Device) queue(m apf.Message) {
	b, err := apf.Encode(m)
	if err != nil {
		panic(err) // the fake encodes only what it builds itself
	}
	d.mu.Lock()
	d.ctl = append(d.ctl, b)
	d.mu.Unlock()
	select {
	case d.ctlReady <- struct{}{}:
	default:
	}
}

func (d *Device) writeLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.ctlReady:
		}
		for {
			d.mu.Lock()
			if len(d.ctl) == 0 {
				d.mu.Unlock()
				break
			}
			b := d.ctl[0]
			d.ctl = d.ctl[1:]
			d.mu.Unlock()
			if err := d.write(d.ctx, b); err != nil {
				d.shutdown()
				return
			}
		}
	}
}

func (d *Device) readLoop() {
	defer d.wg.Done()
	for {
		b, err := d.end.ReadMessage(d.ctx)
		if err != nil {
			d.shutdown()
			return
		}
		m, err := apf.Decode(b)
		if err != nil {
			d.violate("undecodable message from the host: %w", err)
			return
		}
		if !d.handle(m) {
			return
		}
	}
}

// handle applies the firmware's rules to one message from the host.
func (d *Device) handle(m apf.Message) bool {
	d.mu.Lock()
	ph := d.phase
	d.mu.Unlock()
	if _, ok := m.(apf.Disconnect); ok {
		d.shutdown()
		return false
	}
	if v, ok := m.(apf.ProtocolVersion); ok {
		if v.Major != 1 {
			d.violate("host speaks APF %d.%d", v.Major, v.Minor)
			return false
		}
		if ph == awaitHostVersion {
			d.mu.Lock()
			d.phase = awaitServiceAccept
			d.mu.Unlock()
			d.queue(apf.ServiceRequest{Service: apf.ServicePortForwarding})
		}
		return true
	}
	if ph == awaitHostVersion {
		d.violate("%v before the host's PROTOCOL_VERSION", m.Type())
		return false
	}
	switch m := m.(type) {
	case apf.KeepAliveRequest:
		d.queue(apf.KeepAliveReply(m))
		return true
	case apf.KeepAliveReply:
		return true
	case apf.ServiceAccept:
		if ph != awaitServiceAccept || m.Service != apf.ServicePortForwarding {
			d.violate("SERVICE_ACCEPT %q; the firmware requested %q (phase %d)", m.Service, apf.ServicePortForwarding, ph)
			return false
		}
		d.mu.Lock()
		d.phase = forwarding
		d.mu.Unlock()
		d.nextForward()
		return true
	case apf.RequestSuccess, apf.RequestFailure:
		return d.onForwardReply(m)
	}
	if ph == awaitServiceAccept {
		d.violate("%v before the port-forwarding service was accepted", m.Type())
		return false
	}
	switch m := m.(type) {
	case apf.ChannelOpen:
		return d.onOpen(m)
	case apf.ChannelData:
		return d.onData(m)
	case apf.WindowAdjust:
		return d.onAdjust(m)
	case apf.ChannelClose:
		return d.onClose(m)
	}
	d.violate("the host sent %v, which only the firmware sends", m.Type())
	return false
}

// nextForward sends the next tcpip-forward, or enters the running phase.
func (d *Device) nextForward() {
	d.mu.Lock()
	if d.pending >= len(d.cfg.Order) {
		d.phase = running
		d.mu.Unlock()
		return
	}
	p := d.cfg.Order[d.pending]
	d.mu.Unlock()
	d.queue(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "127.0.0.1", Port: p})
}

func (d *Device) onForwardReply(m apf.Message) bool {
	d.mu.Lock()
	if d.phase != forwarding {
		d.mu.Unlock()
		d.violate("%v, but no global request is pending", m.Type())
		return false
	}
	want := d.cfg.Order[d.pending]
	if s, ok := m.(apf.RequestSuccess); ok {
		got, ok := s.Port()
		if !ok || got != want {
			d.mu.Unlock()
			d.violate("tcpip-forward reply for port %d carries %x; expected the port bound", want, s.Data)
			return false
		}
		d.forwarded[want] = true
	}
	d.pending++
	d.mu.Unlock()
	d.nextForward()
	return true
}

func (d *Device) onOpen(m apf.ChannelOpen) bool {
	refuse := func(r apf.OpenFailureReason) bool {
		d.mu.Lock()
		d.stats.Refused++
		d.mu.Unlock()
		d.queue(apf.ChannelOpenFailure{Recipient: m.Sender, Reason: r})
		return true
	}
	if d.cfg.StaleClose {
		if b, err := apf.Encode(apf.ChannelClose{Recipient: m.Sender}); err != nil || d.write(d.ctx, b) != nil {
			d.shutdown()
			return false
		}
	}
	d.mu.Lock()
	d.opens++
	transient := d.opens <= d.cfg.RefuseOpens
	switch {
	case d.hostIDs[m.Sender]:
		d.mu.Unlock()
		d.violate("CHANNEL_OPEN with sender channel %d, which is still open", m.Sender)
		return false
	case m.ChannelType != apf.ChannelForwarded:
		d.mu.Unlock()
		return refuse(apf.OpenUnknownChannelType)
	case !d.forwarded[m.Port]:
		d.mu.Unlock()
		return refuse(apf.OpenAdministrativelyProhibited)
	case len(d.chans) >= d.cfg.MaxChannels || transient:
		d.mu.Unlock()
		return refuse(apf.OpenResourceShortage)
	}
	target, ok := d.cfg.Ports[m.Port]
	gen := d.generation
	d.mu.Unlock()
	if !ok {
		return refuse(apf.OpenConnectFailed)
	}
	conn, err := d.cfg.Dial(d.ctx, "tcp", target)
	if err != nil {
		return refuse(apf.OpenConnectFailed)
	}
	d.mu.Lock()
	if d.closed || gen != d.generation {
		d.mu.Unlock()
		_ = conn.Close()
		return true
	}
	d.nextID++
	c := &dchan{d: d, id: d.nextID, hostID: m.Sender, port: m.Port, conn: conn, gen: gen,
		changed: make(chan struct{}), hostWin: m.Window, rxLeft: d.cfg.Window}
	d.chans[c.id] = c
	d.hostIDs[m.Sender] = true
	d.stats.ChannelsOpened++
	d.stats.MaxOpen = max(d.stats.MaxOpen, len(d.chans))
	d.mu.Unlock()
	// The confirmation is written before the pumps start: no data may
	// overtake it.
	b, err := apf.Encode(apf.ChannelOpenConfirmation{Recipient: m.Sender, Sender: c.id, Window: d.cfg.Window, Reserved: 0xFFFFFFFF})
	if err != nil || d.write(d.ctx, b) != nil {
		d.shutdown()
		return false
	}
	d.wg.Add(2)
	go c.pumpToTarget()
	go c.pumpToHost()
	return true
}

func (d *Device) channel(id uint32, what apf.MessageType) (*dchan, bool) {
	d.mu.Lock()
	c := d.chans[id]
	d.mu.Unlock()
	if c == nil {
		d.violate("%v for channel %d, which does not exist", what, id)
		return nil, false
	}
	return c, true
}

func (d *Device) onData(m apf.ChannelData) bool {
	c, ok := d.channel(m.Recipient, apf.TypeChannelData)
	if !ok {
		return false
	}
	d.mu.Lock()
	d.stats.DataFromHost++
	d.stats.BytesFromHost += int64(len(m.Data))
	d.stats.LargestFromHost = max(d.stats.LargestFromHost, len(m.Data))
	switch {
	case c.closeRecv:
		d.mu.Unlock()
		d.violate("CHANNEL_DATA on channel %d after the host closed it", m.Recipient)
		return false
	case uint64(len(m.Data)) > uint64(c.rxLeft):
		left := c.rxLeft
		d.mu.Unlock()
		d.violate("CHANNEL_DATA of %d bytes on channel %d with a window of %d left", len(m.Data), m.Recipient, left)
		return false
	case c.closeSent:
		d.mu.Unlock()
		return true // in flight when the firmware closed
	}
	c.rxLeft -= uint32(len(m.Data))
	c.in = append(c.in, append([]byte(nil), m.Data...))
	c.broadcastLocked()
	d.mu.Unlock()
	return true
}

func (d *Device) onAdjust(m apf.WindowAdjust) bool {
	c, ok := d.channel(m.Recipient, apf.TypeChannelWindowAdjust)
	if !ok {
		return false
	}
	d.mu.Lock()
	d.stats.AdjustsFromHost++
	if uint64(c.hostWin)+uint64(m.Bytes) > 1<<32-1 {
		d.mu.Unlock()
		d.violate("WINDOW_ADJUST past 2^32-1 on channel %d", m.Recipient)
		return false
	}
	c.hostWin += m.Bytes
	c.broadcastLocked()
	d.mu.Unlock()
	return true
}

func (d *Device) onClose(m apf.ChannelClose) bool {
	c, ok := d.channel(m.Recipient, apf.TypeChannelClose)
	if !ok {
		return false
	}
	d.mu.Lock()
	if c.closeRecv {
		d.mu.Unlock()
		d.violate("second CHANNEL_CLOSE for channel %d", m.Recipient)
		return false
	}
	c.closeRecv = true
	reply := !c.closeSent
	c.closeSent = true
	d.forgetLocked(c)
	c.broadcastLocked()
	d.mu.Unlock()
	if reply {
		d.queue(apf.ChannelClose{Recipient: c.hostID})
	}
	_ = c.conn.Close()
	return true
}

// forgetLocked frees the channel's slot once both sides closed it.
func (d *Device) forgetLocked(c *dchan) {
	if c.closeSent && c.closeRecv && d.chans[c.id] == c {
		delete(d.chans, c.id)
		delete(d.hostIDs, c.hostID)
	}
}

func (c *dchan) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// pumpToTarget writes what the host sent to the TCP target and credits the
// host's window for each piece written, as LMS does for AMT's data.
func (c *dchan) pumpToTarget() {
	d := c.d
	defer d.wg.Done()
	for {
		d.mu.Lock()
		for len(c.in) == 0 && !c.dead && !c.closeRecv {
			ch := c.changed
			d.mu.Unlock()
			<-ch
			d.mu.Lock()
		}
		if len(c.in) == 0 {
			d.mu.Unlock()
			return
		}
		b := c.in[0]
		c.in = c.in[1:]
		d.mu.Unlock()
		if _, err := c.conn.Write(b); err != nil {
			return
		}
		d.mu.Lock()
		alive := !c.dead && !c.closeSent
		if alive {
			c.rxLeft += uint32(len(b))
		}
		d.mu.Unlock()
		if alive {
			d.queue(apf.WindowAdjust{Recipient: c.hostID, Bytes: uint32(len(b))})
		}
	}
}

// pumpToHost reads the TCP target and sends to the host within its window;
// at the target's end of stream it closes the channel.
func (c *dchan) pumpToHost() {
	d := c.d
	defer d.wg.Done()
	maxData := d.cfg.MaxMessageLength - apf.ChannelDataHeaderLen
	buf := make([]byte, maxData)
	for {
		n, rerr := c.conn.Read(buf)
		for off := 0; off < n; {
			d.mu.Lock()
			for c.hostWin == 0 && !d.cfg.IgnoreHostWindow && !c.dead && !c.closeRecv {
				ch := c.changed
				d.mu.Unlock()
				<-ch
				d.mu.Lock()
			}
			if c.dead || c.closeRecv {
				d.mu.Unlock()
				return
			}
			k := n - off
			if !d.cfg.IgnoreHostWindow {
				k = min(k, int(c.hostWin))
				c.hostWin -= uint32(k)
			}
			d.stats.BytesToHost += int64(k)
			d.mu.Unlock()
			b, err := apf.Encode(apf.ChannelData{Recipient: c.hostID, Data: buf[off : off+k]})
			if err != nil || d.write(d.ctx, b) != nil {
				return
			}
			off += k
		}
		if rerr != nil {
			d.mu.Lock()
			send := !c.closeSent && !c.dead
			c.closeSent = true
			d.forgetLocked(c)
			c.broadcastLocked()
			d.mu.Unlock()
			if send {
				if !errors.Is(rerr, io.EOF) && !errors.Is(rerr, net.ErrClosed) {
					d.log.Debug("apftest: target read failed", "port", c.port, "err", rerr)
				}
				d.queue(apf.ChannelClose{Recipient: c.hostID})
			}
			return
		}
	}
}

// String describes the device for test failures.
func (d *Device) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return "apftest.Device(phase " + strconv.Itoa(int(d.phase)) + ", " + strconv.Itoa(len(d.chans)) + " channels)"
}
