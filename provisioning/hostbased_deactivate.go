package provisioning

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// Deactivation and recovery errors.
var (
	// ErrNotActivated: the device is in pre-provisioning; there is nothing to
	// deactivate.
	ErrNotActivated = errors.New("provisioning: device is not activated")
	// ErrNeedsAdmin: an admin control mode device is deactivated over
	// WS-Management as the admin account (the firmware refuses the host
	// interface's Unprovision in ACM), and no admin client was given.
	ErrNeedsAdmin = errors.New("provisioning: admin control mode deactivation needs the admin account")
	// ErrNotInProvisioning: RecoverInProvisioning was asked for a device that
	// is not "in provisioning".
	ErrNotInProvisioning = errors.New("provisioning: device is not in provisioning")
)

// DeactivateOptions tune [Deactivate] and [RecoverInProvisioning]. The zero
// value deactivates client control mode and recovers a device stuck in
// provisioning.
type DeactivateOptions struct {
	// Admin is a WS-Management client signed in as the admin account (on
	// LMS's local port, or remotely): admin control mode is deactivated with
	// AMT_SetupAndConfigurationService.Unprovision through it. Nil: an ACM
	// device is refused with [ErrNeedsAdmin].
	Admin *amt.Device
	// Partial asks for PartialUnprovision (admin control mode only; rpc-go
	// "deactivate --local --partial"): the device keeps its network settings.
	Partial bool
	// Observer receives one event per step. Nil: none.
	Observer Observer
	// UUID labels the events. Optional.
	UUID amt.UUID
	// Now is the clock for events. Nil: time.Now.
	Now func() time.Time
}

func (o *DeactivateOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *DeactivateOptions) step(ctx context.Context, step Step, fn func(context.Context) (string, error)) error {
	start := o.now()
	detail, err := fn(ctx)
	// The device's lifecycle state is reported in Detail; the session state of
	// a deactivation step is New (nothing provisioned) unless it failed.
	e := Event{Time: o.now(), Device: o.UUID, Step: step, State: StateNew, Duration: o.now().Sub(start), Detail: detail}
	if err != nil {
		se := hostBasedError(ctx, step, err)
		if errors.Is(err, ErrNotActivated) || errors.Is(err, ErrNotInProvisioning) || errors.Is(err, ErrNeedsAdmin) {
			se.Reason, se.Rejected = ReasonWrongState, true
		}
		e.State, e.Reason, e.Err = StateFailed, se.Reason, se
		if se.Rejected {
			e.State = StateRejected
		}
		err = se
	}
	if o.Observer != nil {
		o.Observer(e)
	}
	return err
}

// Deactivate returns an activated device to pre-provisioning, the way rpc-go's
// "deactivate --local" does (internal/commands/deactivate.go):
//
//   - client control mode: Unprovision over the host interface (PTHI), no
//     password needed (rpc-go deactivateCCM; rpc-go issue 92);
//   - admin control mode: Unprovision (or PartialUnprovision with
//     opts.Partial) over WS-Management as the admin account (opts.Admin). If
//     that fails and the device is "in provisioning" — a halted activation,
//     whose local TLS port wants a client certificate no deactivation tool has
//     (rpc-go issue 1461) — it recovers over the host interface instead
//     ([RecoverInProvisioning]);
//   - no control mode but "in provisioning": the same recovery.
//
// The state is read back over the host interface afterwards; only
// pre-provisioning (or, after a partial unprovision, anything but admin
// control mode) counts.
func Deactivate(ctx context.Context, agent HostAgent, opts DeactivateOptions) error {
	var mode amt.ControlMode
	var st amt.ProvisioningState
	recoverNow := false
	err := opts.step(ctx, StepUnprovision, func(ctx context.Context) (string, error) {
		var err error
		if st, err = agent.ProvisioningState(ctx); err != nil {
			return "", fmt.Errorf("reading the provisioning state over PTHI: %w", err)
		}
		if mode, err = agent.ControlMode(ctx); err != nil {
			return "", fmt.Errorf("reading the control mode over PTHI: %w", err)
		}
		switch {
		case mode == amt.ControlModeNone && st == amt.InProvisioning:
			recoverNow = true
			return "no control mode, in provisioning: recovering over PTHI", nil
		case mode == amt.ControlModeNone:
			return "", fmt.Errorf("%w (%s)", ErrNotActivated, st)
		case mode == amt.ControlModeCCM && opts.Partial:
			return "", fmt.Errorf("%w: a partial unprovision is for admin control mode (rpc-go), the device is in %s", ErrNotActivated, mode)
		case mode == amt.ControlModeCCM:
			if err := agent.Unprovision(ctx); err != nil {
				var fw amt.Status
				if !errors.As(err, &fw) { // no firmware status: the reply may be lost
					if now, rerr := agent.ProvisioningState(ctx); rerr == nil && now == amt.PreProvisioning {
						return fmt.Sprintf("client control mode: Unprovision over PTHI, reply lost (%v); pre-provisioning read over PTHI", err), nil
					}
				}
				return "", fmt.Errorf("Unprovision over PTHI: %w", err)
			}
			return "client control mode: Unprovision over PTHI", nil
		case opts.Admin == nil:
			return "", fmt.Errorf("%w: set DeactivateOptions.Admin (%s, %s)", ErrNeedsAdmin, mode, st)
		}
		call, what := opts.Admin.Unprovision, "Unprovision"
		if opts.Partial {
			call, what = opts.Admin.PartialUnprovision, "PartialUnprovision"
		}
		werr := call(ctx)
		if werr == nil {
			return "admin control mode: " + what + " over WS-Management", nil
		}
		// rpc-go provisioningHalted: the state over PTHI decides.
		now, rerr := agent.ProvisioningState(ctx)
		switch {
		case rerr == nil && now == amt.InProvisioning:
			recoverNow = true
			return fmt.Sprintf("%s over WS-Management failed while the device is in provisioning (%v): recovering over PTHI", what, werr), nil
		case rerr == nil && now == amt.PreProvisioning && lostReply(werr):
			// The firmware acted and restarted its network under the reply:
			// the verify step reads the rest.
			return fmt.Sprintf("%s over WS-Management: reply lost (%v); pre-provisioning read over PTHI", what, werr), nil
		}
		return "", fmt.Errorf("%s over WS-Management: %w", what, werr)
	})
	switch {
	case err != nil:
		return err
	case recoverNow:
		return RecoverInProvisioning(ctx, agent, opts)
	}
	return opts.step(ctx, StepVerify, func(ctx context.Context) (string, error) {
		now, err := agent.ProvisioningState(ctx)
		if err != nil {
			return "", fmt.Errorf("reading the provisioning state back over PTHI: %w", err)
		}
		m, err := agent.ControlMode(ctx)
		if err != nil {
			return "", fmt.Errorf("reading the control mode back over PTHI: %w", err)
		}
		if opts.Partial {
			if m == amt.ControlModeACM && now == amt.PostProvisioning {
				return "", fmt.Errorf("after PartialUnprovision the device still reports %s, %s", now, m)
			}
		} else if now != amt.PreProvisioning || m != amt.ControlModeNone {
			return "", fmt.Errorf("after deactivation the device reports %s, %s; expected pre-provisioning", now, m)
		}
		return fmt.Sprintf("%s, %s (read over PTHI)", now, m), nil
	})
}

// RecoverInProvisioning returns a device stuck "in provisioning" — an
// activation that halted half-way, or a configuration started and never
// finished — to pre-provisioning over the host interface, as rpc-go does
// (internal/commands/deactivate.go, recoverInProvisioningOverHECI): Unprovision
// first; if it fails, or answers with the device still provisioned,
// StopConfiguration. The state is then read back; a device that is not in
// provisioning is refused ([ErrNotInProvisioning]).
//
// Before activating again after a StopConfiguration, wait: MeshCentral waits
// 20 seconds after a successful stop before it starts a host-based
// configuration again (agents/modules_meshcore/amt-mei.js,
// startConfigurationHBased). The simulator does not enforce that wait (no
// public source says what firmware answers during it), and ActivateTLS's
// own retries of StartConfigurationHBased cover about four seconds.
func RecoverInProvisioning(ctx context.Context, agent HostAgent, opts DeactivateOptions) error {
	err := opts.step(ctx, StepRecover, func(ctx context.Context) (string, error) {
		st, err := agent.ProvisioningState(ctx)
		if err != nil {
			return "", fmt.Errorf("reading the provisioning state over PTHI: %w", err)
		}
		if st != amt.InProvisioning {
			return "", fmt.Errorf("%w (%s)", ErrNotInProvisioning, st)
		}
		uerr := agent.Unprovision(ctx)
		if uerr == nil {
			return "in provisioning: Unprovision over PTHI", nil
		}
		if now, rerr := agent.ProvisioningState(ctx); rerr == nil && now == amt.PreProvisioning {
			return fmt.Sprintf("in provisioning: Unprovision over PTHI (%v); pre-provisioning read over PTHI", uerr), nil
		}
		if serr := agent.StopConfiguration(ctx); serr != nil {
			return "", fmt.Errorf("Unprovision over PTHI: %v; StopConfiguration: %w", uerr, serr)
		}
		return fmt.Sprintf("in provisioning: Unprovision over PTHI did not finish (%v); StopConfiguration", uerr), nil
	})
	if err != nil {
		return err
	}
	return opts.step(ctx, StepVerify, func(ctx context.Context) (string, error) {
		st, err := agent.ProvisioningState(ctx)
		if err != nil {
			return "", fmt.Errorf("reading the provisioning state back over PTHI: %w", err)
		}
		m, err := agent.ControlMode(ctx)
		if err != nil {
			return "", fmt.Errorf("reading the control mode back over PTHI: %w", err)
		}
		if st != amt.PreProvisioning {
			return "", fmt.Errorf("after the recovery the device reports %s, %s; expected pre-provisioning", st, m)
		}
		return fmt.Sprintf("%s, %s (read over PTHI)", st, m), nil
	})
}
