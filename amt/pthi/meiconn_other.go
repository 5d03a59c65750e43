//go:build !linux && !windows

package pthi

import "context"

// openMEIHandle returns [ErrMEIUnsupported]: this platform has no MEI transport.
func openMEIHandle(ctx context.Context, cfg MEIConfig) (meiHandle, MEIProperties, error) {
	return nil, MEIProperties{}, ErrMEIUnsupported
}

// writeBusy reports false: this platform has no MEI transport.
func writeBusy(error) bool { return false }
