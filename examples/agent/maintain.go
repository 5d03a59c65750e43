package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

type maintainOptions struct {
	device                      string
	sim                         bool
	enable, deactivate, recover bool
	lms                         string
	// lmsPin is the SHA-256 of the certificate AMT presents on an https lms
	// endpoint, in hex (colons allowed, as openssl prints it).
	lmsPin string
	// tls: with sim and deactivate, a platform that enforces TLS on its
	// local ports, activated in admin control mode by ActivateTLS.
	tls bool
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
		if o.deactivate && o.tls {
			if admin, err = simulatedAdmin(ctx, w, d); err != nil {
				return err
			}
		}
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
			if admin, err = signInLMS(ctx, o.lms, o.lmsPin, amt.NewSecret(pw)); err != nil {
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

// signInLMS signs in as the admin account on LMS's endpoint. A platform that
// enforces TLS on its local ports (AMT 19 and later, TLS host-based
// activation) serves only 16993, where AMT presents a certificate no system
// trusts — its own self-signed one, or the one a TLS profile installed — whose
// names do not include localhost (rpc-go issue 1163, pull request 1071;
// rpc-go's answer is --skip-amt-cert-check, issue 875). Skipping the check on
// a port any local process can bind while LMS is down would hand that process
// the admin session (digest protects the password, not the request), so an
// https endpoint needs the certificate's SHA-256, read once, e.g.
//
//	openssl s_client -connect 127.0.0.1:16993 </dev/null | openssl x509 -noout -fingerprint -sha256
//
// or the pin a provisioning server recorded (DeviceRecord.DeviceCertPin).
func signInLMS(ctx context.Context, endpoint, pinHex string, password amt.Secret) (*amt.Device, error) {
	var opts []wsman.Option
	switch https := strings.HasPrefix(endpoint, "https://"); {
	case https && pinHex == "":
		return nil, fmt.Errorf("-lms %s is https: give -lms-pin, the SHA-256 of the certificate AMT presents there "+
			"(openssl s_client -connect 127.0.0.1:16993 </dev/null | openssl x509 -noout -fingerprint -sha256)", endpoint)
	case https:
		pin, err := parsePin(pinHex)
		if err != nil {
			return nil, err
		}
		opts = append(opts, wsman.WithTLS(wsman.PinSHA256(pin)))
	case pinHex != "":
		return nil, fmt.Errorf("-lms-pin is for an https -lms endpoint; %s is not one", endpoint)
	}
	return provisioning.LocalSignIn(endpoint, opts...)(ctx, "admin", password)
}

// parsePin reads a SHA-256 in hex, with or without colons.
func parsePin(s string) ([32]byte, error) {
	var pin [32]byte
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(s), "sha256 Fingerprint="), ":", ""))
	if err != nil || len(b) != len(pin) {
		return pin, fmt.Errorf("-lms-pin: want a SHA-256 in hex (64 digits, colons allowed), got %d characters", len(s))
	}
	copy(pin[:], b)
	return pin, nil
}

// simulatedAdmin activates the simulated TLS-enforced device d in admin
// control mode as a local agent would (ActivateTLS through its local TLS
// port) and signs in as its admin on that port, pinned to the certificate the
// device presents there once provisioned — what an operator reads with
// openssl (see signInLMS).
func simulatedAdmin(ctx context.Context, w io.Writer, d *amtsim.Device) (*amt.Device, error) {
	chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com"})
	if err != nil {
		return nil, err
	}
	root := chain.Bundle.RootHash(amt.HashSHA256)
	if err := d.AddRootHash(amtsim.RootHash{Name: "Contoso provisioning root", Hash: root, Active: true}); err != nil {
		return nil, err
	}
	ca, err := d.LocalOnDieCA()
	if err != nil {
		return nil, err
	}
	admin, err := amt.GeneratePassword(rand.Reader)
	if err != nil {
		return nil, err
	}
	mebx, err := amt.GeneratePassword(rand.Reader)
	if err != nil {
		return nil, err
	}
	err = provisioning.ActivateTLS(ctx, d.Agent(), chain.Bundle, admin, provisioning.TLSActivationOptions{
		HostBasedOptions: provisioning.HostBasedOptions{UUID: d.UUID(), TrustedHashes: []amt.CertHash{root}, MEBxPassword: mebx},
		OnDieRoots:       ca.Pool(),
		Addr:             d.LocalTLSAddr(),
		RetryDelay:       10 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	cert, err := d.PresentedCertificate()
	if err != nil {
		return nil, err
	}
	pin := sha256.Sum256(cert.Raw)
	s := d.Snapshot()
	fmt.Fprintf(w, "activated by ActivateTLS: %s, control mode %s; admin over %s pinned to %x\n", s.ProvisioningState, s.ControlMode, d.LocalTLSEndpoint(), pin[:8])
	return signInLMS(ctx, d.LocalTLSEndpoint(), hex.EncodeToString(pin[:]), admin)
}

// simulatedFor starts a simulated AMT 19 device in the state the operation is
// for: AMT disabled, activated in client control mode, or stuck in
// provisioning after a StartConfigurationHBased that was never finished.
func simulatedFor(ctx context.Context, w io.Writer, o maintainOptions) (*amtsim.Device, error) {
	d, err := amtsim.New(amtsim.Config{Version: amt.MustParseVersion("19.0.5"), AMTDisabled: o.enable, OnDie: true,
		LocalTLSEnforced: o.deactivate && o.tls, TrustedDNSSuffix: "contoso.com"})
	if err != nil {
		return nil, err
	}
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	switch {
	case o.deactivate && o.tls:
		// maintain activates it with ActivateTLS (simulatedAdmin).
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
