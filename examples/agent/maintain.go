package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

type maintainOptions struct {
	device                      string
	sim                         bool
	enable, deactivate, recover bool
	lms                         string
}

// maintain enables AMT, deactivates or recovers the device, as rpc-go's
// "configure enable-amt", "deactivate --local" and its in-provisioning recovery
// do.
func maintain(ctx context.Context, w io.Writer, o maintainOptions) error {
	var agent *pthi.Client
	var admin *amt.Device
	if o.sim {
		d, err := simulatedFor(ctx, w, o)
		if err != nil {
			return err
		}
		defer d.Close()
		agent = d.Agent()
	} else {
		m, err := pthi.OpenMEI(ctx, pthi.MEIConfig{Device: o.device})
		if err != nil {
			return err
		}
		defer m.Close()
		agent = pthi.NewClient(m)
		if wd, err := pthi.OpenMEI(ctx, pthi.MEIConfig{Device: o.device, Client: pthi.ClientWatchdog}); err == nil {
			defer wd.Close()
			agent.Watchdog = wd
		}
		if pw := os.Getenv("AMT_ADMIN_PASSWORD"); pw != "" {
			if admin, err = provisioning.LocalSignIn(o.lms)(ctx, "admin", amt.NewSecret(pw)); err != nil {
				return err
			}
		}
	}
	events := func(e provisioning.Event) {
		fmt.Fprintf(w, "  %-12s %s", e.Step, e.Detail)
		if e.Err != nil {
			fmt.Fprintf(w, " [%s: %v]", e.Reason, e.Err)
		}
		fmt.Fprintln(w)
	}
	switch {
	case o.enable:
		changed, err := agent.EnsureAMTEnabled(ctx)
		switch {
		case errors.Is(err, pthi.ErrOperationalStateUnsupported):
			fmt.Fprintln(w, "This firmware cannot change AMT's operational state from the host (before ME 16.1).")
			return nil
		case err != nil:
			return err
		case changed:
			fmt.Fprintln(w, "AMT was disabled; it is enabled now (SetAmtOperationalState).")
		default:
			fmt.Fprintln(w, "AMT is already operational.")
		}
		return nil
	case o.deactivate:
		fmt.Fprintln(w, "Deactivating:")
		return provisioning.Deactivate(ctx, agent, provisioning.DeactivateOptions{Admin: admin, Observer: events})
	default:
		fmt.Fprintln(w, "Recovering:")
		return provisioning.RecoverInProvisioning(ctx, agent, provisioning.DeactivateOptions{Observer: events})
	}
}

// simulatedFor starts a simulated AMT 19 device in the state the operation is
// for: AMT disabled, activated in client control mode, or stuck in
// provisioning after a StartConfigurationHBased that was never finished.
func simulatedFor(ctx context.Context, w io.Writer, o maintainOptions) (*amtsim.Device, error) {
	d, err := amtsim.New(amtsim.Config{Version: amt.MustParseVersion("19.0.5"), AMTDisabled: o.enable, OnDie: true})
	if err != nil {
		return nil, err
	}
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	switch {
	case o.deactivate:
		user, pw := d.LocalSystemAccount()
		dev, err := provisioning.LocalSignIn(d.HTTPEndpoint())(ctx, user, pw)
		if err == nil {
			var admin amt.Secret
			if admin, err = amt.GeneratePassword(rand.Reader); err == nil {
				err = provisioning.ActivateCCM(ctx, dev, admin, provisioning.HostBasedOptions{})
			}
		}
		if err != nil {
			d.Close()
			return nil, err
		}
	case o.recover:
		chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com"})
		if err == nil {
			var h amt.CertHash
			if h, err = pthi.LeafHash(chain.Bundle.Leaf()); err == nil {
				_, err = d.Agent().StartSecureConfiguration(ctx, h)
			}
		}
		if err != nil {
			d.Close()
			return nil, err
		}
	}
	s := d.Snapshot()
	fmt.Fprintf(w, "simulated AMT %s: %s, control mode %s\n", d.Version(), s.ProvisioningState, s.ControlMode)
	return d, nil
}
