package amtsim

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// Device is one simulated AMT device. Create it with [New], start its
// listeners with [Device.Start], stop them with [Device.Close]. All methods are
// safe for concurrent use.
type Device struct {
	cfg   Config
	fw    amt.Firmware // the table row of the version (amt.FirmwareFor)
	plat  platform     // its per-platform answers for this Config
	uuid  amt.UUID
	true_ amt.UUID // identity in the On-Die certificate (differs for a rogue)
	realm string
	now   func() time.Time
	rand  io.Reader
	keys  KeySource
	// generated holds the public keys (PKIX DER) GenerateKeyPair ever
	// returned: firmware never generates a key twice, so a pooled key is
	// not handed out again, also after it was deleted or the device was
	// unprovisioned.
	generated map[string]bool
	log       *slog.Logger
	odca      *OnDieCA
	local     localODCA // the local TLS port's On-Die hierarchy (localtls.go)
	wr        *wsmantest.Writer
	enums     wsmantest.Enumerations

	localPass amt.Secret

	mu sync.Mutex
	st state

	idMu   sync.Mutex
	idCert *tls.Certificate
	ssCert *tls.Certificate // self-signed TLS certificate after provisioning (On-Die devices)

	digest digestState

	netMu   sync.Mutex
	started bool
	closed  bool
	tlsLn   *simListener
	httpLn  *simListener
	localLn *simListener // the local TLS port (LMS 16993)
	servers []*http.Server
	conns   map[*simConn]struct{}
	done    chan struct{}
	wg      sync.WaitGroup

	reqSeq atomic.Int64

	ctr     counters    // traffic counts (latency.go)
	tickets ticketKeys  // session-ticket key when resuming (latency.go)
	cira    ciraRuntime // the outgoing CIRA connection (cira.go)
	// pskRotated is the pair SetTLSPSK set, nil until then (cls_psk.go);
	// guarded by mu.
	pskRotated *pskx.Pair
}

// New makes a device from cfg (see [Config] for defaults). It does not listen
// yet; call [Device.Start].
func New(cfg Config) (*Device, error) {
	d := &Device{cfg: cfg, now: cfg.Now, rand: cfg.Rand, keys: cfg.Keys, log: cfg.Logger}
	if d.now == nil {
		d.now = time.Now
	}
	if d.rand == nil {
		d.rand = rand.Reader
	}
	if d.keys == nil {
		d.keys = DefaultKeys()
	}
	v := cfg.Version
	if v.IsZero() {
		v = amt.MustParseVersion(DefaultVersion)
	}
	d.fw = amt.FirmwareFor(v)
	if err := checkPlatformConfig(d.fw, &cfg); err != nil {
		return nil, err
	}
	d.plat = platformFor(d.fw, &cfg)

	d.uuid = cfg.UUID
	if d.uuid.IsZero() {
		u, err := randomUUID(d.rand)
		if err != nil {
			return nil, err
		}
		d.uuid = u
	}
	d.true_ = d.uuid
	if cfg.Rogue != nil {
		d.true_ = cfg.Rogue.TrueUUID
		if d.true_.IsZero() {
			u, err := randomUUID(d.rand)
			if err != nil {
				return nil, err
			}
			d.true_ = u
		}
	}

	d.realm = cfg.DigestRealm
	if d.realm == "" {
		var b [16]byte
		if _, err := io.ReadFull(d.rand, b[:]); err != nil {
			return nil, err
		}
		d.realm = fmt.Sprintf("Digest:%X", b[:])
	} else if !validRealm(d.realm) {
		return nil, &ConfigError{Field: "DigestRealm", Expected: `"Digest:" followed by 32 hex digits`, Got: fmt.Sprintf("%q", d.realm)}
	}

	if cfg.PSK != nil {
		if !d.fw.PSK {
			return nil, &ConfigError{Field: "PSK", Expected: "firmware before 11.0 (PSK hellos were removed in AMT 11)", Got: v.String()}
		}
		if cfg.PSK.PID.IsZero() || cfg.PSK.PPS.IsZero() {
			return nil, &ConfigError{Field: "PSK", Expected: "a PID and a PPS", Got: "a zero value"}
		}
	}
	if !cfg.OTP.IsZero() && (cfg.OTP.Len() < 8 || cfg.OTP.Len() > 32) {
		return nil, &ConfigError{Field: "OTP", Expected: "8 to 32 characters", Got: fmt.Sprintf("%d characters", cfg.OTP.Len())}
	}

	d.localPass = cfg.LocalSystemPassword
	if d.localPass.IsZero() {
		p, err := amt.GeneratePassword(d.rand)
		if err != nil {
			return nil, err
		}
		d.localPass = p
	}

	if cfg.OnDie {
		d.odca = cfg.OnDieCA
		if d.odca == nil {
			ca, err := NewOnDieCA(d.keys, d.now, d.rand)
			if err != nil {
				return nil, err
			}
			d.odca = ca
		}
	}

	d.wr = &wsmantest.Writer{Server: "Intel(R) Active Management Technology " + v.String()}
	d.enums.MaxOpen = 16
	if err := d.resetState(true); err != nil {
		return nil, err
	}
	hashes := cfg.RootHashes
	if hashes == nil {
		hashes = defaultHashesFor(d.fw)
	} else {
		hashes = slices.Clone(hashes)
		for i := range hashes {
			hashes[i].Default = true
		}
	}
	d.st.hashes = hashes
	for _, h := range cfg.UserRootHashes {
		h.Default = false
		if err := d.addRootHashLocked(h); err != nil {
			return nil, err
		}
	}
	d.st.mebx = cfg.MEBxPassword
	d.st.mebxDefault = cfg.MEBxPassword.IsZero() || cfg.MEBxPassword.Reveal() == "admin"
	if d.st.mebx.IsZero() {
		d.st.mebx = amt.NewSecret("admin")
	}
	d.st.otp = cfg.OTP
	d.st.clockOffset = cfg.ClockOffset
	d.st.tlsArmed = true // the TLS listener arms at Start
	d.st.opDisabled = cfg.AMTDisabled
	d.st.pkiSuffix = cfg.TrustedDNSSuffix
	d.digest.init(d)
	return d, nil
}

// resetState puts the device into factory pre-provisioning (full) or the
// state a partial unprovision leaves. d.mu is held (or the device is new).
func (d *Device) resetState(full bool) error {
	st := &d.st
	st.prov = amt.PreProvisioning
	st.mode = amt.ControlModeNone
	st.zeroTch = !d.cfg.RemoteConfigurationDisabled
	st.allowed = []uint8{2, 1}
	if d.cfg.ClientControlModeDisabled {
		st.allowed = []uint8{2}
	}
	st.windowEnd = d.now().Add(d.window())
	st.netClosed = false
	st.contacted = false
	st.agentStarted = false
	st.helloSent = 0
	nonce, err := newNonce(d.rand)
	if err != nil {
		return err
	}
	st.nonce = nonce
	st.chain, st.chainStatus, st.adminSetups = nil, 0, 0
	st.record = nil
	st.hb = hbState{}
	if full || st.general == nil {
		st.general = defaultGeneral(&d.cfg, d.fw, d.realm)
		st.adminUser = adminUserDefault
		st.adminA1 = a1(adminUserDefault, d.realm, "admin")
		st.adminDefault, st.adminNetDef = true, true
	}
	st.users = []*aclEntry{{handle: 1, user: "$$uns", perm: 0, realms: []uint32{16}, enabled: true, system: true}}
	st.nextUser = 2
	st.certs, st.nextCert = nil, 0
	st.keys, st.nextKey = nil, 0
	st.tlsRemote, st.tlsLocal = tlsSetting{}, tlsSetting{}
	st.tlsCert = -1
	st.applied = appliedTLS{}
	st.ieee8021x = defaultIEEE8021x()
	st.ieeeClientCert, st.ieeeServerCert = -1, -1
	st.profile = defaultProfile()
	st.profClientCert, st.profServerIssue = -1, -1
	st.ieeePassword = amt.Secret{}
	st.net = defaultNet() // profiles referred to the certificates deleted above
	st.ra = newRAState()  // an unprovision erases the CIRA configuration (cira.go closes the tunnel)
	if full {
		d.pskRotated = nil // back to the device's own pair (cls_psk.go)
	}
	d.ciraKick()
	st.localTimeSync, st.timeSource = 0, 0
	if full {
		// A full unprovision deletes user-added root hashes
		// (device-management-toolkit/docs
		// docs/Reference/Certificates/generateProvisioningCert.md) and restores
		// the factory entries.
		var keep []RootHash
		for _, h := range st.hashes {
			if h.Default {
				h.Active = true
				keep = append(keep, h)
			}
		}
		st.hashes = keep
	}
	return nil
}

func (d *Device) window() time.Duration {
	if d.cfg.ProvisioningWindow > 0 {
		return d.cfg.ProvisioningWindow
	}
	return 24 * time.Hour
}

func randomUUID(r io.Reader) (amt.UUID, error) {
	var u amt.UUID
	if _, err := io.ReadFull(r, u[:]); err != nil {
		return u, err
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u, nil
}

// UUID returns the UUID the device reports (in hellos and, unless it is a
// rogue reporting its true one, GetUuid).
func (d *Device) UUID() amt.UUID { return d.uuid }

// Version returns the simulated firmware version.
func (d *Device) Version() amt.Version { return d.fw.Version }

// Firmware returns the facts of the simulated version, amt.FirmwareFor of
// [Device.Version]: the simulator takes every version-dependent behaviour
// from them (where a fact holds on some platforms only, Config.Legacy15,
// TLSOnly and RSAKeyExchangeOnly choose the platform).
func (d *Device) Firmware() amt.Firmware { return d.fw }

// DigestRealm returns AMT_GeneralSettings.DigestRealm.
func (d *Device) DigestRealm() string { return d.realm }

// OnDieCA returns the CA that issued the device certificate, or nil for a
// device without an On-Die certificate.
func (d *Device) OnDieCA() *OnDieCA { return d.odca }

// LocalSystemAccount returns the $$OsAdmin user and password a local agent
// would read from the firmware (PTHI CFG_GetLocalSystemAccount) for host-based
// setup over the HTTP listener.
func (d *Device) LocalSystemAccount() (user string, password amt.Secret) {
	return localSystemUser, d.localPass
}

// DNSSuffix returns the suffix provisioning certificates are matched against:
// the PKI DNS suffix (Config.TrustedDNSSuffix or the last SetPKIDNSSuffix),
// else Config.DHCPDNSSuffix.
func (d *Device) DNSSuffix() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dnsSuffixLocked()
}

func (d *Device) dnsSuffixLocked() string {
	return deviceSuffix(d.st.pkiSuffix, d.cfg.DHCPDNSSuffix)
}

// clock returns the device's clock.
func (d *Device) clock() time.Time {
	d.mu.Lock()
	off := d.st.clockOffset
	d.mu.Unlock()
	return d.now().Add(off)
}

// AdminPasswordIs reports whether pw is the admin password the device stores
// (it compares MD5(user:realm:pw) with the stored digest, as firmware would).
func (d *Device) AdminPasswordIs(pw amt.Secret) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return secretEqual(a1(d.st.adminUser, d.realm, pw.Reveal()), d.st.adminA1)
}

// UserDigest returns the digest credential (MD5(user:realm:password), as
// AddUserAclEntryEx sends it) the device stores for a user account: what an
// impostor posing as this device learns of the account. ok is false when the
// device has no such digest account.
func (d *Device) UserDigest(user string) (a1 [16]byte, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.st.users {
		if e.user == user && len(e.a1) == 16 {
			return [16]byte(e.a1), true
		}
	}
	return a1, false
}

// UserDigestIs reports whether a1 logs in to the device's user account user
// (firmware compares the stored digest credential).
func (d *Device) UserDigestIs(user string, a1 [16]byte) bool {
	got, ok := d.UserDigest(user)
	return ok && secretEqual(got[:], a1[:])
}

// MEBxPasswordIs reports whether pw is the current MEBx password.
func (d *Device) MEBxPasswordIs(pw amt.Secret) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.mebx.Equal(pw)
}

// StartConfiguration is what a local agent does through PTHI
// (CFG_StartConfiguration / the OTP commands): it sets the OTP (8–32
// characters, or none), moves a pre-provisioning device to in-provisioning,
// (re)opens the provisioning window and starts the hello cycle again. In the
// simulator, a device a configuration server contacted and then left (its
// server died before finishing) sends hellos again only when triggered like
// this; no public source found says whether real firmware resumes its hellos
// on its own. On AMT 2.2 and 2.6 it is the only way to start remote
// configuration.
func (d *Device) StartConfiguration(otp amt.Secret) error {
	if !otp.IsZero() && (otp.Len() < 8 || otp.Len() > 32) {
		return &ConfigError{Field: "OTP", Expected: "8 to 32 characters", Got: fmt.Sprintf("%d characters", otp.Len())}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.prov == amt.PostProvisioning {
		return fmt.Errorf("%w: the device is already provisioned", ErrState)
	}
	if !otp.IsZero() {
		d.st.otp = otp
	}
	d.st.prov = amt.InProvisioning
	d.st.agentStarted = true
	d.st.netClosed = false
	d.st.windowEnd = d.now().Add(d.window())
	d.st.contacted, d.st.helloSent = false, 0
	return nil
}

// ErrState is returned by the device-side helpers when the device is in the
// wrong state for them.
var ErrState = errors.New("amtsim: operation not possible in the device's state")

// ErrSlotsFull is returned when the root-hash table has no free user slot.
var ErrSlotsFull = errors.New("amtsim: no free user root-hash slot")

// AddRootHash adds a user root hash as setup.bin or MEBx would (a full
// unprovision removes it). Strict firmware refuses SHA-1.
func (d *Device) AddRootHash(h RootHash) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	h.Default = false
	return d.addRootHashLocked(h)
}

func (d *Device) addRootHashLocked(h RootHash) error {
	if !h.Hash.Valid() {
		return &ConfigError{Field: "RootHash", Expected: "a known algorithm with a digest of its length", Got: h.Hash.String()}
	}
	if d.plat.strict && h.Hash.Alg == amt.HashSHA1 {
		return &ConfigError{Field: "RootHash", Expected: "SHA-256 or longer (SHA-1 hashes cannot be added from ME 15/16)", Got: "SHA-1"}
	}
	users := 0
	for _, x := range d.st.hashes {
		if x.Hash.Equal(h.Hash) {
			return &ConfigError{Field: "RootHash", Expected: "a hash not yet in the table", Got: h.Hash.String()}
		}
		if !x.Default {
			users++
		}
	}
	if users >= d.fw.UserHashSlots {
		return ErrSlotsFull
	}
	d.st.hashes = append(d.st.hashes, h)
	return nil
}

// SetRootHashActive activates or deactivates a table entry (as MEBx can).
func (d *Device) SetRootHashActive(h amt.CertHash, active bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.st.hashes {
		if d.st.hashes[i].Hash.Equal(h) {
			d.st.hashes[i].Active = active
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not in the table", ErrState, h)
}

// SetUnresponsive makes the device stop (or resume) answering: connections
// are accepted and never served, as wedged firmware does.
func (d *Device) SetUnresponsive(v bool) {
	d.mu.Lock()
	d.st.unresponsive = v
	d.mu.Unlock()
}

// activeHashes returns the active entries (what a hello lists). d.mu held.
func (d *Device) activeHashesLocked() []amt.CertHash {
	var out []amt.CertHash
	for _, h := range d.st.hashes {
		if h.Active && !(d.plat.strict && h.Hash.Alg == amt.HashSHA1) {
			out = append(out, amt.CertHash{Alg: h.Hash.Alg, Sum: slices.Clone(h.Hash.Sum)})
		}
	}
	return out
}

// remoteOpenLocked reports whether the network interface accepts remote
// sessions: always once provisioned, else while the provisioning window is
// open. d.mu held.
func (d *Device) remoteOpenLocked() bool {
	if d.st.prov == amt.PostProvisioning {
		return true
	}
	return !d.st.netClosed && d.now().Before(d.st.windowEnd)
}

func (d *Device) chainPolicyLocked() chainPolicy {
	return chainPolicy{
		fw:     d.fw,
		plat:   d.plat,
		hashes: slices.Clone(d.st.hashes),
		suffix: d.dnsSuffixLocked(),
		perTLD: d.cfg.Behavior.PerTLDSuffixRule,
		now:    d.now().Add(d.st.clockOffset),
	}
}

func (d *Device) recordHandshake(h HandshakeRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.st.handshakes) >= maxHandshakeLog {
		d.st.handshakes = slices.Delete(d.st.handshakes, 0, 1)
	}
	d.st.handshakes = append(d.st.handshakes, h)
}

func (d *Device) debug(msg string, attrs ...slog.Attr) {
	if d.log != nil {
		d.log.LogAttrs(context.Background(), slog.LevelDebug, msg, append([]slog.Attr{slog.String("uuid", d.uuid.String())}, attrs...)...)
	}
}

// deviceNames returns the names a pre-19 device certificate carries.
func (d *Device) deviceNames() deviceNames {
	var n deviceNames
	if !d.fw.DeviceCertHasHostName {
		return n
	}
	d.mu.Lock()
	host, dom := d.st.general["HostName"], d.st.general["DomainName"]
	d.mu.Unlock()
	if host != "" {
		if dom == "" {
			dom = d.DNSSuffix()
		}
		if dom != "" {
			n.dns = append(n.dns, strings.ToLower(host+"."+dom))
		} else {
			n.dns = append(n.dns, strings.ToLower(host))
		}
	}
	ip := net.ParseIP(d.listenIP())
	if ip != nil {
		n.ips = append(n.ips, ip)
	}
	return n
}

func (d *Device) listenIP() string {
	if d.cfg.ListenIP != "" {
		return d.cfg.ListenIP
	}
	return "127.0.0.1"
}

// DeviceCertificate returns the certificate the device presents on its TLS
// listener before provisioning (self-signed, or issued by the On-Die CA),
// creating it on first use.
func (d *Device) DeviceCertificate() (*x509.Certificate, error) {
	c, err := d.identity()
	if err != nil {
		return nil, err
	}
	return c.Leaf, nil
}

// PresentedCertificate returns the certificate a provisioned device's TLS
// ports (remote and local) present now, as a client reading it once would
// see it (openssl s_client): the TLS certificate a profile installed, or else
// the firmware's own self-signed one. It is what an operator pins to reach
// the local TLS port of a platform that enforces TLS there
// (wsman.PinSHA256). Before provisioning the ports present other
// certificates ([Device.DeviceCertificate], the On-Die chain of
// [Device.LocalOnDieCA]) and it fails, as it does when the provisioned device
// serves no TLS.
func (d *Device) PresentedCertificate() (*x509.Certificate, error) {
	d.mu.Lock()
	prov, applied := d.st.prov, d.st.applied
	d.mu.Unlock()
	switch {
	case prov != amt.PostProvisioning:
		return nil, fmt.Errorf("amtsim: the device is in %s, not provisioned", prov)
	case applied.enabled && applied.cert != nil:
		return applied.cert, nil
	case d.fw.DefaultTLSCertificate:
		id, err := d.selfSignedTLS()
		if err != nil {
			return nil, err
		}
		return id.Leaf, nil
	}
	return nil, errors.New("amtsim: TLS is not configured on the provisioned device")
}

func (d *Device) identity() (*tls.Certificate, error) {
	d.idMu.Lock()
	defer d.idMu.Unlock()
	if d.idCert != nil {
		return d.idCert, nil
	}
	key, err := d.keys.RSAKey(2048)
	if err != nil {
		return nil, fmt.Errorf("amtsim: device key: %w", err)
	}
	var cert *x509.Certificate
	if d.odca != nil {
		cert, err = d.odca.issue(d.true_, key.Public(), d.deviceNames(), !d.cfg.OnDieUnnamed)
	} else {
		cert, err = selfSigned(d.rand, d.now(), key, d.deviceNames(), !d.fw.DeviceCertHasHostName)
	}
	if err != nil {
		return nil, err
	}
	d.idCert = &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	return d.idCert, nil
}

// selfSignedTLS is the certificate a device provisioned without TLS serves on
// 16993 (CSME 16.1 and later): its own self-signed one.
func (d *Device) selfSignedTLS() (*tls.Certificate, error) {
	if d.odca == nil {
		return d.identity()
	}
	id, err := d.identity()
	if err != nil {
		return nil, err
	}
	d.idMu.Lock()
	defer d.idMu.Unlock()
	if d.ssCert != nil {
		return d.ssCert, nil
	}
	key, ok := id.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("amtsim: device key is not a signer")
	}
	cert, err := selfSigned(d.rand, d.now(), key, d.deviceNames(), !d.fw.DeviceCertHasHostName)
	if err != nil {
		return nil, err
	}
	d.ssCert = &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	return d.ssCert, nil
}
