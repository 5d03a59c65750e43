package amt

import (
	"context"
	"fmt"

	"github.com/amtkit/amtkit/wsman"
)

// PSK rotation: AMT_SetupAndConfigurationService.SetTLSPSK(PID, PPS) gives a
// PSK (one-touch) device the pair its next PSK provisioning uses. The method
// is in the Intel AMT SDK's class reference as MeshCommander/MeshCentral's
// generated binding list carries it (Ylianst/MeshCentral amt/amt-wsman.js,
// commit b1958523, AMT_SetupAndConfigurationService_SetTLSPSK(PID, PPS)); the
// class as intel/lms ships it for current firmware (commit a62698b7,
// CIM_Framework AMT_SetupAndConfigurationService.h) no longer has it, and
// neither go-wsman-messages, rpc-go nor RPS call it: PSK provisioning ended
// with AMT 11. docs/remote-access.md says what is known and what is not.

// PIDLength and PPSLength are the lengths SetTLSPSK sends: the PID and PPS
// without their display dashes (8 and 32 characters of A–Z and 0–9).
const (
	PIDLength = 8
	PPSLength = 32
)

// SetTLSPSK sets the TLS pre-shared key pair (PID, PPS) a PSK device keeps
// for its next PSK provisioning: pid and pps in their compact form (no
// dashes; pskx.PID.Compact and pskx.PPS.Reveal give them). The PPS element
// is masked in logged envelopes. Only firmware with PSK provisioning (before
// AMT 11) has the method; later firmware answers with a fault.
//
// The firmware's return values for this method are not publicly documented:
// a non-zero one is returned as a [*ReturnValueError], as for the other
// methods.
func (d *Device) SetTLSPSK(ctx context.Context, pid string, pps Secret) error {
	const method = "SetTLSPSK"
	if err := checkPSKPart("PID", pid, PIDLength); err != nil {
		return opError(URISetupAndConfigurationService, method, err)
	}
	if err := checkPSKPart("PPS", pps.Reveal(), PPSLength); err != nil {
		return opError(URISetupAndConfigurationService, method, err)
	}
	in := wsman.NewInput(URISetupAndConfigurationService, method,
		wsman.Prop("PID", pid), wsman.Prop("PPS", pps.Reveal()))
	opts := append(append([]wsman.CallOption(nil), d.opts...), wsman.Redact(wsman.RedactElements("PPS")))
	resp, err := d.c.Invoke(ctx, URISetupAndConfigurationService, method, nil, in, opts...)
	if err != nil {
		return opError(URISetupAndConfigurationService, method, err)
	}
	if _, err := checkOutput(resp.Envelope, URISetupAndConfigurationService, method); err != nil {
		return opError(URISetupAndConfigurationService, method, err)
	}
	return nil
}

// checkPSKPart checks a compact PID or PPS: n characters of A–Z and 0–9. The
// message never quotes a PPS.
func checkPSKPart(what, s string, n int) error {
	if len(s) != n {
		return fmt.Errorf("%w: %s of %d characters (expected %d, without dashes)", ErrInvalidArgument, what, len(s), n)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return fmt.Errorf("%w: %s character %d is not A–Z or 0–9", ErrInvalidArgument, what, i+1)
		}
	}
	return nil
}
