package provisioning

import (
	"context"
	"errors"
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
)

// StepRotatePSK is the [Event] step of [Provisioner.RotatePSK].
const StepRotatePSK Step = "rotate-psk"

// Errors of [Provisioner.RotatePSK].
var (
	// ErrNoPSKStore: Config.PSK is nil, so a new pair could not be kept.
	ErrNoPSKStore = errors.New("provisioning: no PSK store (Config.PSK) to keep the new pair in")
	// ErrNotPSKDevice: the device was not provisioned with a PSK (its record
	// has no PID), so it has no pair to replace.
	ErrNotPSKDevice = errors.New("provisioning: the device was not provisioned with a PSK")
)

// RotatePSK gives a device provisioned with a PSK (AMT 2.0 to 10.x) a new
// PID/PPS pair for its next PSK provisioning — after a PartialUnprovision,
// which keeps the TLS-PSK keys — so the pair on its setup.bin or in the
// factory's list is no longer the one that provisions it. A provisioned
// device's PSK hello re-provisions it only with such a pair (or when
// Config.Reprovision allows it): a setup.bin's pair, its own included, is on
// every copy of the file and proves nothing of the device.
//
// The pair is drawn from Config.Rand (pskx.GeneratePair), added to Config.PSK
// and reserved for this device (MarkUsed: no other device's hello may use
// it) before it is sent, so a lost reply never leaves the device with a pair
// the store does not know; then AMT_SetupAndConfigurationService.SetTLSPSK
// sends it over the admin connection, under the device's lease. The record
// names the new pair pending (DeviceRecord.PendingRotatedPID) until the
// firmware confirms it, then as the device's RotatedPID: until then a PSK hello
// re-provisions the device with either, so a rotation that failed (a lost
// request or reply, a refusal, a crash) loses neither the new pair nor the one
// the device held. The old pair stays in the store, reserved for this device
// (the firmware's answer is the only evidence it was replaced). It returns the
// new PID (also with the error of a confirmation it could not record: the pair
// then stays pending); the event ([StepRotatePSK]) names both PIDs, never a PPS.
//
// SetTLSPSK is known from the Intel AMT SDK's method list, not from a
// provisioning server that uses it: docs/remote-access.md ("PSK rotation")
// says what is and is not verified.
func (p *Provisioner) RotatePSK(ctx context.Context, uuid amt.UUID) (pskx.PID, error) {
	if p.cfg.PSK == nil {
		return pskx.PID{}, ErrNoPSKStore
	}
	r, release, err := p.leaseDevice(ctx, uuid)
	if err != nil {
		return pskx.PID{}, err
	}
	defer release()
	if !r.Provisioned() {
		return pskx.PID{}, fmt.Errorf("%w: %s is %s", ErrNotProvisioned, uuid, r.State)
	}
	if r.PID == "" {
		return pskx.PID{}, fmt.Errorf("%w: %s", ErrNotPSKDevice, uuid)
	}
	pair, err := pskx.GeneratePair(p.rand)
	if err != nil {
		return pskx.PID{}, err
	}
	// Recorded before it is sent.
	if err := p.cfg.PSK.Put(ctx, pair); err != nil {
		return pskx.PID{}, &SessionError{Step: StepRotatePSK, Reason: ReasonStoreFailed, Err: err}
	}
	if err := p.cfg.PSK.MarkUsed(ctx, pair.PID, uuid); err != nil {
		return pskx.PID{}, &SessionError{Step: StepRotatePSK, Reason: ReasonStoreFailed, Err: err}
	}
	// The device's record names the pair too, pending until the firmware
	// confirms it: with the last confirmed one (RotatedPID), it is the only
	// pair a PSK hello may re-provision the device with (the pairs it had
	// before stay reserved for it in the pair store, and anyone with a copy
	// of an old setup.bin holds one). Until the firmware answers, the
	// device holds either.
	r.PendingRotatedPID = pair.PID.Compact()
	if err := p.save(ctx, r); err != nil {
		return pskx.PID{}, &SessionError{Step: StepRotatePSK, Reason: ReasonStoreFailed, Err: err}
	}
	dev, err := p.openDevice(ctx, r)
	if err != nil {
		return pskx.PID{}, err
	}
	defer dev.Close()
	start := p.now()
	err = dev.SetTLSPSK(ctx, pair.PID.Compact(), pair.PPS.Secret())
	e := Event{Time: p.now(), Device: uuid, Step: StepRotatePSK, Duration: p.now().Sub(start), State: r.State}
	if err != nil {
		e.Err, e.Reason = err, ReasonDeviceError
		p.emit(e)
		return pskx.PID{}, &SessionError{Step: StepRotatePSK, Reason: ReasonDeviceError, Err: err}
	}
	replaced := r.PID // the pair the device was provisioned with, or the last rotation's
	if r.RotatedPID != "" {
		replaced = r.RotatedPID
	}
	e.Detail = fmt.Sprintf("PSK pair for the next PSK provisioning: PID %s replaced by %s", replaced, pair.PID.Compact())
	p.emit(e)
	// Confirmed. Should this save fail, the pair stays pending, which
	// re-provisions the device as well.
	r.RotatedPID, r.PendingRotatedPID = pair.PID.Compact(), ""
	if err := p.save(ctx, r); err != nil {
		return pair.PID, &SessionError{Step: StepRotatePSK, Reason: ReasonStoreFailed, Err: err}
	}
	return pair.PID, nil
}
