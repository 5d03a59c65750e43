//go:build !linux && !windows

package pthi

import "context"

// MEI is the MEI transport. Linux and Windows have an implementation; elsewhere
// [OpenMEI] returns [ErrMEIUnsupported].
type MEI struct{}

// OpenMEI returns [ErrMEIUnsupported] on this platform.
func OpenMEI(ctx context.Context, cfg MEIConfig) (*MEI, error) { return nil, ErrMEIUnsupported }

// Properties returns the zero value.
func (m *MEI) Properties() MEIProperties { return MEIProperties{} }

// Send returns [ErrMEIUnsupported].
func (m *MEI) Send(ctx context.Context, req []byte) ([]byte, error) { return nil, ErrMEIUnsupported }

// Close does nothing.
func (m *MEI) Close() error { return nil }
