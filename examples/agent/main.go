// Command agent is what an ISV agent on an Intel AMT computer does before remote
// configuration: it talks to the management engine over MEI (PTHI) and prints the
// device's status, or with -prepare gives the firmware a one-time password, opens
// its network interface for remote configuration and prints the request the console
// hands to the configuration server.
//
// It also does what rpc-go does to a device outside activation: -enable-amt switches
// on AMT where the platform shipped it disabled (SetAmtOperationalState), -deactivate
// returns an activated device to pre-provisioning (client control mode over MEI; admin
// control mode over LMS with $AMT_ADMIN_PASSWORD; over 16993, pinned to AMT's certificate, where
// the platform enforces TLS on its local ports), -recover brings back a device stuck
// "in provisioning" (Unprovision, then StopConfiguration).
//
//	go run ./examples/agent                 # status, or why there is no MEI device
//	go run ./examples/agent -demo           # the same against a recorded device, then a
//	                                        # host-based activation through LME/APF (no LMS)
//	AMT_OTP='Ot9-xQ2#pL' go run ./examples/agent -prepare -json
//	go run ./examples/agent -sim -enable-amt # the operations against a simulated device
//	go run ./examples/agent -sim -deactivate
//	go run ./examples/agent -sim -deactivate -tls # admin control mode, TLS enforced on local ports
//	AMT_ADMIN_PASSWORD=… go run ./examples/agent -deactivate -lms https://127.0.0.1:16993/wsman -lms-pin <SHA-256>
//	go run ./examples/agent -sim -recover
//
// It needs Linux, root (or access to /dev/mei0) and the mei_me driver. Without an
// MEI device the status view explains that and exits 0; -prepare fails (nothing was
// prepared).
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/amt/pthi/pthitest"
)

func main() {
	var (
		device    = flag.String("device", pthi.DefaultMEIDevice, "MEI character device")
		prepare   = flag.Bool("prepare", false, "prepare agent-initiated remote configuration (sets the OTP, starts configuration)")
		otpFlag   = flag.String("otp", "", "one-time password (8-31 characters); prefer the AMT_OTP environment variable")
		dnsSuffix = flag.String("dns-suffix", "", "with -prepare: set this PKI DNS suffix first")
		ipv6      = flag.Bool("ipv6", false, "with -prepare: enable IPv6 for the configuration")
		asJSON    = flag.Bool("json", false, "print JSON")
		demo      = flag.Bool("demo", false, "use a recorded device instead of the MEI device")
		sim       = flag.Bool("sim", false, "with -enable-amt, -deactivate or -recover: use a simulated device set up for it")
		enable    = flag.Bool("enable-amt", false, "switch on AMT where the platform shipped it disabled")
		deact     = flag.Bool("deactivate", false, "return the device to pre-provisioning")
		recov     = flag.Bool("recover", false, "recover a device stuck in provisioning")
		lms       = flag.String("lms", "http://127.0.0.1:16992/wsman", "with -deactivate of an admin control mode device: LMS's endpoint (password from $AMT_ADMIN_PASSWORD)")
		lmsPin    = flag.String("lms-pin", "", "with an https -lms: the SHA-256 of the certificate AMT presents there, in hex (colons allowed)")
		tlsFlag   = flag.Bool("tls", false, "with -sim -deactivate: a platform that enforces TLS on its local ports, activated in admin control mode over 16993")
		timeout   = flag.Duration("timeout", 2*time.Minute, "overall time limit")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		// Flag parsing stops at the first argument: it and every flag after
		// it would be ignored ("agent deactivate -sim" would talk to the MEI
		// device and only print its status).
		fmt.Fprintf(os.Stderr, "agent: unexpected argument %q: agent takes flags only (e.g. -deactivate, not deactivate)\n", flag.Arg(0))
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	o := options{device: *device, prepare: *prepare, otp: otp(*otpFlag), dnsSuffix: *dnsSuffix, ipv6: *ipv6, json: *asJSON, demo: *demo}
	err := flagConflict(*sim, *deact, *tlsFlag, *lmsPin)
	if err == nil && (*enable || *deact || *recov) {
		err = maintain(ctx, os.Stdout, maintainOptions{device: *device, sim: *sim, enable: *enable, deactivate: *deact, recover: *recov, lms: *lms, lmsPin: *lmsPin, tls: *tlsFlag})
	} else if err == nil {
		err = run(ctx, os.Stdout, o)
		if err == nil && o.demo && !o.prepare {
			err = lmeDemo(ctx, os.Stdout) // lme.go: the agent without LMS, through LME/APF
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

func otp(flagValue string) amt.Secret {
	if flagValue != "" {
		return amt.NewSecret(flagValue)
	}
	return amt.NewSecret(os.Getenv("AMT_OTP"))
}

type options struct {
	device    string
	prepare   bool
	otp       amt.Secret
	dnsSuffix string
	ipv6      bool
	json      bool
	demo      bool
	// transport, when set, is used instead of the MEI device (tests).
	transport pthi.Transport
}

func run(ctx context.Context, w io.Writer, o options) error {
	var t pthi.Transport
	if o.transport != nil {
		t = o.transport
	} else if o.demo {
		t = recordedDevice(o.prepare)
		if o.prepare && o.otp.IsZero() {
			o.otp = amt.NewSecret(demoOTP) // the OTP the recording carries
		}
	} else {
		m, err := pthi.OpenMEI(ctx, pthi.MEIConfig{Device: o.device})
		switch {
		case o.prepare && (errors.Is(err, pthi.ErrNoDevice) || errors.Is(err, pthi.ErrMEIUnsupported) || errors.Is(err, pthi.ErrNotMEIDevice) || errors.Is(err, pthi.ErrClientNotFound)):
			// Nothing was prepared: a script handing the request on must
			// not see success.
			return fmt.Errorf("-prepare: nothing was prepared: %w (run with -demo to see it against a recorded device)", err)
		case errors.Is(err, pthi.ErrNoDevice), errors.Is(err, pthi.ErrMEIUnsupported), errors.Is(err, pthi.ErrNotMEIDevice):
			fmt.Fprintf(w, "No MEI device (%v).\n", err)
			fmt.Fprintln(w, "This is not an Intel AMT computer, the mei_me driver is not loaded, or this is not Linux.")
			fmt.Fprintln(w, "Run with -demo to see the output against a recorded device.")
			return nil
		case errors.Is(err, pthi.ErrClientNotFound):
			fmt.Fprintf(w, "The management engine has no AMT (PTHI) client: AMT is absent or disabled (%v).\n", err)
			return nil
		case err != nil:
			return err
		}
		defer m.Close()
		t = m
	}
	c := pthi.NewClient(t)
	if o.prepare {
		req, err := c.PrepareWith(ctx, o.otp, pthi.PrepareOptions{DNSSuffix: o.dnsSuffix, IPv6: o.ipv6})
		if err != nil {
			return err
		}
		if o.json {
			return writeJSON(w, req)
		}
		fmt.Fprintf(w, "Prepared for remote configuration (started: %v)\n", req.Started)
		fmt.Fprintf(w, "  UUID        %v\n  AMT         %v\n  State       %v\n  TLS mode    %v\n", req.UUID, req.Version, req.State, req.TLSMode)
		fmt.Fprintf(w, "  DNS suffix  %q\n  OTP set     %v\n", req.DNSSuffix, !req.OTP.IsZero())
		for _, h := range req.TrustedHashes {
			fmt.Fprintf(w, "  trusts      %v\n", h)
		}
		fmt.Fprintln(w, "Hand this to the console; the configuration server will read and compare the OTP.")
		return nil
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	tlsLocal := localTLS(ctx, o)
	if o.json {
		return writeJSON(w, struct {
			*pthi.DeviceStatus
			TLSEnforcedOnLocalPorts *bool `json:"tlsEnforcedOnLocalPorts,omitempty"`
		}{st, tlsLocal})
	}
	// Text the firmware reports is printed quoted (%q): a device's BIOS
	// version or root-hash name must not carry terminal control sequences.
	fmt.Fprintf(w, "UUID          %v\nAMT           %v\nBIOS          %q\n", st.UUID, st.Version, st.Versions.BIOS)
	fmt.Fprintf(w, "Provisioning  %v\nControl mode  %v\nDNS suffix    %q\n", st.State, st.ControlMode, st.DNSSuffix)
	if tlsLocal != nil {
		fmt.Fprintf(w, "TLS on local ports  %v\n", *tlsLocal)
	}
	for _, l := range []struct {
		name string
		lan  *pthi.LANSettings
	}{{"wired", st.Wired}, {"wireless", st.Wireless}} {
		if l.lan != nil {
			fmt.Fprintf(w, "LAN %-9s enabled=%v link=%v dhcp=%v ip=%v mac=%v\n", l.name, l.lan.Enabled, l.lan.LinkUp, l.lan.DHCPEnabled, l.lan.IPv4, l.lan.MAC)
		}
	}
	fmt.Fprintf(w, "Root hashes   %d\n", len(st.Hashes))
	for _, h := range st.Hashes {
		flags := ""
		if h.Default {
			flags += " default"
		}
		if h.Active {
			flags += " active"
		}
		fmt.Fprintf(w, "  %-40q %v%s\n", h.Name, h.Hash, flags)
	}
	for _, e := range st.Unavailable {
		fmt.Fprintf(w, "unavailable: %v\n", e)
	}
	return nil
}

// localTLS asks the watchdog client whether TLS is enforced on the local ports; nil
// when it cannot be asked.
func localTLS(ctx context.Context, o options) *bool {
	if o.demo {
		return nil
	}
	m, err := pthi.OpenMEI(ctx, pthi.MEIConfig{Device: o.device, Client: pthi.ClientWatchdog})
	if err != nil {
		return nil
	}
	defer m.Close()
	f, err := pthi.QueryChangeEnabled(ctx, m)
	if err != nil {
		return nil
	}
	v := f.TLSEnforcedOnLocalPorts()
	return &v
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

const demoOTP = "Ot9-xQ2#pL"

// recordedDevice is an AMT 16 device as the fake replays it: what Status or
// Prepare (with OTP Ot9-xQ2#pL) sends and what the firmware answers.
func recordedDevice(prepare bool) pthi.Transport {
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	versions, _ := pthi.CodeVersions{BIOS: "DEMO.BIOS.0042", Entries: []pthi.VersionEntry{
		{Description: "Flash", Version: "16.1.25"}, {Description: "AMT", Version: "16.1.25"}, {Description: "Build Number", Version: "2052"},
	}}.AppendBinary(nil)
	root, _ := amt.ParseCertHash("CB3CCBB76031E5E0138F8DD39A23F9DE47FFC35E43C1144CEA27D46A5AB1CB5F")
	entry, _ := pthi.CertHashEntry{Name: "DigiCert Global Root G2", Hash: root, Default: true, Active: true}.AppendBinary(nil)
	uuid := []byte{0x3e, 0xc2, 0xff, 0xd2, 0xd1, 0x9d, 0x2d, 0x41, 0x86, 0x0a, 0x54, 0xb2, 0x03, 0x9b, 0x72, 0xff}
	suffix := append([]byte{12, 0}, "vprodemo.com"...)
	hashes := []pthitest.Exchange{
		pthitest.OK(pthi.CmdEnumerateHashHandles, nil, append(u32(1), u32(3)...)),
		pthitest.OK(pthi.CmdGetCertHashEntry, u32(3), entry),
	}
	if prepare {
		otp := append(append([]byte{byte(len(demoOTP) + 1), 0}, demoOTP...), 0)
		return pthitest.NewReplay(append([]pthitest.Exchange{
			pthitest.OK(pthi.CmdGetCodeVersions, nil, versions),
			pthitest.OK(pthi.CmdGetProvisioningState, nil, u32(0)),
			pthitest.OK(pthi.CmdGetZeroTouchEnabled, nil, u32(1)),
			pthitest.OK(pthi.CmdSetProvisioningServerOTP, otp, nil),
			pthitest.OK(pthi.CmdStartConfigurationEx, u32(0), nil),
			pthitest.OK(pthi.CmdGetProvisioningState, nil, u32(1)),
			pthitest.OK(pthi.CmdGetUUID, nil, uuid),
			pthitest.OK(pthi.CmdGetPKIDNSSuffix, nil, suffix),
		}, hashes...)...)
	}
	lan := []byte{1, 0, 0, 0, 10, 1, 168, 192, 1, 0, 0, 0, 2, 1, 0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc}
	return pthitest.NewReplay(append(append([]pthitest.Exchange{
		pthitest.OK(pthi.CmdGetCodeVersions, nil, versions),
		pthitest.OK(pthi.CmdGetUUID, nil, uuid),
		pthitest.OK(pthi.CmdGetProvisioningState, nil, u32(0)),
		pthitest.OK(pthi.CmdGetControlMode, nil, u32(0)),
		pthitest.OK(pthi.CmdGetPKIDNSSuffix, nil, suffix),
	}, hashes...),
		pthitest.OK(pthi.CmdGetLANInterfaceSettings, u32(0), lan),
		pthitest.Fail(pthi.CmdGetLANInterfaceSettings, u32(1), amt.StatusInterfaceDoesNotExist),
	)...)
}

// flagConflict refuses -tls and -lms-pin where they would be ignored.
func flagConflict(sim, deactivate, tls bool, lmsPin string) error {
	switch {
	case tls && !(sim && deactivate):
		return errors.New("-tls is for -sim -deactivate; on a real device that enforces TLS on its local ports give -deactivate -lms https://127.0.0.1:16993/wsman -lms-pin <SHA-256>")
	case lmsPin != "" && (!deactivate || sim):
		return errors.New("-lms-pin is for -deactivate of a real device with an https -lms endpoint")
	}
	return nil
}
