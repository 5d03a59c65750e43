package provisioning

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/wsman"
)

// HostAgent is the local agent's side that host-based activation over TLS,
// deactivation and recovery need: PTHI commands to the management engine over
// MEI. *pthi.Client (amt/pthi) implements it; provisioning does not import
// amt/pthi, so any implementation fits (a remote agent, a fake).
type HostAgent interface {
	// ProvisioningState and ControlMode read the firmware's state over the
	// host interface, which works whatever the network ports do.
	HostStateReader
	// LocalSystemCredentials returns the $$OsAdmin account.
	LocalSystemCredentials(ctx context.Context) (user string, password amt.Secret, err error)
	// StartSecureConfiguration sends StartConfigurationHBased with the hash
	// of the provisioning certificate's leaf and returns the hash of the TLS
	// certificate AMT will present on its local TLS port.
	StartSecureConfiguration(ctx context.Context, provisioningLeaf amt.CertHash) (deviceLeaf amt.CertHash, err error)
	// StopConfiguration returns an in-provisioning device to pre-provisioning.
	StopConfiguration(ctx context.Context) error
	// Unprovision deactivates client control mode (and the in-provisioning
	// half-state) over the host interface.
	Unprovision(ctx context.Context) error
}

// AMTEnabler is implemented by a [HostAgent] that can switch on AMT's
// operational state where the platform ships it disabled (*pthi.Client with a
// watchdog transport). ActivateTLS calls it first, as rpc-go does.
type AMTEnabler interface {
	EnsureAMTEnabled(ctx context.Context) (changed bool, err error)
}

// Steps of host-based activation over TLS, deactivation and recovery (with
// StepConnect, StepConfigure, StepCommit, StepVerify and StepUnprovision).
const (
	StepEnableAMT          Step = "enable-amt"          // SetAmtOperationalState where AMT was disabled
	StepStartConfiguration Step = "start-configuration" // StartConfigurationHBased over PTHI
	StepStopConfiguration  Step = "stop-configuration"  // StopConfiguration over PTHI after a failure
	StepRecover            Step = "recover"             // recovery of a device stuck in provisioning
)

// ErrInProvisioning: the device is "in provisioning" (a configuration started
// and never finished); it must be returned to pre-provisioning first
// ([RecoverInProvisioning]), as MeshCentral stops the configuration before it
// activates.
var ErrInProvisioning = errors.New("provisioning: device is in provisioning: recover it first")

// DefaultLocalTLSAddr is where LMS serves AMT's local TLS port: the loopback
// address itself, not "localhost", which on some managed devices resolves
// through DNS to routable addresses where dials time out (rpc-go
// pkg/utils/constants.go, LMSAddress, changed in pull request 1466).
const DefaultLocalTLSAddr = "127.0.0.1:16993"

// TLSActivationOptions tune [ActivateTLS]. The zero value with OnDieRoots and
// a MEBx password (HostBasedOptions.MEBxPassword, or LeaveMEBxPassword) set
// activates in admin control mode through LMS at 127.0.0.1:16993
// ([DefaultLocalTLSAddr]); with Mode amt.ControlModeCCM, OnDieRoots alone is
// enough.
type TLSActivationOptions struct {
	// HostBasedOptions: Observer, UUID, Now, TrustedHashes, DNSSuffix and, for admin
	// control mode, MEBxPassword (or LeaveMEBxPassword). SignIn is not used.
	HostBasedOptions
	// Mode is amt.ControlModeACM (also the zero value) or amt.ControlModeCCM.
	Mode amt.ControlMode
	// OnDieRoots are the On-Die CA roots AMT's local certificate must chain
	// to (Intel's root: [IsIntelOnDieRoot]). Required.
	OnDieRoots *x509.CertPool
	// HardwareID, when set, binds the chain to the platform as well (its UPID
	// hardware serial; see [OnDieCheck]). Client control mode has no
	// StartConfigurationHBased hash to bind with, so without it the peer is
	// proven to be genuine Intel firmware, not this platform's.
	HardwareID []byte
	// Addr is LMS's local TLS port. Empty: [DefaultLocalTLSAddr].
	Addr string
	// Dial opens the TCP connection to Addr. Nil: a net.Dialer. Inject another
	// transport (an LME/APF tunnel over MEI, a test's) here.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// WSManOptions are added to every client (a logger, a call timeout …).
	WSManOptions []wsman.Option
	// Attempts bounds StartConfigurationHBased and the first request after it
	// (rpc-go: 3 attempts; AMT re-arms its local TLS listener after
	// StartConfigurationHBased and may reset the first connection, rpc-go
	// pull request 1385) and the state read-backs after a dropped commit
	// (rpc-go: 3). Zero: 3.
	Attempts int
	// RetryDelay is the pause between those attempts. Zero: 2 s (rpc-go
	// hbcBackoff).
	RetryDelay time.Duration
	// CommitDelay is the pause between state read-backs after a dropped
	// CommitChanges. Zero: 1 s (rpc-go commitPortRestartDelay).
	CommitDelay time.Duration
	// Sleep waits between attempts and read-backs. Nil: HostBasedOptions.Sleep
	// (the embedded field this one shadows), else a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o *TLSActivationOptions) attempts() int {
	if o.Attempts > 0 {
		return o.Attempts
	}
	return 3
}

func (o *TLSActivationOptions) sleep(ctx context.Context, d time.Duration) error {
	if o.Sleep != nil {
		return o.Sleep(ctx, d)
	}
	return o.HostBasedOptions.sleep(ctx, d)
}

func (o *TLSActivationOptions) delay(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ActivateTLS activates a device whose platform enforces TLS on its local
// ports (AMT 19 and later, where host-based AdminSetup without TLS is gone)
// through AMT's local TLS port, as rpc-go does
// (internal/commands/activate/local.go):
//
//  1. the device must be in pre-provisioning without a control mode (over
//     PTHI); AMT is switched on first where the platform shipped it disabled
//     (agent implementing [AMTEnabler]; rpc-go enableAMT);
//  2. admin control mode: StartConfigurationHBased with the hash of the
//     provisioning certificate's leaf (SHA-384 for a SHA-384 or SHA-512
//     signed leaf, else SHA-256), up to Attempts times; the firmware answers
//     with the hash of its own TLS certificate and enters "in provisioning";
//  3. TLS to opts.Addr (through opts.Dial), refused before any request byte
//     unless AMT's chain passes [VerifyOnDieChain] against opts.OnDieRoots,
//     bound to this device by the hash from step 2 (and opts.HardwareID when
//     set); in admin control mode the provisioning chain is the client
//     certificate and the session is trusted as the configuration server,
//     in client control mode the local system account signs in;
//  4. admin control mode: the admin account ("admin", adminPassword,
//     SetAdminAclEntryEx) and the MEBx password (opts.MEBxPassword); client
//     control mode: host-based Setup;
//  5. CommitChanges (as the admin account in client control mode, whose
//     connection also takes the device's self-signed certificate while PTHI
//     reports client control mode, as rpc-go does). A
//     dropped reply — the firmware restarts its port stack on commit — is
//     settled by reading the state over PTHI, up to Attempts times
//     CommitDelay apart; only post-provisioning in the requested control
//     mode counts (rpc-go issue 1461);
//  6. on any failure after step 2, StopConfiguration returns the device to
//     pre-provisioning so that activation can be tried again (rpc-go
//     stopConfigOnFailure); a failed commit in client control mode
//     unprovisions instead (rpc-go commitCCMChanges), over PTHI when the
//     local port cannot be used.
//
// Each step emits an event; the last is StepVerify with StateProvisioned.
func ActivateTLS(ctx context.Context, agent HostAgent, bundle certs.Bundle, adminPassword amt.Secret, opts TLSActivationOptions) error {
	a := &tlsActivation{agent: agent, bundle: bundle, admin: adminPassword, o: &opts, mode: opts.Mode}
	if a.mode == amt.ControlModeNone {
		a.mode = amt.ControlModeACM
	}
	return a.run(ctx)
}

type tlsActivation struct {
	agent  HostAgent
	bundle certs.Bundle
	admin  amt.Secret
	o      *TLSActivationOptions
	mode   amt.ControlMode

	deviceLeaf amt.CertHash // from StartConfigurationHBased
	started    bool         // StartConfigurationHBased succeeded
	unsure     bool         // a StartConfigurationHBased got no firmware answer: it may have started
	committed  bool         // CommitChanges succeeded: nothing is stopped after it
	peerMu     sync.Mutex
	peer       string // what the TLS policy saw, for the connect event
}

// step runs one step and emits its event; on failure the error is a
// *SessionError carrying the step and reason.
func (a *tlsActivation) step(ctx context.Context, step Step, state State, fn func(context.Context) (string, error)) error {
	return hostBasedStep(ctx, &a.o.HostBasedOptions, step, state, fn)
}

func (a *tlsActivation) run(ctx context.Context) error {
	if err := a.step(ctx, StepAuthorize, StateAuthorized, a.check); err != nil {
		return err
	}
	if en, ok := a.agent.(AMTEnabler); ok {
		if err := a.step(ctx, StepEnableAMT, StateAuthorized, func(ctx context.Context) (string, error) {
			changed, err := en.EnsureAMTEnabled(ctx)
			switch {
			case err != nil:
				// rpc-go goes on when the state cannot be read or changed
				// from the host (old interface); a refusal to enable is
				// final.
				var st amt.Status
				if errors.As(err, &st) {
					return "", fmt.Errorf("enabling AMT: %w", err)
				}
				return "operational state not changed: " + err.Error(), nil
			case changed:
				return "AMT was disabled; enabled (SetAmtOperationalState)", nil
			}
			return "AMT operational", nil
		}); err != nil {
			return err
		}
	}
	if a.mode == amt.ControlModeACM {
		if err := a.step(ctx, StepStartConfiguration, StateAuthorized, a.start); err != nil {
			// A request whose reply was lost may have started the
			// configuration, and the retries were refused: a device left in
			// provisioning is stopped (check refused one in provisioning
			// before, so it is this attempt's).
			if a.unsure {
				if st, rerr := a.agent.ProvisioningState(ctx); rerr == nil && st == amt.InProvisioning {
					a.stop(ctx)
				}
			}
			return err
		}
	}
	err := a.activate(ctx)
	if err != nil && a.started && !a.committed {
		a.stop(ctx)
	}
	return err
}

// check validates the inputs and the device's state before anything changes.
func (a *tlsActivation) check(ctx context.Context) (string, error) {
	if a.o.OnDieRoots == nil {
		return "", fmt.Errorf("%w: set TLSActivationOptions.OnDieRoots", ErrNoOnDieRoots)
	}
	if a.mode != amt.ControlModeACM && a.mode != amt.ControlModeCCM {
		return "", fmt.Errorf("%w: mode must be ACM or CCM, got %s", errBundle, a.mode)
	}
	if err := checkAdminPassword(a.admin); err != nil {
		return "", err
	}
	if a.mode == amt.ControlModeACM {
		if err := checkSigningBundle(a.bundle, &a.o.HostBasedOptions); err != nil {
			return "", err
		}
		if err := checkMEBx(&a.o.HostBasedOptions, false); err != nil {
			return "", err
		}
	}
	st, err := a.agent.ProvisioningState(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the provisioning state over PTHI: %w", err)
	}
	mode, err := a.agent.ControlMode(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the control mode over PTHI: %w", err)
	}
	switch {
	case st == amt.InProvisioning:
		return "", fmt.Errorf("%w (control mode %s)", ErrInProvisioning, mode)
	case st == amt.PostProvisioning || mode != amt.ControlModeNone:
		return "", fmt.Errorf("%w (%s, %s)", ErrAlreadyActivated, st, mode)
	}
	return fmt.Sprintf("%s over TLS: device in %s", a.mode, st), nil
}

// serverHash is the StartConfigurationHBased hash of the provisioning leaf:
// SHA-384 for a leaf signed with SHA-384 or SHA-512, else SHA-256 (rpc-go picks
// the algorithm from the leaf's signature the same way).
func serverHash(leaf *x509.Certificate) (amt.CertHash, error) {
	switch leaf.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384,
		x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		return amt.HashSHA384.Sum(leaf.Raw)
	case x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256:
		return amt.HashSHA256.Sum(leaf.Raw)
	}
	return amt.CertHash{}, fmt.Errorf("%w: the provisioning leaf is signed with %v; StartConfigurationHBased takes SHA-256 or SHA-384", errBundle, leaf.SignatureAlgorithm)
}

// transient reports whether a PTHI failure may clear by itself: a transport
// error, or a firmware that is busy or still preparing its random generator
// or certificate — as it is just after AMT was switched on (rpc-go retries
// StartConfigurationHBased on any failure, "transient AMT FW / HECI
// instability"; PT_STATUS 47–49 are the not-ready statuses of its
// pkg/pthi/status.go).
func transient(err error) bool {
	var st amt.Status
	if !errors.As(err, &st) {
		return true
	}
	switch st {
	case amt.StatusNotReady, amt.StatusInternalError, amt.StatusRNGGenerationInProgress, amt.StatusRNGNotReady, amt.StatusCertificateNotReady:
		return true
	}
	return false
}

// start sends StartConfigurationHBased.
func (a *tlsActivation) start(ctx context.Context) (string, error) {
	h, err := serverHash(a.bundle.Leaf())
	if err != nil {
		return "", err
	}
	var last error
	for i := 0; i < a.o.attempts(); i++ {
		if i > 0 {
			if err := a.o.sleep(ctx, a.o.delay(a.o.RetryDelay, 2*time.Second)); err != nil {
				return "", err
			}
		}
		dl, err := a.agent.StartSecureConfiguration(ctx, h)
		if err == nil {
			if !dl.Valid() {
				return "", fmt.Errorf("StartConfigurationHBased answered an unusable certificate hash %s", dl)
			}
			a.deviceLeaf, a.started = dl, true
			return fmt.Sprintf("StartConfigurationHBased: provisioning leaf %s…, AMT's certificate %s…; in provisioning",
				short(h), short(dl)), nil
		}
		last = err
		var st amt.Status
		a.unsure = a.unsure || !errors.As(err, &st)
		if !transient(err) || ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("StartConfigurationHBased: %w", last)
}

func short(h amt.CertHash) string {
	s := h.String()
	if len(s) > 24 {
		return s[:24]
	}
	return s
}

// client opens a WS-Management client to the local TLS port for user, with
// the provisioning chain as client certificate when withChain. afterSetup
// also accepts, in place of the On-Die chain, the single self-signed
// certificate a device may serve once host-based Setup set its control mode,
// provided PTHI — the host interface, which no process can stand in for —
// reports that control mode (rpc-go internal/certs/lmsTls.go,
// HandleAMTTransition, "ccm on tls only platforms").
func (a *tlsActivation) client(user string, password amt.Secret, withChain, afterSetup bool) (*amt.Device, error) {
	addr := a.o.Addr
	if addr == "" {
		addr = DefaultLocalTLSAddr
	}
	dial := a.o.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second}
		dial = d.DialContext
	}
	check := OnDieCheck{Roots: a.o.OnDieRoots, LeafHash: a.deviceLeaf, HardwareID: a.o.HardwareID, Now: a.o.Now}
	opts := append([]wsman.Option{
		wsman.WithDialer(dial),
		wsman.WithDigestAuth(user, password.Reveal()),
		wsman.WithTLS(wsman.VerifyFunc(func(ctx context.Context, cs tls.ConnectionState) error {
			if err := VerifyOnDieChain(cs.PeerCertificates, check); err != nil {
				if !afterSetup || len(cs.PeerCertificates) != 1 || !selfSignedCert(cs.PeerCertificates[0]) {
					return err
				}
				if mode, merr := a.agent.ControlMode(ctx); merr != nil || mode != a.mode {
					return fmt.Errorf("%w (the device's self-signed certificate is taken after Setup only while PTHI reports %s; it reports %s, %v)", err, a.mode, mode, merr)
				}
				a.peerMu.Lock()
				a.peer = fmt.Sprintf("%s, self-signed certificate after Setup, %s confirmed over PTHI", tls.VersionName(cs.Version), a.mode)
				a.peerMu.Unlock()
				return nil
			}
			a.peerMu.Lock()
			a.peer = fmt.Sprintf("%s, On-Die chain of %d verified", tls.VersionName(cs.Version), len(cs.PeerCertificates))
			if a.deviceLeaf.Valid() {
				a.peer += ", leaf bound by StartConfigurationHBased"
			}
			if a.o.HardwareID != nil {
				a.peer += ", ROM CA bound to the hardware ID"
			}
			a.peerMu.Unlock()
			return nil
		})),
	}, a.o.WSManOptions...)
	if withChain {
		opts = append(opts, wsman.WithGetClientCertificate(a.bundle.GetClientCertificate()))
	}
	c, err := amt.NewClient("https://"+addr+"/wsman", opts...)
	if err != nil {
		return nil, err
	}
	return amt.NewDevice(c), nil
}

// firstRead reads the general settings, retrying a connection reset: after
// StartConfigurationHBased AMT re-arms its local TLS listener and may reset
// the first request (rpc-go pull request 1385; AMT 21 with TLS 1.3, rpc-go
// pull request 1381). A refused certificate is final.
func (a *tlsActivation) firstRead(ctx context.Context, dev *amt.Device) (*amt.GeneralSettings, int, error) {
	var last error
	for i := 0; i < a.o.attempts(); i++ {
		if i > 0 {
			if err := a.o.sleep(ctx, a.o.delay(a.o.RetryDelay, 2*time.Second)); err != nil {
				return nil, i, err
			}
		}
		gs, err := dev.GeneralSettings(ctx)
		if err == nil {
			return gs, i + 1, nil
		}
		last = err
		var te *wsman.TransportError
		if isUntrusted(err) || !errors.As(err, &te) || ctx.Err() != nil {
			break
		}
	}
	return nil, a.o.attempts(), last
}

// activate runs the TLS part: connect, configure, commit, verify.
func (a *tlsActivation) activate(ctx context.Context) error {
	var (
		dev   *amt.Device
		realm string
	)
	err := a.step(ctx, StepConnect, StateConnected, func(ctx context.Context) (string, error) {
		user, pw := adminUserName, a.admin
		if a.mode == amt.ControlModeCCM {
			var err error
			if user, pw, err = a.agent.LocalSystemCredentials(ctx); err != nil {
				return "", fmt.Errorf("reading the local system account over PTHI: %w", err)
			}
		}
		var err error
		if dev, err = a.client(user, pw, a.mode == amt.ControlModeACM, false); err != nil {
			return "", err
		}
		gs, tries, err := a.firstRead(ctx, dev)
		if err != nil {
			return "", err
		}
		if err := checkRealm(gs.DigestRealm); err != nil {
			return "", err
		}
		realm = gs.DigestRealm
		a.peerMu.Lock()
		peer := a.peer
		a.peerMu.Unlock()
		how := "provisioning certificate as client"
		if a.mode == amt.ControlModeCCM {
			how = "as " + user
		}
		if tries > 1 {
			how += fmt.Sprintf("; %d attempt(s) reset first (AMT re-armed its listener)", tries-1)
		}
		return fmt.Sprintf("TLS to AMT's local port (%s), %s", peer, how), nil
	})
	if err != nil {
		return err
	}
	if a.mode == amt.ControlModeCCM {
		return a.activateCCM(ctx, dev, realm)
	}
	err = a.step(ctx, StepConfigure, StateConfigured, func(ctx context.Context) (string, error) {
		if err := dev.SetAdminACLEntryEx(ctx, adminUserName, a.admin, realm); err != nil {
			return "", fmt.Errorf("SetAdminAclEntryEx: %w", err)
		}
		if a.o.LeaveMEBxPassword {
			return "admin account set; MEBx password left as it was", nil
		}
		if err := dev.SetMEBxPassword(ctx, a.o.MEBxPassword); err != nil {
			if errors.Is(err, amt.StatusNotPermitted) {
				// The MEBx password is no longer the factory default (an
				// earlier attempt of this activation set it before it was
				// stopped, or it was set in MEBx or by setup.bin) and the
				// policy allows no change: CommitChanges only needs it
				// changed from the default (it answers 2057 otherwise), as in
				// a remote session.
				return "admin account set; MEBx password not set: the device refused a new one (not permitted: no longer the factory default) and keeps the one it has, left as it is (an earlier attempt of this activation may have set it)", nil
			}
			return "", fmt.Errorf("SetMEBxPassword: %w", err)
		}
		return "admin account set; MEBx password set", nil
	})
	if err != nil {
		return err
	}
	if err := a.step(ctx, StepCommit, StateCommitted, func(ctx context.Context) (string, error) {
		return a.commit(ctx, dev)
	}); err != nil {
		return err
	}
	return a.step(ctx, StepVerify, StateProvisioned, a.verify)
}

// activateCCM is host-based Setup over the local TLS port, then the admin's
// commit.
func (a *tlsActivation) activateCCM(ctx context.Context, dev *amt.Device, realm string) error {
	err := a.step(ctx, StepConfigure, StateConfigured, func(ctx context.Context) (string, error) {
		hb, err := dev.HostBasedSetup(ctx)
		if err != nil {
			return "", err
		}
		if !containsMode(hb.AllowedControlModes, amt.ControlModeCCM) {
			return "", fmt.Errorf("%w: CCM (allowed: %v)", ErrModeNotAllowed, hb.AllowedControlModes)
		}
		err = dev.Setup(ctx, a.admin, realm, nil)
		st, detail, err := confirmActivation(ctx, dev, a.agent, true, err, amt.ControlModeCCM, "Setup", a.o.sleep)
		if err != nil {
			return "", err
		}
		if st == amt.PreProvisioning {
			detail += " (waits for the admin's CommitChanges)"
		}
		return detail, nil
	})
	if err != nil {
		return err
	}
	err = a.step(ctx, StepCommit, StateCommitted, func(ctx context.Context) (string, error) {
		admin, err := a.client(adminUserName, a.admin, false, true)
		if err != nil {
			return "", err
		}
		detail, err := a.commit(ctx, admin)
		if err != nil && !errors.Is(err, ErrActivationUnconfirmed) {
			// A refused commit: unprovision, as rpc-go does — over the host
			// interface when the local port cannot be used.
			if uerr := admin.Unprovision(ctx); uerr != nil {
				if perr := a.agent.Unprovision(ctx); perr != nil {
					return "", fmt.Errorf("%w; unprovisioning after it failed too: %v; over PTHI: %v", err, uerr, perr)
				}
				return "", fmt.Errorf("%w (the device was unprovisioned over PTHI)", err)
			}
			return "", fmt.Errorf("%w (the device was unprovisioned)", err)
		}
		return detail, err
	})
	if err != nil {
		return err
	}
	return a.step(ctx, StepVerify, StateProvisioned, a.verify)
}

// selfSignedCert reports whether c is issued by itself and signed by its own
// key.
func selfSignedCert(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func containsMode(list []amt.ControlMode, m amt.ControlMode) bool {
	for _, x := range list {
		if x == m {
			return true
		}
	}
	return false
}

// commit sends CommitChanges; a lost reply is settled over PTHI. A device
// that then reads in provisioning in the requested mode gets the commit once
// more (see settle).
func (a *tlsActivation) commit(ctx context.Context, dev *amt.Device) (string, error) {
	var errs []error
	for send := 0; send < 2; send++ {
		err := dev.CommitChanges(ctx)
		switch {
		case err == nil && send == 0:
			a.committed = true
			return "CommitChanges succeeded", nil
		case err == nil:
			a.committed = true
			return "CommitChanges reply lost and the device still in provisioning (read over PTHI): sent again, succeeded", nil
		case send == 1 && !lostReply(err):
			// The second send failed: refused (a fault), or it could not
			// connect (a halted device may present another certificate; one
			// still restarting from the first commit refuses connections).
			// The state read over PTHI decides.
			if done, _, _, serr := a.settle(ctx); serr == nil && done {
				return "CommitChanges reply lost; sent again, which could not go through (" + firstLine(err) + "); post-provisioning read over PTHI", nil
			}
			return "", fmt.Errorf("%w: CommitChanges: %w (read over PTHI: in provisioning, %s; sent again: %v)", ErrActivationHalted, errors.Join(errs...), a.mode, err)
		case errors.Is(err, amt.StatusDataMissing):
			return "", fmt.Errorf("CommitChanges: %w (the firmware wants the MEBx password changed first: rpc-go's reading of 2057)", err)
		case !lostReply(err):
			return "", fmt.Errorf("CommitChanges: %w", err)
		}
		errs = append(errs, err)
		// The firmware restarted its local port stack under the reply
		// (rpc-go commitActivation): read the state over PTHI.
		done, halted, last, err := a.settle(ctx)
		switch {
		case err != nil:
			return "", err
		case done && send == 0:
			return "CommitChanges reply lost (port stack restart); post-provisioning read over PTHI", nil
		case done:
			return "CommitChanges reply lost and the device still in provisioning (read over PTHI): sent again, its reply lost too; post-provisioning read over PTHI", nil
		case !halted:
			return "", fmt.Errorf("%w: CommitChanges: %w (read over PTHI: %v)", ErrActivationUnconfirmed, errors.Join(errs...), last)
		case send == 1:
			// rpc-go: "a device that halted mid-activation reports ACM/CCM
			// while still sitting in provisioning" (issue 1461).
			return "", fmt.Errorf("%w: CommitChanges (sent twice): %w (read over PTHI %d times: %v)", ErrActivationHalted, errors.Join(errs...), a.o.attempts(), last)
		}
		// In provisioning in the requested mode: what a device whose
		// commit request never arrived reports, and what one that halted
		// mid-activation reports too. The commit is sent once more: it
		// finishes the first, and the second refuses it again.
	}
	panic("unreachable")
}

// settle reads the state over PTHI after a commit whose reply was lost, up
// to Attempts times CommitDelay apart: done when post-provisioning in the
// requested mode; halted when the last read shows the commit not taken (in
// provisioning in that mode, or pre-provisioning in client control mode).
func (a *tlsActivation) settle(ctx context.Context) (done, halted bool, last error, err error) {
	for i := 0; i < a.o.attempts(); i++ {
		if i > 0 {
			if serr := a.o.sleep(ctx, a.o.delay(a.o.CommitDelay, time.Second)); serr != nil {
				return false, false, last, serr
			}
		}
		st, mode, rerr := a.state(ctx)
		switch {
		case rerr != nil:
			last = rerr
		case st == amt.PostProvisioning && mode == a.mode:
			a.committed = true
			return true, false, nil, nil
		default:
			last = fmt.Errorf("%s, %s", st, mode)
			// In provisioning in the requested mode; in client control mode
			// also pre-provisioning, where Setup leaves the device until the
			// admin's commit (rpc-go issue 845): the commit did not take.
			halted = mode == a.mode && (st == amt.InProvisioning || (a.mode == amt.ControlModeCCM && st == amt.PreProvisioning))
		}
	}
	return false, halted, last, nil
}

func (a *tlsActivation) state(ctx context.Context) (amt.ProvisioningState, amt.ControlMode, error) {
	st, err := a.agent.ProvisioningState(ctx)
	if err != nil {
		return 0, 0, err
	}
	mode, err := a.agent.ControlMode(ctx)
	return st, mode, err
}

// verify reads the final state over PTHI, up to Attempts times CommitDelay
// apart: the state can lag a commit that succeeded (rpc-go polls three times
// a second apart after a commit; Intel: "allow sufficient time for Intel AMT
// to reload").
func (a *tlsActivation) verify(ctx context.Context) (string, error) {
	var st amt.ProvisioningState
	var mode amt.ControlMode
	var err error
	for i := 0; i < a.o.attempts(); i++ {
		if i > 0 {
			if serr := a.o.sleep(ctx, a.o.delay(a.o.CommitDelay, time.Second)); serr != nil {
				return "", serr
			}
		}
		st, mode, err = a.state(ctx)
		if err == nil && st == amt.PostProvisioning && mode == a.mode {
			return fmt.Sprintf("%s, %s (read over PTHI)", st, mode), nil
		}
	}
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: reading the state over PTHI: %w", ErrActivationUnconfirmed, err)
	case mode == a.mode:
		return "", fmt.Errorf("%w: %s, %s", ErrActivationHalted, st, mode)
	}
	return "", fmt.Errorf("%w: expected post-provisioning in %s, the device reports %s, %s", ErrActivationUnconfirmed, a.mode, st, mode)
}

// stop sends StopConfiguration after a failure (rpc-go stopConfigOnFailure)
// and reports it as its own event; its failure does not replace the first.
func (a *tlsActivation) stop(ctx context.Context) {
	if st, _, err := a.state(ctx); err == nil && st == amt.PostProvisioning {
		return // nothing to stop: the device finished (a failed read-back)
	}
	_ = a.step(ctx, StepStopConfiguration, StateFailed, func(ctx context.Context) (string, error) {
		if err := a.agent.StopConfiguration(ctx); err != nil {
			return "", fmt.Errorf("StopConfiguration after the failure: %w", err)
		}
		return "StopConfiguration: the device is back in pre-provisioning", nil
	})
}
