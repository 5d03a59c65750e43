package amtsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
)

// HelloOptions configures [Device.SendHellos].
type HelloOptions struct {
	// Addr is the provisioning server's hello listener, host:port (AMT's
	// default port is 9971). Required.
	Addr string
	// MaxHellos bounds the hellos sent (retry counts 0 … MaxHellos-1). Zero
	// means 15, the firmware's retry counter range 0–14.
	MaxHellos int
	// Backoff returns the wait after the hello with the given retry count.
	// Nil: [DefaultHelloBackoff].
	Backoff func(retry int) time.Duration
	// Sleep waits between hellos. Nil: Config.Behavior.Sleep, else a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Dial opens the TCP connection of one hello. Nil: a net.Dialer bound to
	// the device's listen address (so the hello's source address is the
	// device's), with a 10-second timeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnSent, if set, is called after each attempt with the retry count, the
	// connection's local (source) address (nil if the dial failed) and the
	// error, if any.
	OnSent func(retry int, source net.Addr, err error)

	// onConnect is called with the source address as soon as a hello's
	// connection is up, before anything is written ([Fleet] records it there
	// so that a listener can look the source up as soon as it accepts).
	onConnect func(source net.Addr)
}

// HelloResult reports what [Device.SendHellos] did.
type HelloResult struct {
	// Sent counts attempts; Delivered those whose bytes were written and the
	// connection closed cleanly.
	Sent, Delivered int
	// Contacted: a configuration server started a remote-configuration session
	// (the sender stops then).
	Contacted bool
	// LastError is the error of the last failed attempt.
	LastError error
}

// Hello sender errors.
var (
	// ErrNoRemoteConfiguration: the device does not send hellos (remote
	// configuration disabled, AMT before 3.0 without an agent's
	// StartConfiguration, or already provisioned).
	ErrNoRemoteConfiguration = errors.New("amtsim: remote configuration is not active")
	// ErrWindowClosed: the provisioning window has expired or was closed.
	ErrWindowClosed = errors.New("amtsim: provisioning window closed")
)

// DefaultHelloBackoff spaces hellos as a 2007 Symantec Connect blog post
// describes the firmware doing: five a minute, then five every ten minutes,
// then five an hour.
func DefaultHelloBackoff(retry int) time.Duration {
	switch {
	case retry < 4:
		return 12 * time.Second
	case retry < 9:
		return 2 * time.Minute
	}
	return 12 * time.Minute
}

// Hello returns the hello the device would send now with the given retry
// count: version 3 with its active root hashes, or version 2 with its PID for
// a PSK device.
func (d *Device) Hello(retry int) (*hello.Message, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.helloLocked(retry)
}

func (d *Device) helloLocked(retry int) (*hello.Message, error) {
	st := &d.st
	if st.prov == amt.PostProvisioning || !st.zeroTch ||
		!d.remoteConfigAllowed(st.agentStarted) {
		return nil, ErrNoRemoteConfiguration
	}
	if !d.remoteOpenLocked() {
		return nil, ErrWindowClosed
	}
	h := &hello.Message{
		AdminCredentialsSet: !st.mebxDefault,
		RetryCount:          uint32(retry),
		UUID:                d.uuid,
	}
	if pair := d.pskPairLocked(); pair != nil { // Config.PSK or SetTLSPSK's (cls_psk.go)
		h.Version = hello.VersionPSK
		copy(h.PID[:], pair.PID.Compact())
	} else {
		h.Version = hello.VersionPKI
		h.Hashes = d.activeHashesLocked()
		if len(h.Hashes) > 255 {
			h.Hashes = h.Hashes[:255]
		}
	}
	return h, nil
}

// SendHellos sends hellos to o.Addr with increasing retry counts, waiting
// o.Backoff between them, until a configuration server makes contact, the
// hellos are used up, the window closes or ctx ends. Each hello is one TCP
// connection: the device writes the packet and closes; nothing is read back.
// It returns ctx's error when ctx ended it.
func (d *Device) SendHellos(ctx context.Context, o HelloOptions) (HelloResult, error) {
	var res HelloResult
	if o.Addr == "" {
		return res, &ConfigError{Field: "HelloOptions.Addr", Expected: "host:port of the hello listener", Got: `""`}
	}
	max := o.MaxHellos
	if max <= 0 {
		max = 15
	}
	backoff := o.Backoff
	if backoff == nil {
		backoff = DefaultHelloBackoff
	}
	sleep := o.Sleep
	if sleep == nil {
		sleep = d.sleep
	}
	dial := o.Dial
	if dial == nil {
		dial = d.dialFromDevice
	}
	for retry := 0; retry < max; retry++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		d.mu.Lock()
		if d.st.contacted {
			d.mu.Unlock()
			res.Contacted = true
			return res, nil
		}
		h, err := d.helloLocked(retry)
		d.mu.Unlock()
		if err != nil {
			return res, err
		}
		b, err := h.MarshalBinary()
		if err != nil {
			return res, fmt.Errorf("amtsim: encoding hello: %w", err)
		}
		src, err := sendOne(ctx, dial, o.Addr, b, o.onConnect)
		res.Sent++
		if err == nil {
			res.Delivered++
		} else {
			res.LastError = err
		}
		d.mu.Lock()
		d.st.helloSent++
		if d.cfg.Behavior.UnresponsiveAfterHello {
			d.st.unresponsive = true
		}
		d.mu.Unlock()
		d.debug("hello sent", errAttrOrNil(err))
		if o.OnSent != nil {
			o.OnSent(retry, src, err)
		}
		if retry+1 == max {
			break
		}
		if err := sleep(ctx, backoff(retry)); err != nil {
			return res, err
		}
	}
	d.mu.Lock()
	res.Contacted = d.st.contacted
	d.mu.Unlock()
	return res, nil
}

func (d *Device) dialFromDevice(ctx context.Context, network, addr string) (net.Conn, error) {
	dl := net.Dialer{Timeout: 10 * time.Second}
	if ip := net.ParseIP(d.listenIP()); ip != nil && !ip.IsUnspecified() {
		dl.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return dl.DialContext(ctx, network, addr)
}

func sendOne(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), addr string, b []byte, onConnect func(net.Addr)) (net.Addr, error) {
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	src := c.LocalAddr()
	if onConnect != nil {
		onConnect(src)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	} else {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	}
	_, werr := c.Write(b)
	cerr := c.Close()
	if werr != nil {
		return src, werr
	}
	return src, cerr
}

func errAttrOrNil(err error) slog.Attr {
	if err == nil {
		return slog.String("error", "")
	}
	return errAttr(err)
}
