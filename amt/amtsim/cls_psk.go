package amtsim

import (
	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
	"github.com/beevik/etree"
)

// PSK rotation: AMT_SetupAndConfigurationService.SetTLSPSK(PID, PPS) (the
// Intel AMT SDK's method as Ylianst/MeshCentral amt/amt-wsman.js, commit
// b1958523, lists it; gone from the class intel/lms ships for current
// firmware). What the simulator enforces, and what it chose where no public
// source says (docs/remote-access.md, "PSK rotation"):
//
//   - the method exists only on firmware with PSK provisioning (2.0 to 10.x,
//     amt.Firmware.PSK); later firmware answers ActionNotSupported, as for any
//     method it lacks;
//   - the admin (or the remote-configuration session) may call it, nobody
//     else (the ordinary write rule);
//   - chosen: only a PSK device (Config.PSK) takes a pair — another answers
//     NotPermitted — and only in or after provisioning;
//   - chosen: the PID and PPS must be compact (8 and 32 characters) and pass
//     their check characters (pskx.ParsePID, ParsePPS), else
//     InvalidParameter;
//   - the new pair serves the device's next PSK provisioning: its hellos
//     carry the new PID and its TLS-PSK listener takes the new PPS. A
//     PartialUnprovision keeps it (the SDK: TLS-PSK keys survive for the next
//     provisioning); chosen: a full Unprovision falls back to the pair the
//     device was made with (Config.PSK, standing for the one set at the
//     factory or by setup.bin).

// setTLSPSK serves SetTLSPSK.
func (d *Device) setTLSPSK(c *call, in *input) *etree.Element {
	if d.cfg.PSK == nil || d.st.prov == amt.PreProvisioning {
		return status(c, amt.StatusNotPermitted)
	}
	pidText, ok1 := in.str("PID")
	ppsText, ok2 := in.str("PPS")
	if !ok1 || !ok2 || len(pidText) != pskx.PIDLen || len(ppsText) != pskx.PPSLen {
		return status(c, amt.StatusInvalidParameter)
	}
	pid, err := pskx.ParsePID(pidText)
	if err != nil || pid.Compact() != pidText {
		return status(c, amt.StatusInvalidParameter)
	}
	pps, err := pskx.ParsePPS(ppsText)
	if err != nil || pps.Reveal() != ppsText {
		return status(c, amt.StatusInvalidParameter)
	}
	d.pskRotated = &pskx.Pair{PID: pid, PPS: pps}
	return rv(c, 0)
}

// pskPairLocked is the pair the device's PSK provisioning uses: the last one
// SetTLSPSK gave it, else Config.PSK. d.mu must be held.
func (d *Device) pskPairLocked() *pskx.Pair {
	if d.pskRotated != nil {
		return d.pskRotated
	}
	return d.cfg.PSK
}

// PSKPair returns the PID/PPS pair the device's next PSK provisioning uses
// (nil for a device without PSK): Config.PSK until SetTLSPSK changes it.
func (d *Device) PSKPair() *pskx.Pair {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.pskPairLocked(); p != nil {
		cp := *p
		return &cp
	}
	return nil
}
