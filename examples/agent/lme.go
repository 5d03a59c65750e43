package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/amt/apf/apftest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

// lmeDemo is the agent on a computer without Intel's LMS: it looks for LMS on
// its ports, finds none, reaches AMT through the LME client of the MEI with
// APF (here fake firmware in front of a simulated device, amt/apf/apftest),
// reads the local system account over PTHI and activates AMT in client
// control mode over WS-Management through an APF channel to port 16992.
//
// On a real device the same code runs with apf.LocalConfig{} (LMS probed on
// 127.0.0.1:16992 and 16993, the LME opened on /dev/mei0 or the Windows HECI
// device) and the agent's pthi.Client over pthi.OpenMEI.
func lmeDemo(ctx context.Context, w io.Writer) error {
	fmt.Fprintln(w, "\nHost-based activation without LMS (simulated device behind fake LME firmware):")
	sim, err := amtsim.New(amtsim.Config{})
	if err != nil {
		return err
	}
	if err := sim.Start(ctx); err != nil {
		return err
	}
	defer sim.Close()
	fw, host := apftest.Start(apftest.ForSim(sim))
	defer fw.Close()

	// Nothing listens on the probed port, as on a computer without LMS. (The
	// demo probes a port of its own, not 16992, so that an installed LMS does
	// not change what it shows.)
	probe, err := closedPort()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	local, err := apf.ChooseLocal(ctx, apf.LocalConfig{
		LMSPorts: []uint32{probe},
		OpenLME: func(ctx context.Context) (*apf.Session, error) {
			return apf.NewSession(ctx, host, apf.Config{MaxMessageLength: host.MaxMessageLength()})
		},
		Logger: logger,
	})
	if err != nil {
		return err
	}
	defer local.Close()
	s, err := local.Session(ctx)
	if err != nil {
		return err
	}
	peer := s.Peer()
	fmt.Fprintf(w, "  APF %d.%d with AMT %v; ports forwarded so far %v\n", peer.Major, peer.Minor, peer.UUID, s.Ports())

	// The local system account, over PTHI (the simulated device's MEI).
	acct, err := sim.Agent().LocalSystemAccount(ctx)
	if err != nil {
		return err
	}
	c, err := wsman.New(local.Endpoint(false), wsman.WithDialer(local.DialContext),
		wsman.WithDigestAuth(acct.Username, acct.Password.Reveal()))
	if err != nil {
		return err
	}
	dev := amt.NewDevice(c)
	hb, err := dev.HostBasedSetup(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  before: control mode %s, allowed %v (as %s through %s)\n", hb.CurrentControlMode, hb.AllowedControlModes, acct.Username, local.Endpoint(false))
	admin := amt.NewSecret("Demo-Adm1n-pw!")
	err = provisioning.ActivateCCM(ctx, dev, admin, provisioning.HostBasedOptions{
		UUID:     sim.UUID(),
		Observer: func(e provisioning.Event) { fmt.Fprintf(w, "  %s: %s %s\n", e.Step, e.State, e.Detail) },
	})
	if err != nil {
		return err
	}
	snap := sim.Snapshot()
	fmt.Fprintf(w, "  after: %s, control mode %s; admin password set: %v\n", snap.ProvisioningState, snap.ControlMode, sim.AdminPasswordIs(admin))
	st := fw.Stats()
	fmt.Fprintf(w, "  APF: %d channels, %d bytes to AMT in %d messages (largest %d), %d bytes from AMT, %d window adjusts; protocol violations: %v\n",
		st.ChannelsOpened, st.BytesFromHost, st.DataFromHost, st.LargestFromHost, st.BytesToHost, st.AdjustsFromHost, fw.Violation())
	return nil
}

// closedPort returns a loopback port nothing listens on.
func closedPort() (uint32, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	_, ps, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	p, err := strconv.ParseUint(ps, 10, 16)
	return uint32(p), err
}
