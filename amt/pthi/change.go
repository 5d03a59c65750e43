package pthi

import (
	"context"
	"fmt"
)

// The "is change to AMT enabled" query is not a PTHI command: it goes to another MEI
// client, the one intel/lms calls the watchdog client (GUID
// 05B79A6F-4628-4D7F-899D-A91514CB32AB, [ClientWatchdog]), with a 4-byte header of
// its own: command 0x05, byte count 0x02, sub-command 0x51, version 0x10
// (intel/lms MEIClient/ManageabilityClient MNGIsChangeToAMTEnabledCommand.h and
// ManageabiltiyCommand.cpp; rpc-go pkg/pthi IsChangeToAMTEnabled sends the same
// bytes). Both sources read the answer as one byte of flags at offset 0.

// changeEnabledRequest is the request message (command, byte count, sub-command,
// version).
func changeEnabledRequest() []byte { return []byte{0x05, 0x02, 0x51, 0x10} }

// ChangeEnabled is the flags byte of the "is change to AMT enabled" answer.
// Bit meanings from intel/lms MNGIsChangeToAMTEnabledCommand.h: bit 0 Enabled,
// bit 1 current operational state, bit 5 CIRA periodic-timer fix, bit 6 TLS on local
// ports, bit 7 new interface version (ME 16.1 and later). LMS honours bits 1, 5 and
// 6 only when bit 7 is set; amtkit does so for bits 1 and 5, and reads bit 6
// alone as rpc-go does (see [ChangeEnabled.TLSEnforcedOnLocalPorts]).
type ChangeEnabled uint8

// Flag bits of [ChangeEnabled].
const (
	ChangeEnabledAllowed         ChangeEnabled = 1 << 0
	ChangeEnabledOperational     ChangeEnabled = 1 << 1
	ChangeEnabledCIRATimerFix    ChangeEnabled = 1 << 5
	ChangeEnabledTLSOnLocalPorts ChangeEnabled = 1 << 6
	ChangeEnabledNewInterface    ChangeEnabled = 1 << 7
)

// Allowed reports bit 0: the firmware allows changing AMT's enabled state.
func (c ChangeEnabled) Allowed() bool { return c&ChangeEnabledAllowed != 0 }

// NewInterface reports bit 7: the firmware speaks the ME 16.1+ version of this
// interface, in which the other bits are meaningful.
func (c ChangeEnabled) NewInterface() bool { return c&ChangeEnabledNewInterface != 0 }

// AMTEnabled reports whether AMT is operational (bit 1, new interface only).
func (c ChangeEnabled) AMTEnabled() bool {
	return c.NewInterface() && c&ChangeEnabledOperational != 0
}

// TLSEnforcedOnLocalPorts reports whether the firmware requires TLS on the local
// ports: bit 6, whatever bit 7 says, as rpc-go reads it (IsTlsEnforcedOnLocalPorts,
// mask 0x40, proven on AMT 19+); intel/lms's MNGIsChangeToAMTEnabledCommand.h
// gates it on bit 7 — the two agree on every firmware that sets bit 6, which
// has the new interface. Host-based activation then needs
// StartConfigurationHBased and mutual TLS to LMS on 16993 (rpc-go
// internal/commands/activate/local.go) instead of AdminSetup over plain HTTP on
// 16992.
func (c ChangeEnabled) TLSEnforcedOnLocalPorts() bool {
	return c&ChangeEnabledTLSOnLocalPorts != 0
}

// String lists the flags, e.g. "0xc3 (allowed, operational, tls-local, new-interface)".
func (c ChangeEnabled) String() string {
	s := fmt.Sprintf("%#02x (", uint8(c))
	sep := ""
	for _, f := range []struct {
		bit  ChangeEnabled
		name string
	}{
		{ChangeEnabledAllowed, "allowed"}, {ChangeEnabledOperational, "operational"},
		{ChangeEnabledCIRATimerFix, "cira-timer-fix"}, {ChangeEnabledTLSOnLocalPorts, "tls-local"},
		{ChangeEnabledNewInterface, "new-interface"},
	} {
		if c&f.bit != 0 {
			s += sep + f.name
			sep = ", "
		}
	}
	return s + ")"
}

// DecodeChangeEnabled decodes the answer: its first byte. Neither source states the
// answer's length; an empty answer is malformed, further bytes are ignored.
func DecodeChangeEnabled(resp []byte) (ChangeEnabled, error) {
	if len(resp) == 0 {
		return 0, &FormatError{Kind: ErrTruncated, Detail: "IsChangeToAMTEnabled answer needs 1 byte, got 0"}
	}
	return ChangeEnabled(resp[0]), nil
}

// QueryChangeEnabled sends the "is change to AMT enabled" query over t, which must be
// connected to the watchdog MEI client ([ClientWatchdog]), not to the PTHI client.
func QueryChangeEnabled(ctx context.Context, t Transport) (ChangeEnabled, error) {
	if t == nil {
		return 0, ErrNoTransport
	}
	resp, err := t.Send(ctx, changeEnabledRequest())
	if err != nil {
		return 0, fmt.Errorf("pthi: IsChangeToAMTEnabled: %w", err)
	}
	return DecodeChangeEnabled(resp)
}
