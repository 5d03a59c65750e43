package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

type options struct {
	devices  int
	sharedIP bool // all devices on 127.0.0.1 (as on systems without 127/8 loopback)
	progress io.Writer
	summary  io.Writer
}

type result struct {
	provisioned, rejected, failed, unexpected int
}

// plan is what one device is set up to be and how its session should end.
type plan struct {
	kind   string              // "ok", "otp", "on-die", "no-root", "wrong-suffix", "bad-otp", "unknown", "rogue"
	expect provisioning.Reason // "" = provisioned
	name   string
}

// plans returns n device plans: one of each refusal (when n allows), the rest
// succeeding in a mix of flavours.
func plans(n int) []plan {
	refusals := []plan{
		{kind: "no-root", expect: provisioning.ReasonNoMatchingRoot},
		{kind: "wrong-suffix", expect: provisioning.ReasonSuffixMismatch},
		{kind: "bad-otp", expect: provisioning.ReasonOTPMismatch},
		{kind: "unknown", expect: provisioning.ReasonUnknownDevice},
		{kind: "rogue", expect: provisioning.ReasonDeviceUntrusted},
	}
	nr := min(len(refusals), n/5)
	out := make([]plan, 0, n)
	flavours := []string{"ok", "ok", "otp", "on-die"}
	for i := 0; len(out) < n-nr; i++ {
		out = append(out, plan{kind: flavours[i%len(flavours)]})
	}
	out = append(out, refusals[:nr]...)
	for i := range out {
		out[i].name = fmt.Sprintf("pc-%03d", i+1)
	}
	return out
}

var firmwares = []string{"11.8.94", "12.0.93", "15.0.45", "16.1.30", "18.0.5", "19.0.5"}

func run(ctx context.Context, o options) (result, error) {
	if o.devices < 1 {
		return result{}, errors.New("-devices must be at least 1")
	}
	start := time.Now()
	keys := certstest.NewKeyPool()

	// The integrator's PKI: a provisioning certificate for prov.contoso.com from
	// a made-up public CA the devices were told to trust (setup.bin), and a
	// device CA that issues AMT's own TLS certificates.
	chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	if err != nil {
		return result{}, err
	}
	deviceCA, err := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso AMT Device CA", Keys: keys})
	if err != nil {
		return result{}, err
	}
	root := chain.Bundle.RootHash(amt.HashSHA256)

	// The fleet. An impostor (plan "rogue") is started separately below.
	ps := plans(o.devices)
	var roguePlan *plan
	if ps[len(ps)-1].kind == "rogue" {
		roguePlan = &ps[len(ps)-1]
		ps = ps[:len(ps)-1]
	}
	fleet, err := amtsim.StartFleet(ctx, amtsim.FleetOptions{
		N:        len(ps),
		SharedIP: o.sharedIP,
		Template: amtsim.Config{
			TrustedDNSSuffix: "contoso.com",
			Keys:             amtsim.PoolKeys(keys),
			OnDie:            true,
			// The integrator's root, added with setup.bin.
			UserRootHashes: []amtsim.RootHash{{Name: "Contoso provisioning root", Hash: root, Active: true}},
		},
		Configure: func(i int, c *amtsim.Config) {
			c.Version = amt.MustParseVersion(firmwares[i%len(firmwares)])
			switch ps[i].kind {
			case "no-root":
				c.UserRootHashes = nil
			case "wrong-suffix":
				c.TrustedDNSSuffix = "northwindtraders.com"
			}
		},
	})
	if err != nil {
		return result{}, err
	}
	defer fleet.Close()
	devices := fleet.Devices()

	// The integrator's inventory, and the agent requests of agent-initiated
	// devices (their local agent gave the firmware an OTP and told the console).
	inv := provisioning.NewInventoryList()
	type agent struct {
		uuid         amt.UUID
		device, told amt.Secret
	}
	var agents []agent
	for i, d := range devices {
		p := &ps[i]
		if p.kind == "unknown" {
			continue
		}
		entry := provisioning.Inventory{UUID: d.UUID(), FQDN: p.name + ".contoso.com"}
		if d.Version().Major < 12 {
			entry.Profile = "legacy" // TLS 1.0/1.1 only before AMT 12
		}
		switch p.kind {
		case "wrong-suffix":
			entry.FQDN = p.name + ".northwindtraders.com"
		case "on-die":
			entry.Profile = "on-die"
		}
		inv.Add(entry)
		switch p.kind {
		case "otp":
			otp := amt.NewSecret(fmt.Sprintf("Otp-%s-%d", p.name, i))
			agents = append(agents, agent{d.UUID(), otp, otp})
		case "bad-otp":
			agents = append(agents, agent{d.UUID(), amt.NewSecret("Otp-device-side"), amt.NewSecret("Otp-console-side")})
		}
	}
	var rogueFor amt.UUID
	for i, d := range devices {
		if ps[i].kind == "on-die" {
			rogueFor = d.UUID()
			break
		}
	}

	// The provisioner.
	pr := &printer{w: o.progress, start: start, fleet: fleet}
	for i, d := range devices {
		pr.add(d, &ps[i])
	}
	issuer := &localIssuer{ca: deviceCA}
	cfg := provisioning.Config{
		Bundles:    []certs.Bundle{chain.Bundle},
		Authorizer: inv,
		Profiles: map[string]provisioning.Profile{
			provisioning.DefaultProfileName: {TLS: &provisioning.TLSProfile{KeyRetryDelay: 100 * time.Millisecond}},
			"on-die":                        {TLS: &provisioning.TLSProfile{KeyRetryDelay: 100 * time.Millisecond}, RequireOnDie: true},
			"legacy":                        {TLS: &provisioning.TLSProfile{KeyRetryDelay: 100 * time.Millisecond}, AllowLegacyTLS: true},
		},
		Issuer:            issuer,
		OnDieRoots:        fleet.OnDieCA().Pool(),
		Observer:          pr.event,
		Dial:              fleet.DialContext,
		DeviceAddress:     deviceAddress(fleet),
		CommitVerifyDelay: 200 * time.Millisecond,
		ServerName:        "amtprov.contoso.com",
		ListenAddr:        "127.0.0.1:0",
	}
	prov, err := provisioning.New(cfg)
	if err != nil {
		return result{}, err
	}
	for _, a := range agents {
		d, _ := fleet.Device(a.uuid)
		if err := d.StartConfiguration(a.device); err != nil {
			return result{}, err
		}
		if err := prov.ExpectAgentRequest(ctx, provisioning.AgentRequest{UUID: a.uuid, OTP: a.told}); err != nil {
			return result{}, err
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	listening := make(chan *provisioning.HelloListener, 1)
	go func() {
		served <- prov.Serve(sctx, ln, func(l *provisioning.HelloListener) {
			l.PerSourceBurst = -1 // on loopback a fleet may share one address
			listening <- l
		})
	}()
	listener := <-listening
	// settle waits until the listener has accepted and handled every hello
	// delivered so far, then until every session they started has ended.
	var delivered uint64
	settle := func(res []amtsim.HelloResult) {
		for _, r := range res {
			delivered += uint64(r.Delivered)
		}
		for {
			st := listener.Stats()
			if st.Accepted >= delivered && st.Active == 0 || ctx.Err() != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		prov.Wait()
	}
	fmt.Fprintf(o.progress, "%d simulated devices, hello listener on %s, provisioning certificate %s (root %s)\n\n",
		len(devices), ln.Addr(), chain.Bundle.Leaf().Subject.CommonName, root.Hex()[:16]+"…")

	// Devices send hellos until a server contacts them (here at most twice,
	// a second apart); then every session runs to its end.
	hello := amtsim.HelloOptions{Addr: ln.Addr().String(), MaxHellos: 2, Backoff: func(int) time.Duration { return time.Second }}
	res, err := fleet.SendHellos(ctx, hello)
	if err != nil && ctx.Err() != nil {
		return result{}, err
	}
	settle(res)

	// Then an impostor claims an On-Die device's UUID. It has no On-Die
	// certificate and the "on-die" profile requires one: it is refused, and the
	// real device's record is left as it was.
	if roguePlan != nil && rogueFor != (amt.UUID{}) {
		victim, _ := fleet.Device(rogueFor)
		rogue, err := fleet.StartRogue(victim, amtsim.RogueNoOnDie)
		if err != nil {
			return result{}, err
		}
		roguePlan.name = "rogue"
		pr.add(rogue, roguePlan)
		pr.mu.Lock()
		pr.rogue = rogue
		pr.mu.Unlock()
		// Through the fleet, which records each hello's source (devices that
		// are provisioned or whose window closed send nothing; refused ones
		// are refused again).
		res, err := fleet.SendHellos(ctx, hello)
		if err != nil && ctx.Err() != nil {
			return result{}, err
		}
		settle(res)
	}
	stop()
	if err := <-served; err != nil {
		return result{}, err
	}
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	return pr.summarize(o.summary, time.Since(start)), nil
}

// deviceAddress tells the engine where a simulated device listens: by the
// hello's source address, or by UUID.
func deviceAddress(f *amtsim.Fleet) func(provisioning.ReceivedHello, provisioning.Inventory, int) string {
	return func(h provisioning.ReceivedHello, _ provisioning.Inventory, port int) string {
		d, ok := f.Lookup(net.TCPAddrFromAddrPort(h.Source))
		if !ok {
			return ""
		}
		if port == 16992 {
			return d.HTTPAddr()
		}
		return d.TLSAddr()
	}
}

// localIssuer is the integrator's CA, here a throw-away one.
type localIssuer struct{ ca *certstest.CA }

func (l *localIssuer) Issue(ctx context.Context, req provisioning.IssueRequest) ([]*x509.Certificate, error) {
	return l.ca.Issue(ctx, req.Template, req.PublicKey)
}

func (l *localIssuer) Revoke(ctx context.Context, req provisioning.RevokeRequest) error {
	return l.ca.Revoke(ctx, req.Certificate, req.Reason)
}

// printer shows progress, one line per device per step, and keeps each
// device's last outcome. Devices are told apart by the hello's source address
// (an impostor shares its victim's UUID).
type printer struct {
	w     io.Writer
	start time.Time
	fleet *amtsim.Fleet

	rogue *amtsim.Device

	mu      sync.Mutex
	order   []*amtsim.Device
	plans   map[*amtsim.Device]*plan
	final   map[*amtsim.Device]provisioning.Event
	elapsed map[*amtsim.Device]time.Duration // time of the last session
	running map[*amtsim.Device]time.Duration
}

func (p *printer) add(d *amtsim.Device, pl *plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.plans == nil {
		p.plans = map[*amtsim.Device]*plan{}
		p.final = map[*amtsim.Device]provisioning.Event{}
		p.elapsed = map[*amtsim.Device]time.Duration{}
		p.running = map[*amtsim.Device]time.Duration{}
	}
	p.order = append(p.order, d)
	p.plans[d] = pl
}

func (p *printer) event(e provisioning.Event) {
	d, ok := p.fleet.Lookup(net.TCPAddrFromAddrPort(e.Source))
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ok && p.rogue != nil && e.Device == p.rogue.UUID() {
		// Where the fleet shares 127.0.0.1, a lone device's hello sources are
		// not recorded; only the impostor sends alone.
		d = p.rogue
	}
	name := "?"
	if pl := p.plans[d]; pl != nil {
		name = pl.name
	}
	line := fmt.Sprintf("%6.2fs  %-7s %-10s %-11s", time.Since(p.start).Seconds(), name, e.Step, e.State)
	switch {
	case e.Reason != "" && e.Err != nil:
		line += " " + shorten(e.Err.Error(), 120)
	case e.Reason != "":
		line += " " + string(e.Reason) + ": " + e.Detail
	case e.Detail != "":
		line += " " + shorten(e.Detail, 120)
	}
	fmt.Fprintln(p.w, line)
	if d == nil || e.Reason == provisioning.ReasonDuplicateSession {
		return
	}
	p.running[d] += e.Duration
	if e.State.Final() {
		p.final[d] = e
		p.elapsed[d] = p.running[d]
		p.running[d] = 0
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (p *printer) summarize(w io.Writer, wall time.Duration) result {
	p.mu.Lock()
	defer p.mu.Unlock()
	var res result
	reasons := map[provisioning.Reason]int{}
	var times []time.Duration
	var surprises []string
	for _, d := range p.order {
		e, pl := p.final[d], p.plans[d]
		switch e.State {
		case provisioning.StateProvisioned:
			res.provisioned++
			times = append(times, p.elapsed[d])
		case provisioning.StateRejected:
			res.rejected++
			reasons[e.Reason]++
		default:
			res.failed++
			reasons[e.Reason]++
		}
		ok := (pl.expect == "" && e.State == provisioning.StateProvisioned) || (pl.expect != "" && e.Reason == pl.expect)
		if !ok {
			res.unexpected++
			want := string(pl.expect)
			if want == "" {
				want = "provisioned"
			}
			surprises = append(surprises, fmt.Sprintf("  %s (%s): planned %s, ended %s %s", pl.name, pl.kind, want, e.State, e.Reason))
		}
	}
	fmt.Fprintf(w, "\nSummary: %d devices in %.1fs\n", len(p.order), wall.Seconds())
	fmt.Fprintf(w, "  %-30s %4d\n", "provisioned", res.provisioned)
	fmt.Fprintf(w, "  %-30s %4d\n", "rejected by the rules", res.rejected)
	fmt.Fprintf(w, "  %-30s %4d\n", "failed", res.failed)
	var rs []string
	for r := range reasons {
		rs = append(rs, string(r))
	}
	sort.Strings(rs)
	for _, r := range rs {
		fmt.Fprintf(w, "    %-28s %4d\n", r, reasons[provisioning.Reason(r)])
	}
	if len(times) > 0 {
		slices.Sort(times)
		var sum time.Duration
		for _, t := range times {
			sum += t
		}
		fmt.Fprintf(w, "  time per provisioned device: median %s, mean %s, max %s\n",
			times[len(times)/2].Round(time.Millisecond), (sum / time.Duration(len(times))).Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
	}
	if len(surprises) > 0 {
		fmt.Fprintln(w, "Unexpected outcomes:\n"+strings.Join(surprises, "\n"))
	} else {
		fmt.Fprintln(w, "Every device ended as planned.")
	}
	return res
}
