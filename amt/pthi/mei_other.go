//go:build !linux

package pthi

import "context"

// MEI is the MEI transport. Only Linux has an implementation; elsewhere [OpenMEI]
// returns [ErrMEIUnsupported]. (Windows exposes the same firmware client through the
// HECI driver's device interface; amtkit does not implement it.)
type MEI struct{}

// OpenMEI returns [ErrMEIUnsupported] on this platform.
func OpenMEI(ctx context.Context, cfg MEIConfig) (*MEI, error) { return nil, ErrMEIUnsupported }

// Properties returns the zero value.
func (m *MEI) Properties() MEIProperties { return MEIProperties{} }

// Send returns [ErrMEIUnsupported].
func (m *MEI) Send(ctx context.Context, req []byte) ([]byte, error) { return nil, ErrMEIUnsupported }

// Close does nothing.
func (m *MEI) Close() error { return nil }
