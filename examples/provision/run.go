package main

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // SQLite in pure Go: the example picks the driver, amtkit imports none

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/internal/boundedread"
	"github.com/amtkit/amtkit/internal/secretfile"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
	"github.com/amtkit/amtkit/seal"
)

type options struct {
	devices    int
	sharedIP   bool // all devices on 127.0.0.1 (as on systems without 127/8 loopback)
	progress   io.Writer
	summary    io.Writer
	statePath  string // SQLite file; "": a new one in a temporary directory
	crashAfter int    // stop the first provisioner once this many sessions configured their device; 0: never
}

type result struct {
	provisioned, refused, failed, unexpected int
	resumed                                  int // sessions the second provisioner resumed from the state file
	crashed                                  bool
	statePath                                string
}

// plan is what one device is set up to be and how its session should end.
type plan struct {
	kind   string              // "ok", "otp", "on-die", "no-root", "wrong-suffix", "bad-otp", "unknown", "rogue"
	expect provisioning.Reason // "" = provisioned
	name   string
	why    string // for a planned refusal: why it is refused
}

// plans returns n device plans: one of each refusal (when n allows), the rest
// succeeding in a mix of flavours.
func plans(n int) []plan {
	refusals := []plan{
		{kind: "no-root", expect: provisioning.ReasonNoMatchingRoot, why: "its firmware does not trust the root of the provisioning certificate"},
		{kind: "wrong-suffix", expect: provisioning.ReasonSuffixMismatch, why: "its DNS suffix northwindtraders.com is not covered by the certificate for contoso.com"},
		{kind: "bad-otp", expect: provisioning.ReasonOTPMismatch, why: "its agent gave the firmware another one-time password than it told the console"},
		{kind: "unknown", expect: provisioning.ReasonUnknownDevice, why: "it is not in the inventory"},
		{kind: "rogue", expect: provisioning.ReasonDeviceUntrusted, why: "an impostor claiming an On-Die device's UUID, without its On-Die certificate"},
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
	if out[len(out)-1].kind == "rogue" {
		out[len(out)-1].name = "rogue"
	}
	return out
}

var firmwares = []string{"11.8.94", "12.0.93", "15.0.45", "16.1.30", "18.0.5", "19.0.5"}

// firmwareFor picks device i's firmware: one with an On-Die certificate for
// the devices whose profile requires it, any of the list otherwise.
func firmwareFor(i int, p plan) amt.Version {
	if p.kind == "on-die" {
		var onDie []string
		for _, f := range firmwares {
			if amt.FirmwareFor(amt.MustParseVersion(f)).OnDieCertificate.Any() {
				onDie = append(onDie, f)
			}
		}
		return amt.MustParseVersion(onDie[i%len(onDie)])
	}
	return amt.MustParseVersion(firmwares[i%len(firmwares)])
}

// owner names the provisioner in the leases it takes: the same name after a
// restart, so the new process takes its predecessor's leases back at once.
func owner() string {
	host, _ := os.Hostname()
	return "examples/provision on " + host
}

func run(ctx context.Context, o options) (result, error) {
	var res result
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

	// The fleet. The impostor (plan "rogue") is started separately below.
	ps := plans(o.devices)
	fleetPlans := ps
	var roguePlan *plan
	if ps[len(ps)-1].kind == "rogue" {
		roguePlan = &ps[len(ps)-1]
		fleetPlans = ps[:len(ps)-1]
	}
	// Intel's On-Die CA, as the simulator plays it: devices whose firmware
	// has an On-Die certificate get one from it.
	odca, err := amtsim.NewOnDieCA(amtsim.PoolKeys(keys), nil, nil)
	if err != nil {
		return result{}, err
	}
	fleet, err := amtsim.StartFleet(ctx, amtsim.FleetOptions{
		N:        len(fleetPlans),
		SharedIP: o.sharedIP,
		Template: amtsim.Config{
			TrustedDNSSuffix: "contoso.com",
			Keys:             amtsim.PoolKeys(keys),
			OnDieCA:          odca,
			// The integrator's root, added with setup.bin.
			UserRootHashes: []amtsim.RootHash{{Name: "Contoso provisioning root", Hash: root, Active: true}},
		},
		Configure: func(i int, c *amtsim.Config) {
			c.Version = firmwareFor(i, fleetPlans[i])
			// An On-Die certificate only where the firmware has one.
			c.OnDie = amt.FirmwareFor(c.Version).OnDieCertificate.Any()
			switch fleetPlans[i].kind {
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
	var victim *amtsim.Device // an On-Die device the impostor will claim to be
	for i, d := range devices {
		p := &fleetPlans[i]
		if p.kind == "on-die" && victim == nil {
			victim = d
		}
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

	// The state file and the key that seals its secrets.
	statePath, cleanup, err := statePaths(o.statePath)
	if err != nil {
		return result{}, err
	}
	defer cleanup()
	sealer, keyPath, err := stateKey(statePath + ".key")
	if err != nil {
		return result{}, err
	}
	res.statePath = statePath

	pr := &printer{w: o.progress, start: start, fleet: fleet, plans: map[*amtsim.Device]*plan{}}
	for i, d := range devices {
		pr.add(d, &fleetPlans[i])
	}
	pr.header(o, ps, statePath, keyPath, chain.Bundle.Leaf().Subject.CommonName, root)

	// The first provisioner: state in the file, leases under a fixed owner.
	issuer := &localIssuer{ca: deviceCA}
	cfg := provisioning.Config{
		Bundles:    []certs.Bundle{chain.Bundle},
		Authorizer: inv,
		Profiles: map[string]provisioning.Profile{
			provisioning.DefaultProfileName: {TLS: &provisioning.TLSProfile{KeyRetryDelay: 100 * time.Millisecond}},
			"on-die":                        {TLS: &provisioning.TLSProfile{KeyRetryDelay: 100 * time.Millisecond}, RequireOnDie: true},
			"legacy":                        {TLS: &provisioning.TLSProfile{KeyRetryDelay: 100 * time.Millisecond}, AllowLegacyTLS: true},
		},
		Issuer: issuer,
		// The simulator's On-Die certificates name the UUID, which the default
		// OnDieBinding (BindOnDieUUID) checks; real Intel On-Die certificates
		// name none: set OnDieBinding for real devices (docs/provisioning.md;
		// Audit reports ondie-default-binding).
		OnDieRoots:        odca.Pool(),
		Dial:              fleet.DialContext,
		DeviceAddress:     deviceAddress(fleet),
		CommitVerifyDelay: 200 * time.Millisecond,
		Owner:             owner(),
		ServerName:        "amtprov.contoso.com",
		ListenAddr:        "127.0.0.1:0",
	}
	first, err := startProvisioner(ctx, cfg, statePath, sealer, pr.observer(1))
	if err != nil {
		return result{}, err
	}
	defer first.close()
	for _, a := range agents {
		d, _ := fleet.Device(a.uuid)
		if err := d.StartConfiguration(a.device); err != nil {
			return result{}, err
		}
		// Kept in the state file: the provisioner after the restart expects them too.
		if err := first.prov.ExpectAgentRequest(ctx, provisioning.AgentRequest{UUID: a.uuid, OTP: a.told}); err != nil {
			return result{}, err
		}
	}
	pr.crashAfter(o.crashAfter)

	// Devices send hellos until a server contacts them (here at most twice,
	// a second apart).
	hello := amtsim.HelloOptions{MaxHellos: 2, Backoff: func(int) time.Duration { return time.Second }}
	hellos := func(p *running) error {
		h := hello
		h.Addr = p.addr
		r, err := fleet.SendHellos(ctx, h)
		if err != nil && ctx.Err() != nil {
			return err
		}
		p.delivered(r)
		return nil
	}
	// Hellos, then every session to its end — unless the crash comes first.
	firstCtx, stopFirst := context.WithCancel(ctx)
	defer stopFirst()
	firstDone := make(chan error, 1)
	go func() {
		err := hellos(first)
		if err == nil {
			first.settle(firstCtx)
		}
		firstDone <- err
	}()
	active := first
	select {
	case err := <-firstDone:
		if err != nil {
			return result{}, err
		}
	case <-pr.crash:
		// The crash: from now on the first provisioner's store answers
		// nothing (a dead process writes nothing and releases nothing), and
		// its sessions are abandoned where they stand.
		pr.crashed()
		first.kill()
		stopFirst()
		<-firstDone
		res.crashed = true
		// Devices a server contacted that are not provisioned: if their
		// session had not proven its device, nothing of value was stored
		// and, once contacted, the simulated firmware sends no more hellos.
		var contacted []*amtsim.Device
		for _, d := range devices {
			if snap := d.Snapshot(); snap.Contacted && snap.ProvisioningState != amt.PostProvisioning {
				contacted = append(contacted, d)
			}
		}

		second, err := startProvisioner(ctx, cfg, statePath, sealer, pr.observer(2))
		if err != nil {
			return result{}, err
		}
		defer second.close()
		active = second
		inProgress, err := provisioning.CollectRecords(second.store.Records(ctx, provisioning.Filter{SessionInProgress: true}))
		if err != nil {
			return result{}, err
		}
		var names []string
		for _, r := range inProgress {
			if d, ok := fleet.Device(r.UUID); ok && !r.State.Final() {
				names = append(names, pr.nameOf(d)+" ("+r.State.String()+")")
			}
		}
		sort.Strings(names)
		pr.printf("\n── restart: a new provisioner opens %s; %d session(s) in progress to resume: %s ──\n\n",
			statePath, len(names), strings.Join(names, ", "))
		var resumed sync.WaitGroup
		resumed.Add(1)
		go func() {
			defer resumed.Done()
			_ = second.prov.Resume(ctx)
		}()
		// Devices not contacted before the crash still send their hellos;
		// those contacted whose session had not proven its device send their
		// next one (a real device does on its next boot).
		for _, d := range contacted {
			if rehello(ctx, second, d) {
				pr.printf("%6.2fs  %-7s hello      again: its session had not yet proven the device when the provisioner died\n", time.Since(start).Seconds(), pr.nameOf(d))
			}
		}
		if err := hellos(second); err != nil {
			return result{}, err
		}
		resumed.Wait()
		second.settle(ctx)
	}

	// Then an impostor claims an On-Die device's UUID. It has no On-Die
	// certificate and the "on-die" profile requires one: it is refused, and the
	// real device's record is left as it was.
	if roguePlan != nil && victim != nil {
		rogue, err := fleet.StartRogue(victim, amtsim.RogueNoOnDie)
		if err != nil {
			return result{}, err
		}
		pr.add(rogue, roguePlan)
		pr.setRogue(rogue)
		// Through the fleet, which records each hello's source (devices that
		// are provisioned or whose window closed send nothing; refused ones
		// are refused again).
		if err := hellos(active); err != nil {
			return result{}, err
		}
		active.settle(ctx)
	}
	if err := active.stop(); err != nil {
		return result{}, err
	}
	// Sessions that ended just before the crash reported nothing (a dead
	// process reports nothing): their outcome is in the state file.
	if res.crashed {
		if err := pr.fromStore(ctx, active.store, time.Since(start)); err != nil {
			return result{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	sum := pr.summarize(o.summary, time.Since(start), res.crashed)
	sum.crashed, sum.statePath = res.crashed, res.statePath
	return sum, nil
}

// statePaths returns the state file's path; a default one lives in a new
// temporary directory that cleanup removes.
func statePaths(path string) (string, func(), error) {
	if path != "" {
		return path, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "amtkit-provision-")
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, "state.db"), func() { os.RemoveAll(dir) }, nil
}

// stateKey reads the key that seals the state file's secrets, or makes one.
// A real deployment takes it from its secret store or KMS, never from a file
// beside the database; here the file keeps the example self-contained.
func stateKey(path string) (seal.Sealer, string, error) {
	var key seal.Key
	b, err := boundedread.File(path, 4<<10, "a state key")
	switch {
	case err == nil:
		id, secret, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
		raw, herr := hex.DecodeString(secret)
		if !ok || herr != nil {
			return nil, "", fmt.Errorf("%s: expected <key id>:<64 hex digits>", path)
		}
		key = seal.Key{ID: id, Secret: raw}
	case errors.Is(err, os.ErrNotExist):
		if key, err = seal.NewKey(nil, "example-1"); err != nil {
			return nil, "", err
		}
		// Owner-only, as a new file; a symbolic link left at path (its
		// target would receive the key) is refused.
		if err := secretfile.Write(path, []byte(key.ID+":"+hex.EncodeToString(key.Secret)+"\n")); err != nil {
			return nil, "", err
		}
	default:
		return nil, "", err
	}
	s, err := seal.NewAESGCM(seal.Keyring{Primary: key})
	return s, path, err
}

// running is one provisioner "process": its own connection to the state
// file, its store, its listener.
type running struct {
	db        *sql.DB
	store     *sqlstore.Store
	dead      *crashable
	prov      *provisioning.Provisioner
	listener  *provisioning.HelloListener
	addr      string
	cancel    context.CancelFunc
	served    chan error
	delivered func([]amtsim.HelloResult)
	settle    func(context.Context)
}

func startProvisioner(ctx context.Context, cfg provisioning.Config, statePath string, sealer seal.Sealer, observer provisioning.Observer) (*running, error) {
	db, err := sql.Open("sqlite", "file:"+statePath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: sealer})
	if err != nil {
		db.Close()
		return nil, err
	}
	r := &running{db: db, store: store, dead: &crashable{Store: store}}
	cfg.Store = r.dead
	cfg.Observer = observer
	if r.prov, err = provisioning.New(cfg); err != nil {
		db.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, err
	}
	r.addr = ln.Addr().String()
	sctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	r.served = make(chan error, 1)
	listening := make(chan *provisioning.HelloListener, 1)
	go func() {
		r.served <- r.prov.Serve(sctx, ln, func(l *provisioning.HelloListener) {
			l.PerSourceBurst = -1 // on loopback a fleet may share one address
			listening <- l
		})
	}()
	r.listener = <-listening
	// settle waits until the listener has accepted and handled every hello
	// delivered so far, then until every session they started has ended.
	var delivered atomic.Uint64
	r.delivered = func(res []amtsim.HelloResult) {
		for _, x := range res {
			delivered.Add(uint64(x.Delivered))
		}
	}
	r.settle = func(ctx context.Context) {
		for {
			st := r.listener.Stats()
			if st.Accepted >= delivered.Load() && st.Active == 0 || ctx.Err() != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		r.prov.Wait()
	}
	return r, nil
}

// kill makes the provisioner's store answer nothing and abandons its
// sessions, as the death of its process would.
func (r *running) kill() {
	r.dead.dead.Store(true)
	r.cancel()
	<-r.served
	r.prov.Wait()
}

func (r *running) stop() error {
	r.cancel()
	return <-r.served
}

func (r *running) close() { r.db.Close() }

// rehello has d send its next hello straight to p when its session died
// unproven before the crash (the simulated firmware stops sending hellos once
// a server contacted it; a real device sends hellos again on its next boot).
func rehello(ctx context.Context, p *running, d *amtsim.Device) bool {
	snap := d.Snapshot()
	if snap.ProvisioningState == amt.PostProvisioning || !snap.Contacted {
		return false
	}
	if r, err := p.store.Load(ctx, d.UUID()); err == nil && (r.Session != nil || r.State.Final()) {
		return false // resumed, or refused by a rule
	}
	h, err := d.Hello(1)
	if err != nil {
		return false
	}
	ap, _ := netip.ParseAddrPort(d.TLSAddr())
	p.prov.HandleHello(ctx, provisioning.ReceivedHello{Hello: h, Source: netip.AddrPortFrom(ap.Addr(), 0), Received: time.Now()})
	return true
}

// crashable is the first provisioner's handle on the store; once dead, every
// call fails, as the calls of a killed process never arrive.
type crashable struct {
	provisioning.Store
	dead atomic.Bool
}

var errKilled = errors.New("the provisioner's process is gone")

func (c *crashable) check() error {
	if c.dead.Load() {
		return errKilled
	}
	return nil
}

func (c *crashable) Load(ctx context.Context, u amt.UUID) (*provisioning.DeviceRecord, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Store.Load(ctx, u)
}

func (c *crashable) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.Store.Save(ctx, r)
}

func (c *crashable) Delete(ctx context.Context, u amt.UUID, version uint64) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.Store.Delete(ctx, u, version)
}

func (c *crashable) Records(ctx context.Context, f provisioning.Filter) iter.Seq2[*provisioning.DeviceRecord, error] {
	if err := c.check(); err != nil {
		return func(yield func(*provisioning.DeviceRecord, error) bool) { yield(nil, err) }
	}
	return c.Store.Records(ctx, f)
}

func (c *crashable) AcquireLease(ctx context.Context, u amt.UUID, owner string, now time.Time, ttl time.Duration) (provisioning.Lease, error) {
	if err := c.check(); err != nil {
		return provisioning.Lease{}, err
	}
	return c.Store.AcquireLease(ctx, u, owner, now, ttl)
}

func (c *crashable) RenewLease(ctx context.Context, l provisioning.Lease, now time.Time, ttl time.Duration) (provisioning.Lease, error) {
	if err := c.check(); err != nil {
		return provisioning.Lease{}, err
	}
	return c.Store.RenewLease(ctx, l, now, ttl)
}

func (c *crashable) ReleaseLease(ctx context.Context, l provisioning.Lease) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.Store.ReleaseLease(ctx, l)
}

// deviceAddress tells the engine where a simulated device listens: by the
// hello's source address, else by UUID (of the hello, or of the inventory when
// a provisioned device is reached from its record).
func deviceAddress(f *amtsim.Fleet) func(provisioning.ReceivedHello, provisioning.Inventory, int) string {
	return func(h provisioning.ReceivedHello, inv provisioning.Inventory, port int) string {
		d, ok := f.Lookup(net.TCPAddrFromAddrPort(h.Source))
		if !ok && h.Hello != nil {
			d, ok = f.Device(h.Hello.UUID)
		}
		if !ok {
			d, ok = f.Device(inv.UUID)
		}
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
// device's last outcome. Events of the first provisioner stop at its crash
// (a dead process reports nothing).
type printer struct {
	w     io.Writer
	start time.Time
	fleet *amtsim.Fleet

	mu      sync.Mutex
	rogue   *amtsim.Device
	order   []*amtsim.Device
	plans   map[*amtsim.Device]*plan
	final   map[*amtsim.Device]provisioning.Event
	elapsed map[*amtsim.Device]time.Duration // time of the last session
	running map[*amtsim.Device]time.Duration
	resumed map[*amtsim.Device]bool
	dead    bool // the first provisioner crashed

	crash      chan struct{} // closed when the first provisioner is to crash
	killed     chan struct{} // closed when it has crashed: frozen sessions go on (into a dead store)
	crashLimit int
	configured int
	crashing   bool
}

func (p *printer) add(d *amtsim.Device, pl *plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.final == nil {
		p.final = map[*amtsim.Device]provisioning.Event{}
		p.elapsed = map[*amtsim.Device]time.Duration{}
		p.running = map[*amtsim.Device]time.Duration{}
		p.resumed = map[*amtsim.Device]bool{}
	}
	p.order = append(p.order, d)
	p.plans[d] = pl
}

func (p *printer) setRogue(d *amtsim.Device) {
	p.mu.Lock()
	p.rogue = d
	p.mu.Unlock()
}

func (p *printer) crashAfter(n int) {
	p.crash = make(chan struct{})
	p.killed = make(chan struct{})
	p.crashLimit = n
}

func (p *printer) crashed() {
	p.mu.Lock()
	p.dead = true
	p.mu.Unlock()
	close(p.killed)
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

func (p *printer) nameOf(d *amtsim.Device) string {
	if pl := p.plans[d]; pl != nil {
		return pl.name
	}
	return "?"
}

// header says what the run is about to do: how many devices, which are meant
// to be refused and why, where the state is kept, and the crash.
func (p *printer) header(o options, ps []plan, statePath, keyPath, cert string, root amt.CertHash) {
	w := p.w
	fmt.Fprintf(w, "amtkit's default job: %d devices (simulated, on loopback), one provisioning certificate %s (root %s).\n",
		len(ps), cert, root.Hex()[:16]+"…")
	var refused []plan
	for _, pl := range ps {
		if pl.expect != "" {
			refused = append(refused, pl)
		}
	}
	if len(refused) > 0 {
		fmt.Fprintf(w, "%d of them are meant to be refused, to show the rules at work:\n", len(refused))
		for _, pl := range refused {
			fmt.Fprintf(w, "  %-7s %s (%s)\n", pl.name, pl.why, pl.expect)
		}
	}
	fmt.Fprintf(w, "State: %s (SQLite); its passwords are sealed with the key in %s.\n", statePath, keyPath)
	if o.crashAfter > 0 {
		fmt.Fprintf(w, "Once %d sessions have configured their device (and the refusals are decided), the provisioner stops as if killed,\nand a new one resumes from the state file.\n", o.crashAfter)
	}
	fmt.Fprintln(w)
}

// observer returns the Observer of the provisioner of the given generation
// (1 before the crash, 2 after).
func (p *printer) observer(gen int) provisioning.Observer {
	return func(e provisioning.Event) { p.event(gen, e) }
}

func (p *printer) event(gen int, e provisioning.Event) {
	if p.record(gen, e) {
		// Once enough sessions have configured their device, the first
		// provisioner's sessions stop where they stand until the crash, so
		// that it finds them in progress however fast the machine is.
		<-p.killed
	}
}

// record prints and counts an event; it reports whether the event's session
// is to wait for the crash (a step after configure of the first provisioner,
// once crashLimit sessions configured their device).
func (p *printer) record(gen int, e provisioning.Event) (wait bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() {
		switch e.Step {
		case provisioning.StepConfigure, provisioning.StepCommit, provisioning.StepVerify:
			wait = gen == 1 && !p.dead && p.killed != nil && p.crashLimit > 0 && p.configured >= p.crashLimit && e.Err == nil
		}
	}()
	if gen == 1 && p.dead {
		return false // a dead process reports nothing
	}
	d, ok := p.fleet.Device(e.Device)
	if p.rogue != nil && e.Device == p.rogue.UUID() {
		d, ok = p.rogue, true // once the impostor is out, the UUID's hellos are its
	}
	if !ok {
		return false // a record of another run's device in a reused state file
	}
	name := p.nameOf(d)
	line := fmt.Sprintf("%6.2fs  %-7s %-10s %-11s", time.Since(p.start).Seconds(), name, e.Step, e.State)
	switch {
	case e.Reason != "":
		// The reason code, then what happened, in full: the step and the
		// state are on the line already.
		line += " " + string(e.Reason) + ": " + cause(e)
	case e.Detail != "":
		line += " " + e.Detail
	}
	fmt.Fprintln(p.w, line)
	if gen == 2 && e.Step == provisioning.StepAuthorize && strings.HasPrefix(e.Detail, "resuming session") {
		p.resumed[d] = true
	}
	if gen == 1 && e.Step == provisioning.StepConfigure && e.Err == nil {
		p.configured++
	}
	if e.Reason == provisioning.ReasonDuplicateSession {
		return false
	}
	p.running[d] += e.Duration
	if e.State.Final() {
		p.final[d] = e
		p.elapsed[d] = p.running[d]
		p.running[d] = 0
	}
	if gen == 1 {
		p.maybeCrash()
	}
	return false // set by the deferred check
}

// maybeCrash closes p.crash once crashLimit sessions have configured their
// device and every planned refusal has been decided, so that the crash cuts
// provisioning sessions, not a refusal (a bad OTP closes the device's window
// before its outcome is recorded; killed there, nothing is left to show it).
// p.mu is held.
func (p *printer) maybeCrash() {
	if p.crash == nil || p.crashLimit <= 0 || p.configured < p.crashLimit || p.crashing {
		return
	}
	for d, pl := range p.plans {
		if _, done := p.final[d]; pl.expect != "" && pl.kind != "rogue" && !done {
			return
		}
	}
	p.crashing = true
	fmt.Fprintf(p.w, "\n── %d sessions have configured their device: the provisioner stops here, as if killed ──\n", p.configured)
	close(p.crash)
}

// fromStore takes the outcome of devices whose final event was lost in the
// crash from the state file.
func (p *printer) fromStore(ctx context.Context, st provisioning.Store, at time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.order {
		if _, ok := p.final[d]; ok || d == p.rogue {
			continue
		}
		r, err := st.Load(ctx, d.UUID())
		if errors.Is(err, provisioning.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !r.State.Final() {
			continue
		}
		p.final[d] = provisioning.Event{Time: r.UpdatedAt, Device: r.UUID, State: r.State, Reason: r.Reason}
		p.elapsed[d] = p.running[d]
		fmt.Fprintf(p.w, "%6.2fs  %-7s %-10s %-11s ended before the crash; its outcome is in the state file\n", at.Seconds(), p.nameOf(d), "", r.State)
	}
	return nil
}

// cause is what an event's error says beyond its step and reason: the
// session error's own cause, else the detail.
func cause(e provisioning.Event) string {
	var se *provisioning.SessionError
	if errors.As(e.Err, &se) && se.Err != nil {
		return se.Err.Error()
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Detail
}

func (p *printer) summarize(w io.Writer, wall time.Duration, crashed bool) result {
	p.mu.Lock()
	defer p.mu.Unlock()
	var res result
	refusedBy := map[provisioning.Reason]int{}
	failedBy := map[provisioning.Reason]int{}
	var times []time.Duration
	var surprises []string
	for _, d := range p.order {
		e, pl := p.final[d], p.plans[d]
		switch e.State {
		case provisioning.StateProvisioned:
			res.provisioned++
			times = append(times, p.elapsed[d])
		case provisioning.StateRejected:
			res.refused++
			refusedBy[e.Reason]++
		default:
			res.failed++
			failedBy[e.Reason]++
		}
		if p.resumed[d] {
			res.resumed++
		}
		ok := (pl.expect == "" && e.State == provisioning.StateProvisioned) || (pl.expect != "" && e.Reason == pl.expect)
		if !ok {
			res.unexpected++
			want := string(pl.expect)
			if want == "" {
				want = "provisioned"
			}
			got := e.State.String()
			if e.Reason != "" {
				got += " " + string(e.Reason)
			}
			surprises = append(surprises, fmt.Sprintf("  %s (%s): planned %s, ended %s", pl.name, pl.kind, want, got))
		}
	}
	reasons := func(m map[provisioning.Reason]int) {
		var rs []string
		for r := range m {
			rs = append(rs, string(r))
		}
		sort.Strings(rs)
		for _, r := range rs {
			fmt.Fprintf(w, "    %-28s %4d\n", r, m[provisioning.Reason(r)])
		}
	}
	fmt.Fprintf(w, "\nSummary: %d devices in %.1fs\n", len(p.order), wall.Seconds())
	fmt.Fprintf(w, "  %-30s %4d\n", "provisioned", res.provisioned)
	if crashed {
		fmt.Fprintf(w, "    %-28s %4d\n", "resumed after the crash", res.resumed)
	}
	fmt.Fprintf(w, "  %-30s %4d\n", "refused by a rule", res.refused)
	reasons(refusedBy)
	fmt.Fprintf(w, "  %-30s %4d\n", "failed", res.failed)
	reasons(failedBy)
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
	fmt.Fprintln(w, "\nNext: docs/provisioning.md walks through these steps and what you configure; docs/state.md explains the state")
	fmt.Fprintln(w, "file, sealed secrets, leases and running several provisioners; docs/troubleshooting.md says what to do about each reason.")
	return res
}
