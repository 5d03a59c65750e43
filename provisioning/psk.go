package provisioning

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/amtkit/amtkit/pskx"
)

// authorizePSK checks a version 2 hello's PID against the PSK store.
func (s *Session) authorizePSK(ctx context.Context, rec *DeviceRecord) (string, error) {
	store := s.p.cfg.PSK
	if store == nil {
		return "", Reject(ReasonPSKNotConfigured, "PSK hello from %s but no PSK store is configured", s.hello.Hello.UUID)
	}
	pid, err := pskx.ParsePID(s.hello.Hello.PIDString())
	if err != nil {
		return "", Reject(ReasonUnknownPID, "hello carries an invalid PID: %v", err)
	}
	pair, err := store.Lookup(ctx, pid)
	if errors.Is(err, pskx.ErrPairNotFound) {
		return "", Reject(ReasonUnknownPID, "PID %s is not in the PSK store", pid)
	}
	if err != nil {
		return "", &SessionError{Reason: ReasonStoreFailed, Err: err}
	}
	if pair.Used && pair.UsedBy != s.hello.Hello.UUID {
		return "", Reject(ReasonPIDUsed, "PID %s was used by device %s", pid, pair.UsedBy)
	}
	rec.PID = pid.Compact()
	return "PSK pair " + pid.String(), nil
}

// dialPSK opens TLS-PSK to the device with the pair of its PID.
func (s *Session) dialPSK(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), network, addr string) (net.Conn, error) {
	pid, err := pskx.ParsePID(s.rec.PID)
	if err != nil {
		return nil, err
	}
	pair, err := s.p.cfg.PSK.Lookup(ctx, pid)
	if err != nil {
		return nil, err
	}
	cfg := s.p.cfg.PSKDerivation.ClientConfig(pair.PID, pair.PPS)
	cfg.Rand = s.p.rand
	raw, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := pskx.ClientPSK(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS-PSK handshake: %w", err)
	}
	return c, nil
}

// markPSKUsed records that the device used its pair.
func (s *Session) markPSKUsed(ctx context.Context) error {
	if !s.psk() || s.p.cfg.PSK == nil {
		return nil
	}
	pid, err := pskx.ParsePID(s.rec.PID)
	if err != nil {
		return err
	}
	return s.p.cfg.PSK.MarkUsed(ctx, pid, s.hello.Hello.UUID)
}
