package provisioning

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/wsman"
)

// The network areas of reconcile ("8021x-wired", "wifi", "ip"). Each reads
// what the device has and plans the changes that bring it in line with
// Profile.Network; docs/network.md describes the order and the sources.
//
// Certificates follow one rule everywhere: a client certificate is issued
// (AMT generates the key, the Issuer certifies it), recorded as pending,
// bound, read back bound from a fresh connection, and only then made current —
// after which the certificate it replaced is revoked. An interrupted change
// leaves a pending certificate the Maintainer finishes (finishRenewal).

// Secret keys of DeviceRecord.NetworkSecrets.
const secretWired8021X = "8021x-wired"

func wifiSecretKey(name string) string { return "wifi:" + name }

// networkSecret returns the secret reconcile last sent for key.
func (r *DeviceRecord) networkSecret(key string) amt.Secret {
	for _, s := range r.NetworkSecrets {
		if s.Name == key {
			return s.Password
		}
	}
	return amt.Secret{}
}

// setNetworkSecret records (or, for a zero secret, forgets) what was sent;
// forgetting also ends a pending send (see sendingNetworkSecret).
func (r *DeviceRecord) setNetworkSecret(key string, v amt.Secret) {
	r.NetworkSecrets = slices.DeleteFunc(r.NetworkSecrets, func(s UserCredential) bool {
		return s.Name == key || v.IsZero() && s.Name == key+sendingSuffix
	})
	if !v.IsZero() {
		r.NetworkSecrets = append(r.NetworkSecrets, UserCredential{Name: key, Password: v})
	}
}

// sendingSuffix names the marker of a network secret recorded before it was
// sent and not yet confirmed on the device.
const sendingSuffix = " (sending)"

// sendingNetworkSecret records v before it is sent, marked as not yet
// confirmed: if the send is lost (before or after the device acted on it),
// the next run sees the mark and sends it again instead of taking the
// record's value for the device's. The value itself is recorded, so nothing
// is lost either way.
func (r *DeviceRecord) sendingNetworkSecret(key string, v amt.Secret) {
	r.setNetworkSecret(key, v)
	if !v.IsZero() {
		r.setNetworkSecret(key+sendingSuffix, v)
	}
}

// confirmNetworkSecret removes the mark once the device's read-back
// confirmed the change.
func (r *DeviceRecord) confirmNetworkSecret(key string) {
	r.NetworkSecrets = slices.DeleteFunc(r.NetworkSecrets, func(s UserCredential) bool { return s.Name == key+sendingSuffix })
}

// networkSecretInLine reports whether the device has want by the record:
// the last secret sent is want, and its send was confirmed.
func (r *DeviceRecord) networkSecretInLine(key string, want amt.Secret) bool {
	return sameSecret(want, r.networkSecret(key)) && r.networkSecret(key+sendingSuffix).IsZero()
}

// sameSecret reports whether the profile's secret is the one last sent.
func sameSecret(want, sent amt.Secret) bool {
	if want.IsZero() {
		return sent.IsZero()
	}
	return !sent.IsZero() && want.Equal(sent)
}

// clientCert returns the 802.1X client certificate to bind for profile
// (wired: ""): a pending one an interrupted change left on the device, or a
// new one. Issuing anew beside a pending one left it behind, and the
// Maintainer then bound that older one as a renewal and revoked it as
// superseded while the device used it.
func (rc *reconcileContext) clientCert(ctx context.Context, onDevice []amt.PublicKeyCertificate, profile string) (*DeviceCertificate, error) {
	if dc, ok := pendingCertificate(rc.rec.Certificates, certSlot{purpose: PurposeIEEE8021X, profile: profile}); ok &&
		dc.Handle != "" && certOnDevice(onDevice, dc.DER, false) == dc.Handle {
		return dc, nil
	}
	return rc.issueClient(ctx, profile)
}

// certOnDevice returns the handle under which the device holds the
// certificate with DER der ("" when it does not).
func certOnDevice(list []amt.PublicKeyCertificate, der []byte, trustedRoot bool) string {
	for _, c := range list {
		if c.TrustedRoot == trustedRoot && bytes.Equal(c.X509Certificate, der) {
			return c.InstanceID
		}
	}
	return ""
}

func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

// trustRoot installs root as a trusted root (AddTrustedRootCertificate) and
// returns its handle; one the device already holds is looked up. With area
// set, the root is recorded as amtkit's (DeviceRecord.TrustedRoots, for the
// area "roots" to delete once nothing needs it) before it is sent, so that a
// lost reply leaves it known; one the device already held before this call
// and the record did not know is not amtkit's, and the record forgets it
// again. A root for mutual TLS (area "") is never recorded: deleting the
// root the device checks the engine's client certificate against would cut
// the engine off.
func (rc *reconcileContext) trustRoot(ctx context.Context, root *x509.Certificate, area string) (string, error) {
	is := func(t TrustedRoot) bool { return bytes.Equal(t.DER, root.Raw) }
	known := area == "" || slices.ContainsFunc(rc.rec.TrustedRoots, is)
	if !known {
		rc.rec.TrustedRoots = append(rc.rec.TrustedRoots, TrustedRoot{DER: bytes.Clone(root.Raw), Areas: []string{area}})
		if err := rc.save(ctx); err != nil {
			return "", err
		}
	} else if area != "" {
		if err := rc.claimRoot(ctx, root.Raw, area); err != nil {
			return "", err
		}
	}
	h, err := rc.dev.AddTrustedRootCertificate(ctx, root)
	if err == nil {
		return h, nil
	}
	if !errors.Is(err, amt.StatusDuplicate) {
		return "", err
	}
	if !known {
		rc.rec.TrustedRoots = slices.DeleteFunc(rc.rec.TrustedRoots, is)
		if serr := rc.save(ctx); serr != nil {
			return "", serr
		}
	}
	list, lerr := rc.dev.Certificates(ctx)
	if lerr != nil {
		return "", errors.Join(err, lerr)
	}
	if h := certOnDevice(list, root.Raw, true); h != "" {
		return h, nil
	}
	return "", err
}

// issueClient has AMT generate a key and the Issuer certify it for the
// 802.1X configuration of profile ("" wired), records it as pending and
// returns a pointer into the record.
func (rc *reconcileContext) issueClient(ctx context.Context, profile string) (*DeviceCertificate, error) {
	return rc.issue(ctx, PurposeIEEE8021X, profile)
}

// issue has AMT generate a key and the Issuer certify it for purpose (and
// the Wi-Fi profile of an 802.1X certificate), records it as pending and
// returns a pointer into the record.
func (rc *reconcileContext) issue(ctx context.Context, purpose CertificatePurpose, profile string) (*DeviceCertificate, error) {
	var attempts int
	var delay time.Duration
	if t := rc.profile.TLS; t != nil {
		attempts, delay = t.KeyAttempts, t.KeyRetryDelay
	}
	dc, err := rc.p.issueForAMTKey(ctx, rc.dev.Device, &rc.rec.Inventory, &rc.fw, purpose, attempts, delay, func(dc *DeviceCertificate) error {
		return rc.p.recordIssuance(ctx, rc.rec, dc, profile)
	})
	if err != nil {
		return nil, err // an issuance in flight stays recorded: the next run settles it
	}
	installedIssuance(rc.rec, dc, profile)
	if err := rc.save(ctx); err != nil {
		return nil, err
	}
	return rc.pending(dc.DER), nil
}

// pending finds the record's entry for der (entries move when the record is
// merged on save, so pointers are looked up again).
func (rc *reconcileContext) pending(der []byte) *DeviceCertificate {
	for i := range rc.rec.Certificates {
		if bytes.Equal(rc.rec.Certificates[i].DER, der) {
			return &rc.rec.Certificates[i]
		}
	}
	return nil
}

// confirm makes a read-back certificate current, records it, and has the
// one it replaced revoked.
func (rc *reconcileContext) confirm(ctx context.Context, der []byte) error {
	dc := rc.pending(der)
	if dc == nil {
		return errors.New("the new certificate is missing from the record")
	}
	dc.Pending = false
	if err := rc.save(ctx); err != nil {
		return err
	}
	rc.p.revokeReplaced(ctx, rc.rec, []DeviceCertificate{*dc})
	return rc.save(ctx)
}

// readBack runs check on fresh connections until it succeeds, the way a
// commit is verified: a change to the network settings may restart AMT's
// network stack.
func (rc *reconcileContext) readBack(ctx context.Context, check func(context.Context, *ManagedDevice) error) error {
	attempts, delay := rc.p.cfg.CommitVerifyAttempts, rc.p.cfg.CommitVerifyDelay
	if attempts <= 0 {
		attempts = 12
	}
	if delay <= 0 {
		delay = 5 * time.Second
	}
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if werr := rc.p.sleep(ctx, delay); werr != nil {
				return errors.Join(err, werr)
			}
		}
		var dev *ManagedDevice
		if dev, err = rc.p.openDevice(ctx, rc.rec); err != nil {
			return err
		}
		err = check(ctx, dev)
		dev.Close()
		var mismatch *readBackError
		if err == nil || errors.As(err, &mismatch) || isUntrusted(err) {
			return err
		}
	}
	return err
}

// readBackError: the device answered, with something else than what was set.
type readBackError struct{ what string }

func (e *readBackError) Error() string { return "read back: " + e.what }

func mismatch(format string, args ...any) error {
	return &readBackError{what: fmt.Sprintf(format, args...)}
}

// ---- 8021x-wired ----

// wiredState is shared by the changes of one wired 802.1X plan: a later
// change uses what an earlier one installed.
type wiredState struct {
	want   *IEEE8021XConfig
	st     *amt.IEEE8021xSettings
	root   string             // handle of the RADIUS root on the device
	client *DeviceCertificate // the client certificate to bind (EAP-TLS)
	fresh  []byte             // DER of a certificate this plan issued
}

// planWired8021X keeps IPS_IEEE8021xSettings in line with
// Network.Wired8021X, in the order RPS uses after activation
// (wiredNetworkConfiguration.ts): the RADIUS server's root first, then the
// client certificate, the settings, and SetCertificates binding both.
func planWired8021X(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	want := rc.profile.wired8021X()
	st, err := rc.dev.IEEE8021xSettings(ctx)
	if errors.Is(err, wsman.ErrDestinationUnreachable) {
		return nil, nil // a wireless-only device (RPS issue 1072)
	}
	if err != nil {
		return nil, err
	}
	if want == nil {
		// The profile no longer asks for 802.1X: switch off what amtkit
		// switched on.
		if _, ours := rc.rec.CurrentCertificateFor(PurposeIEEE8021X, ""); (ours || !rc.rec.networkSecret(secretWired8021X).IsZero()) && st.Enabled != amt.IEEE8021xDisabled {
			return []Change{{Area: "8021x-wired", Action: ChangeRemove, Target: "wired 802.1X", From: st.Enabled.String(),
				apply: func(ctx context.Context) error {
					st.Enabled = amt.IEEE8021xDisabled
					if _, err := rc.dev.PutIEEE8021xSettings(ctx, st); err != nil {
						return err
					}
					rc.rec.setNetworkSecret(secretWired8021X, amt.Secret{})
					return rc.retireWired(ctx)
				}}}, nil
		}
		return rc.planWiredRetired(st), nil
	}
	onDevice, err := rc.dev.Certificates(ctx)
	if err != nil {
		return nil, err
	}
	ws := &wiredState{want: want, st: st}
	var out []Change
	if want.ServerRoot != nil {
		ws.root = certOnDevice(onDevice, want.ServerRoot.Raw, true)
		if err := rc.claimRoot(ctx, want.ServerRoot.Raw, "8021x-wired"); err != nil {
			return nil, err
		}
		if ws.root == "" && rc.addsRoot(want.ServerRoot.Raw) {
			out = append(out, Change{Area: "8021x-wired", Action: ChangeAdd, Target: "RADIUS server root", To: certName(want.ServerRoot),
				apply: func(ctx context.Context) error {
					h, err := rc.trustRoot(ctx, want.ServerRoot, "8021x-wired")
					ws.root = h
					return err
				}})
		}
	}
	if want.Method == EAPTLS {
		if cur, ok := rc.rec.CurrentCertificateFor(PurposeIEEE8021X, ""); ok && certOnDevice(onDevice, cur.DER, false) == cur.Handle {
			c := cur
			ws.client = &c
		} else {
			out = append(out, Change{Area: "8021x-wired", Action: ChangeAdd, Target: "wired 802.1X client certificate", To: rc.rec.Inventory.FQDN,
				apply: func(ctx context.Context) error {
					dc, err := rc.clientCert(ctx, onDevice, "")
					if err != nil {
						return err
					}
					ws.client, ws.fresh = dc, dc.DER
					return nil
				}})
		}
	}
	from, to, same, err := rc.wiredDiff(ctx, ws)
	if err != nil {
		return nil, err
	}
	if same && len(out) == 0 {
		return rc.planWiredRetired(st), nil
	}
	out = append(out, Change{Area: "8021x-wired", Action: ChangeUpdate, Target: "wired 802.1X settings", From: from, To: to,
		apply: func(ctx context.Context) error { return rc.applyWired(ctx, ws) }})
	return out, nil
}

// retireWired ends what amtkit recorded for a wired 802.1X the device no
// longer runs with a client certificate: the EAP-TLS client certificates are
// revoked (cessation of operation; the Maintainer then deletes them from the
// device) and, with 802.1X off, the recorded password forgotten. A
// certificate left current would be renewed and bound again at every
// renewal window for a function the device does not use (found by review).
func (rc *reconcileContext) retireWired(ctx context.Context) error {
	failed := rc.revokeClientCerts(ctx, "", certs.RevocationCessationOfOperation)
	if err := rc.save(ctx); err != nil {
		return err
	}
	if failed != nil {
		return fmt.Errorf("revoking the wired 802.1X client certificate failed (the next reconcile retries): %w", failed)
	}
	return nil
}

// planWiredRetired plans retireWired when the device already runs wired
// 802.1X without a client certificate (or not at all) but the record still
// holds what an earlier configuration needed: a change whose reply was lost,
// or whose revocation failed.
func (rc *reconcileContext) planWiredRetired(st *amt.IEEE8021xSettings) []Change {
	want := rc.profile.wired8021X()
	if want != nil && want.Method == EAPTLS {
		return nil
	}
	off := st.Enabled == amt.IEEE8021xDisabled
	if !off && st.AuthenticationProtocol == amt.EAPTLS {
		return nil // still in use: the change to the profile's method comes first
	}
	stale := rc.p.cfg.Issuer != nil && slices.ContainsFunc(rc.rec.Certificates, func(c DeviceCertificate) bool {
		return c.Purpose == PurposeIEEE8021X && c.Profile == "" && !c.Revoked
	})
	secret := want == nil && off && !rc.rec.networkSecret(secretWired8021X).IsZero()
	if !stale && !secret {
		return nil
	}
	return []Change{{Area: "8021x-wired", Action: ChangeRemove, Target: "what the record keeps for a wired 802.1X the device no longer uses",
		apply: func(ctx context.Context) error {
			if secret {
				rc.rec.setNetworkSecret(secretWired8021X, amt.Secret{})
			}
			return rc.retireWired(ctx)
		}}}
}

// wantedWired returns the settings and certificate handles ws asks for.
func (rc *reconcileContext) wantedWired(ws *wiredState) (enabled amt.IEEE8021xEnabled, client string) {
	// Enabled 2 for every method, as rpc-go (configure8021x) and RPS
	// (put8021xProfile) send it for PEAP as well as EAP-TLS; amtkit sent 6
	// ("without certificates") for a PEAP profile that validates no server,
	// which no peer proven on firmware does.
	enabled = amt.IEEE8021xEnabledWithCertificates
	if ws.client != nil {
		client = ws.client.Handle
	}
	return enabled, client
}

func describeWired(enabled amt.IEEE8021xEnabled, m amt.EAPMethod, user, server string) string {
	s := fmt.Sprintf("%s, %s, identity %s", enabled, eapName(m), user)
	if server != "" {
		s += ", server " + server
	} else {
		s += ", server not validated"
	}
	return s
}

func eapName(m amt.EAPMethod) string {
	switch m {
	case amt.EAPTLS:
		return "EAP-TLS"
	case amt.EAPPEAPv0MSCHAPv2:
		return "PEAP-MSCHAPv2"
	}
	return fmt.Sprintf("EAP method %d", m)
}

// wiredDiff compares the device's settings and bindings with ws.
func (rc *reconcileContext) wiredDiff(ctx context.Context, ws *wiredState) (from, to string, same bool, err error) {
	w, st := ws.want, ws.st
	enabled, client := rc.wantedWired(ws)
	user := w.username(rc.rec.Inventory)
	from = describeWired(st.Enabled, st.AuthenticationProtocol, st.Username, st.ServerCertificateName)
	to = describeWired(enabled, w.Method.wire(), user, w.ServerName)
	same = st.Enabled == enabled && st.AuthenticationProtocol == w.Method.wire() && st.Username == user &&
		st.ServerCertificateName == w.ServerName && st.AvailableInS0 && st.PxeTimeout == w.pxeTimeout() &&
		(w.ServerName == "" || st.ServerCertificateNameComparison == 0 || st.ServerCertificateNameComparison == uint16(w.ServerNameMatch.wire())) &&
		st.Domain == w.Domain && rc.rec.networkSecretInLine(secretWired8021X, w.Password)
	if !same {
		return from, to, false, nil
	}
	ctxs, err := rc.dev.IEEE8021xCredentialContexts(ctx)
	if err != nil {
		return "", "", false, err
	}
	if client != "" && !boundIn(ctxs, client) || ws.root != "" && !boundIn(ctxs, ws.root) {
		return from, to + " (certificates bound again)", false, nil
	}
	return from, to, true, nil
}

func boundIn(ctxs []amt.CredentialContext, handle string) bool {
	return slices.ContainsFunc(ctxs, func(c amt.CredentialContext) bool { return c.CertificateInstanceID() == handle })
}

// applyWired writes the settings (the password with them), binds the
// certificates, reads them back and only then confirms a new certificate.
func (rc *reconcileContext) applyWired(ctx context.Context, ws *wiredState) error {
	w, st := ws.want, ws.st
	if w.ServerRoot != nil && ws.root == "" {
		return errors.New("skipped: the RADIUS server's root is not on the device")
	}
	if w.Method == EAPTLS && ws.client == nil {
		return errors.New("skipped: no client certificate")
	}
	enabled, client := rc.wantedWired(ws)
	st.Enabled = enabled
	st.AuthenticationProtocol = w.Method.wire()
	st.AvailableInS0 = true
	st.Username = w.username(rc.rec.Inventory)
	st.Domain = w.Domain
	st.ServerCertificateName = w.ServerName
	if w.ServerName != "" {
		st.ServerCertificateNameComparison = uint16(w.ServerNameMatch.wire())
	}
	st.PxeTimeout = w.pxeTimeout()
	st.Password = w.Password
	// The password is recorded before it is sent, marked until the
	// read-back confirms it: an interrupted change is re-sent, never
	// forgotten.
	rc.rec.sendingNetworkSecret(secretWired8021X, w.Password)
	if err := rc.save(ctx); err != nil {
		return err
	}
	if _, err := rc.dev.PutIEEE8021xSettings(ctx, st); err != nil {
		return fmt.Errorf("802.1X settings: %w", err)
	}
	if ws.root != "" || client != "" {
		if err := rc.dev.SetIEEE8021xCertificates(ctx, ws.root, client); err != nil {
			return fmt.Errorf("802.1X SetCertificates: %w", err)
		}
	}
	err := rc.readBack(ctx, func(ctx context.Context, dev *ManagedDevice) error {
		got, err := dev.IEEE8021xSettings(ctx)
		if err != nil {
			return err
		}
		if got.Enabled != enabled || got.AuthenticationProtocol != st.AuthenticationProtocol || got.ServerCertificateName != st.ServerCertificateName {
			return mismatch("802.1X settings are %s", describeWired(got.Enabled, got.AuthenticationProtocol, got.Username, got.ServerCertificateName))
		}
		ctxs, err := dev.IEEE8021xCredentialContexts(ctx)
		if err != nil {
			return err
		}
		for _, h := range []string{client, ws.root} {
			if h != "" && !boundIn(ctxs, h) {
				return mismatch("certificate %s is not bound to 802.1X", h)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rc.rec.confirmNetworkSecret(secretWired8021X)
	if ws.fresh != nil {
		return rc.confirm(ctx, ws.fresh)
	}
	if w.Method != EAPTLS {
		return rc.retireWired(ctx)
	}
	return rc.save(ctx)
}

// ---- wifi ----

// wifiDevice is what the device holds, read once per plan.
type wifiDevice struct {
	profiles  []amt.WiFiEndpointSettings
	ieee      []amt.WiFiIEEE8021xSettings
	contexts  []amt.CredentialContext
	certs     []amt.PublicKeyCertificate
	ssidInUse string
}

// profile returns the IT profile named name (host profiles share one name).
func (wd *wifiDevice) profile(name string) *amt.WiFiEndpointSettings {
	for i := range wd.profiles {
		if wd.profiles[i].ElementName == name && !hostProfile(wd.profiles[i]) {
			return &wd.profiles[i]
		}
	}
	return nil
}

// ieeeOf returns the 802.1X settings of the Wi-Fi profile named name (its
// ElementName is the profile's: amtkit names them so).
func (wd *wifiDevice) ieeeOf(name string) *amt.WiFiIEEE8021xSettings {
	for i := range wd.ieee {
		if wd.ieee[i].ElementName == name {
			return &wd.ieee[i]
		}
	}
	return nil
}

// bound reports whether handle is bound to the 802.1X settings ieeeID.
func bound(ctxs []amt.CredentialContext, ieeeID, handle string) bool {
	return slices.ContainsFunc(ctxs, func(c amt.CredentialContext) bool {
		id, _ := c.ElementProvidingContext.Selectors.Get("InstanceID")
		return c.ElementProvidingContext.ResourceURI == amt.URICIMIEEE8021xSettings && id == ieeeID && c.CertificateInstanceID() == handle
	})
}

func readWiFi(ctx context.Context, dev *ManagedDevice) (*wifiDevice, error) {
	wd := &wifiDevice{}
	var err error
	if wd.profiles, err = dev.WiFiProfiles(ctx); err != nil {
		return nil, err
	}
	if wd.ieee, err = dev.WiFiIEEE8021xSettings(ctx); err != nil {
		return nil, err
	}
	if wd.contexts, err = dev.CredentialContexts(ctx); err != nil {
		return nil, err
	}
	if wd.certs, err = dev.Certificates(ctx); err != nil {
		return nil, err
	}
	return wd, nil
}

// wifiPlan is shared by the changes of one Wi-Fi plan.
type wifiPlan struct {
	roots  map[string]string // RADIUS root DER → handle
	settle bool              // a RADIUS root was added since the last profile that names one
}

// certSettle is how long a certificate just added is left to AMT before a
// profile refers to it: rpc-go (configure wireless) pauses a second "to allow
// amt to handle certs" before AddWiFiSettings, and Intel's console
// (waitForAMTCertificateHandling) waits a second after adding a key or
// certificate before adding or updating a profile.
const certSettle = time.Second

func (wp *wifiPlan) root(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return wp.roots[string(c.Raw)]
}

// planWiFi keeps the wireless interface in line with Network.WiFi: the
// synchronisation policies, the port's power states, then the profiles —
// unlisted ones removed first (freeing their priorities), RADIUS roots
// trusted, then each listed profile added or updated with its certificates.
func planWiFi(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	want := rc.profile.wifi()
	if want == nil {
		return nil, nil
	}
	// No wireless interface: the port enumeration is empty (Intel's console,
	// GetWiFiPorts; console issue 1057), or the classes are not served.
	port, err := rc.dev.WiFiPort(ctx)
	if errors.Is(err, amt.ErrNotFound) || errors.Is(err, wsman.ErrDestinationUnreachable) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cfg, err := rc.dev.WiFiPortConfiguration(ctx)
	if errors.Is(err, wsman.ErrDestinationUnreachable) {
		return nil, nil // no wireless interface
	}
	if err != nil {
		return nil, err
	}
	var out []Change
	if c, err := rc.planWiFiPolicies(ctx, want, cfg); err != nil {
		return nil, err
	} else if c != nil {
		out = append(out, *c)
	}
	if port.EnabledState != want.Power.wire() {
		out = append(out, Change{Area: "wifi", Action: ChangeUpdate, Target: "wireless interface", From: port.EnabledState.String(), To: want.Power.wire().String(),
			apply: func(ctx context.Context) error { return rc.dev.RequestWiFiPortState(ctx, want.Power.wire()) }})
	}
	wd, err := readWiFi(ctx, rc.dev)
	if err != nil {
		return nil, err
	}
	wd.ssidInUse = cfg.LastConnectedSsidUnderMeControl
	wp := &wifiPlan{roots: map[string]string{}}

	// Removals first: they free names and priorities.
	listed := map[string]*WiFiNetwork{}
	for i := range want.Networks {
		listed[want.Networks[i].Name] = &want.Networks[i]
	}
	owned := rc.ownedWiFi()
	taken := map[uint32]string{} // priority → profile that keeps it
	// fixed: the profiles that keep their priority whatever the
	// configuration asks, and why — the ones it keeps unlisted, and the one
	// AMT is connected by, which the firmware does not change.
	fixed := map[string]string{}
	for _, p := range wd.profiles {
		if hostProfile(p) {
			// The host's (synchronised) profiles have priorities of their
			// own, apart from the IT profiles', and are kept with SyncWithOS.
			if !want.KeepUnlisted && !want.SyncWithOS {
				out = append(out, rc.removeHostWiFi(p))
			}
			continue
		}
		if listed[p.ElementName] != nil {
			taken[p.Priority] = p.ElementName
			if wd.ssidInUse != "" && p.SSID == wd.ssidInUse {
				fixed[p.ElementName] = "which AMT is connected by"
			}
			continue
		}
		if want.KeepUnlisted || want.SyncWithOS && !owned[p.ElementName] {
			taken[p.Priority] = p.ElementName
			fixed[p.ElementName] = "which the configuration keeps"
			continue
		}
		out = append(out, rc.removeWiFi(p, certs.RevocationCessationOfOperation))
	}
	out = append(out, rc.revokeOrphanedWiFi(listed, wd)...)
	// Roots, each once.
	for _, nw := range want.Networks {
		if nw.IEEE8021X == nil || nw.IEEE8021X.ServerRoot == nil {
			continue
		}
		root := nw.IEEE8021X.ServerRoot
		if _, seen := wp.roots[string(root.Raw)]; seen {
			continue
		}
		wp.roots[string(root.Raw)] = certOnDevice(wd.certs, root.Raw, true)
		if err := rc.claimRoot(ctx, root.Raw, "wifi"); err != nil {
			return nil, err
		}
		if wp.roots[string(root.Raw)] == "" && rc.addsRoot(root.Raw) {
			out = append(out, Change{Area: "wifi", Action: ChangeAdd, Target: "RADIUS server root", To: certName(root),
				apply: func(ctx context.Context) error {
					h, err := rc.trustRoot(ctx, root, "wifi")
					wp.roots[string(root.Raw)] = h
					wp.settle = wp.settle || err == nil
					return err
				}})
		}
	}
	// The listed profiles: updates in place, then additions. A profile that
	// must move to a priority another profile keeps is removed first and
	// added again (AMT needs unique priorities at every step).
	var removes, updates, adds []Change
	for i := range want.Networks {
		nw := &want.Networks[i]
		if nw.Security.wpa3() && rc.fw.Known() && !rc.fw.WiFiWPA3 {
			adds = append(adds, Change{Area: "wifi", Action: ChangeAdd, Target: fmt.Sprintf("Wi-Fi profile %q", nw.Name), To: describeNetwork(nw),
				apply: func(context.Context) error {
					return fmt.Errorf("%s needs firmware with WPA3 (amt.Firmware.WiFiWPA3, from AMT 20); the device runs %s", nw.Security, rc.fw.Version)
				}})
			continue
		}
		cur := wd.profile(nw.Name)
		var diff string
		if cur != nil {
			if diff = rc.wifiDiff(nw, cur, wd); diff == "" {
				continue
			}
		}
		if holder, ok := taken[uint32(nw.Priority)]; ok && holder != nw.Name && fixed[holder] != "" {
			// A profile the configuration keeps (KeepUnlisted, or the
			// host's) or the one AMT is connected by holds the priority
			// and does not move: removing this one to add it again there
			// only lost it (found by review).
			why := fixed[holder]
			action := ChangeAdd
			if cur != nil {
				action = ChangeUpdate
			}
			adds = append(adds, Change{Area: "wifi", Action: action, Target: fmt.Sprintf("Wi-Fi profile %q", nw.Name), To: describeNetwork(nw),
				apply: func(context.Context) error {
					return fmt.Errorf("priority %d is held by Wi-Fi profile %q, %s; give %q another priority", nw.Priority, holder, why, nw.Name)
				}})
			continue
		}
		if cur != nil {
			holder, ok := taken[uint32(nw.Priority)]
			if !ok || holder == nw.Name || fixed[nw.Name] != "" {
				// Updated in place — also the profile AMT is connected
				// by, which is never removed to be added again (the
				// firmware refuses the update, or takes it if AMT has
				// moved on); that one keeps its priority meanwhile.
				c := *cur
				if fixed[nw.Name] == "" {
					delete(taken, c.Priority)
					taken[uint32(nw.Priority)] = nw.Name
				}
				updates = append(updates, Change{Area: "wifi", Action: ChangeUpdate, Target: fmt.Sprintf("Wi-Fi profile %q", nw.Name), From: describeWiFi(&c), To: diff,
					apply: func(ctx context.Context) error { return rc.applyWiFi(ctx, wp, nw, &c) }})
				continue
			}
			removes = append(removes, rc.removeWiFi(*cur, certs.RevocationSuperseded)) // added again below, with a new certificate
			delete(taken, cur.Priority)
		}
		adds = append(adds, Change{Area: "wifi", Action: ChangeAdd, Target: fmt.Sprintf("Wi-Fi profile %q", nw.Name), To: describeNetwork(nw),
			apply: func(ctx context.Context) error { return rc.applyWiFi(ctx, wp, nw, nil) }})
	}
	out = append(append(append(out, removes...), updates...), adds...)
	return out, nil
}

// ownedWiFi lists the Wi-Fi profiles amtkit put on the device (a recorded
// passphrase or password, or a client certificate).
func (rc *reconcileContext) ownedWiFi() map[string]bool {
	out := map[string]bool{}
	for _, s := range rc.rec.NetworkSecrets {
		if name, ok := strings.CutPrefix(s.Name, "wifi:"); ok {
			out[name] = true
		}
	}
	for _, c := range rc.rec.Certificates {
		if c.Purpose == PurposeIEEE8021X && c.Profile != "" {
			out[c.Profile] = true
		}
	}
	return out
}

func (rc *reconcileContext) planWiFiPolicies(ctx context.Context, want *WiFiConfig, cfg *amt.WiFiPortConfiguration) (*Change, error) {
	wantSync := amt.LocalSyncDisabled
	if want.SyncWithOS {
		wantSync = amt.LocalSyncUnrestricted
	}
	wantShare := false
	if want.UEFIProfileShare && rc.fw.UEFIWiFiProfileShare {
		ok, err := rc.dev.UEFIWiFiProfileShareSupported(ctx)
		if err != nil && !errors.Is(err, wsman.ErrDestinationUnreachable) {
			return nil, err
		}
		wantShare = ok
	}
	syncDiffers := rc.fw.WiFiProfileSync && cfg.LocalProfileSynchronization != wantSync
	shareDiffers := rc.fw.UEFIWiFiProfileShare && cfg.UEFIWiFiProfileShareEnabled != wantShare
	if !syncDiffers && !shareDiffers {
		return nil, nil
	}
	desc := func(s amt.LocalProfileSync, share bool) string {
		return fmt.Sprintf("OS sync %d, UEFI sharing %t", s, share)
	}
	return &Change{Area: "wifi", Action: ChangeUpdate, Target: "Wi-Fi synchronisation",
		From: desc(cfg.LocalProfileSynchronization, cfg.UEFIWiFiProfileShareEnabled), To: desc(wantSync, wantShare),
		apply: func(ctx context.Context) error {
			if syncDiffers {
				cfg.LocalProfileSynchronization = wantSync
			}
			if shareDiffers {
				cfg.UEFIWiFiProfileShareEnabled = wantShare
			}
			_, err := rc.dev.PutWiFiPortConfiguration(ctx, cfg)
			return err
		}}, nil
}

func describeWiFi(p *amt.WiFiEndpointSettings) string {
	return fmt.Sprintf("SSID %s, priority %d, authentication %d, encryption %d", p.SSID, p.Priority, p.AuthenticationMethod, p.EncryptionMethod)
}

func describeNetwork(nw *WiFiNetwork) string {
	s := fmt.Sprintf("SSID %s, priority %d, %s", nw.SSID, nw.Priority, nw.Security)
	if x := nw.IEEE8021X; x != nil {
		s += ", " + x.Method.String()
		if x.validates() {
			s += ", server " + x.ServerName
		} else {
			s += ", server not validated"
		}
	}
	return s
}

// removeWiFi deletes a profile; the client certificate amtkit issued for it
// is revoked for reason (cessationOfOperation when the profile goes away,
// superseded when it is added again at another priority) and later deleted
// from the device. A revocation that fails fails the change; the next
// reconcile retries it (revokeOrphanedWiFi).
// hostProfile reports a profile the host added through synchronisation (a
// user profile): AMT lists them under their own InstanceID prefix and a
// common ElementName (Intel's console, usecase/devices/wifiprofile.go and
// network.go, tells them apart so).
func hostProfile(p amt.WiFiEndpointSettings) bool {
	return strings.HasPrefix(p.InstanceID, "Intel(r) AMT:WiFi Endpoint User Settings")
}

// removeHostWiFi deletes a profile the host added: amtkit holds no secret or
// certificate of it.
func (rc *reconcileContext) removeHostWiFi(p amt.WiFiEndpointSettings) Change {
	return Change{Area: "wifi", Action: ChangeRemove, Target: "host Wi-Fi profile " + strconv.Quote(p.InstanceID), From: describeWiFi(&p),
		apply: func(ctx context.Context) error { return rc.dev.DeleteWiFiProfile(ctx, p.InstanceID) }}
}

func (rc *reconcileContext) removeWiFi(p amt.WiFiEndpointSettings, reason certs.RevocationReason) Change {
	return Change{Area: "wifi", Action: ChangeRemove, Target: fmt.Sprintf("Wi-Fi profile %q", p.ElementName), From: describeWiFi(&p),
		apply: func(ctx context.Context) error {
			if err := rc.dev.DeleteWiFiProfile(ctx, p.InstanceID); err != nil {
				return err
			}
			if !amt.ValidWiFiProfileName(p.ElementName) {
				// Not a name amtkit gives a profile: nothing in the record
				// is this profile's. The record files the wired
				// interface's certificate under the empty name, which
				// was revoked with a profile a device listed unnamed
				// (found by review).
				return nil
			}
			rc.rec.setNetworkSecret(wifiSecretKey(p.ElementName), amt.Secret{})
			failed := rc.revokeClientCerts(ctx, p.ElementName, reason)
			if err := rc.save(ctx); err != nil {
				return err
			}
			if failed != nil {
				return fmt.Errorf("the profile was deleted; revoking its client certificate failed (the next reconcile retries): %w", failed)
			}
			return nil
		}}
}

// revokeClientCerts revokes the unrevoked 802.1X client certificates of the
// Wi-Fi profile name ("" the wired interface) for reason; the record is the
// caller's to save.
func (rc *reconcileContext) revokeClientCerts(ctx context.Context, name string, reason certs.RevocationReason) error {
	if rc.p.cfg.Issuer == nil {
		return nil
	}
	var failed error
	for i := range rc.rec.Certificates {
		dc := &rc.rec.Certificates[i]
		if dc.Purpose == PurposeIEEE8021X && dc.Profile == name && !dc.Revoked {
			dc.Pending = false
			failed = errors.Join(failed, rc.p.revoke(ctx, rc.rec.UUID, dc, reason))
		}
	}
	return failed
}

// revokeOrphanedWiFi plans the revocation of client certificates whose Wi-Fi
// profile is neither listed nor on the device any more (a removal whose
// revocation failed: the CA was unreachable), or is listed without EAP-TLS
// and binds none of them on the device (a change of method whose reply was
// lost, or whose revocation failed). Without an Issuer nothing can be
// revoked and nothing is planned. It also forgets the recorded secret of a
// profile neither listed nor on the device (a removal whose reply was lost):
// the record would otherwise keep it, and count the name as amtkit's
// (ownedWiFi), for good.
func (rc *reconcileContext) revokeOrphanedWiFi(listed map[string]*WiFiNetwork, wd *wifiDevice) []Change {
	var out []Change
	for _, s := range rc.rec.NetworkSecrets {
		name, ok := strings.CutPrefix(s.Name, "wifi:")
		if !ok || strings.HasSuffix(name, sendingSuffix) || listed[name] != nil || wd.profile(name) != nil {
			continue
		}
		out = append(out, Change{Area: "wifi", Action: ChangeRemove, Target: fmt.Sprintf("recorded secret of the removed Wi-Fi profile %q", name),
			apply: func(ctx context.Context) error {
				rc.rec.setNetworkSecret(wifiSecretKey(name), amt.Secret{})
				return rc.save(ctx)
			}})
	}
	if rc.p.cfg.Issuer == nil {
		return out
	}
	seen := map[string]bool{}
	for _, dc := range rc.rec.Certificates {
		name := dc.Profile
		if dc.Purpose != PurposeIEEE8021X || name == "" || dc.Revoked || seen[name] {
			continue
		}
		target := fmt.Sprintf("client certificate of the removed Wi-Fi profile %q", name)
		if nw := listed[name]; nw != nil {
			if nw.IEEE8021X != nil && nw.IEEE8021X.Method == EAPTLS || rc.wifiBindsClientCert(wd, name) {
				continue
			}
			target = fmt.Sprintf("client certificate of Wi-Fi profile %q, which no longer uses EAP-TLS", name)
		} else if wd.profile(name) != nil {
			continue
		}
		seen[name] = true
		out = append(out, Change{Area: "wifi", Action: ChangeRemove, Target: target,
			apply: func(ctx context.Context) error {
				failed := rc.revokeClientCerts(ctx, name, certs.RevocationCessationOfOperation)
				return errors.Join(failed, rc.save(ctx))
			}})
	}
	return out
}

// wifiBindsClientCert reports whether the device's Wi-Fi profile name binds
// one of the client certificates the record holds for it.
func (rc *reconcileContext) wifiBindsClientCert(wd *wifiDevice, name string) bool {
	ie := wd.ieeeOf(name)
	if ie == nil {
		return false
	}
	for _, dc := range rc.rec.Certificates {
		if dc.Purpose == PurposeIEEE8021X && dc.Profile == name && dc.Handle != "" && bound(wd.contexts, ie.InstanceID, dc.Handle) {
			return true
		}
	}
	return false
}

// wifiDiff returns "" when the device's profile is what nw asks, else what
// it should become.
func (rc *reconcileContext) wifiDiff(nw *WiFiNetwork, cur *amt.WiFiEndpointSettings, wd *wifiDevice) string {
	auth, enc := nw.Security.wire()
	want := describeNetwork(nw)
	if cur.SSID != nw.SSID || cur.Priority != uint32(nw.Priority) || cur.AuthenticationMethod != auth || cur.EncryptionMethod != enc {
		return want
	}
	if !nw.Security.Enterprise() {
		if !rc.rec.networkSecretInLine(wifiSecretKey(nw.Name), nw.Passphrase) {
			return want + " (new passphrase)"
		}
		return ""
	}
	x := nw.IEEE8021X
	ie := wd.ieeeOf(nw.Name)
	if ie == nil || ie.AuthenticationProtocol != x.Method.wire() || ie.Username != x.username(rc.rec.Inventory) ||
		ie.Domain != x.Domain || ie.ServerCertificateName != x.ServerName || x.ServerName != "" && ie.ServerCertificateNameComparison != 0 && ie.ServerCertificateNameComparison != x.ServerNameMatch.wire() {
		return want
	}
	if !rc.rec.networkSecretInLine(wifiSecretKey(nw.Name), x.Password) {
		return want + " (new password)"
	}
	if x.Method == EAPTLS {
		cur, ok := rc.rec.CurrentCertificateFor(PurposeIEEE8021X, nw.Name)
		if !ok || certOnDevice(wd.certs, cur.DER, false) != cur.Handle || !bound(wd.contexts, ie.InstanceID, cur.Handle) {
			return want + " (client certificate)"
		}
	}
	if x.ServerRoot != nil {
		h := certOnDevice(wd.certs, x.ServerRoot.Raw, true)
		if h == "" || !bound(wd.contexts, ie.InstanceID, h) {
			return want + " (RADIUS root)"
		}
	} else if boundRoot(wd, ie.InstanceID) {
		// The profile names no root any more: the device would go on
		// checking the server against the old one (found by review).
		return want + " (no RADIUS root)"
	}
	return ""
}

// boundRoot reports whether a trusted root is bound to the 802.1X settings
// ieeeID (the CA the device checks the RADIUS server with).
func boundRoot(wd *wifiDevice, ieeeID string) bool {
	return slices.ContainsFunc(wd.certs, func(c amt.PublicKeyCertificate) bool {
		return c.TrustedRoot && bound(wd.contexts, ieeeID, c.InstanceID)
	})
}

// wifiSettingsFor builds what AddWiFiSettings or UpdateWiFiSettings sends
// for nw on the device inv describes.
func wifiSettingsFor(nw *WiFiNetwork, inv Inventory, instanceID, client, root string) amt.WiFiSettings {
	auth, enc := nw.Security.wire()
	s := amt.WiFiSettings{Endpoint: amt.WiFiEndpointSettings{
		InstanceID: instanceID, ElementName: nw.Name, SSID: nw.SSID, Priority: uint32(nw.Priority),
		AuthenticationMethod: auth, EncryptionMethod: enc, PSKPassPhrase: nw.Passphrase,
	}}
	if x := nw.IEEE8021X; x != nil {
		s.IEEE8021x = &amt.WiFiIEEE8021xSettings{
			ElementName: nw.Name, AuthenticationProtocol: x.Method.wire(), Username: x.username(inv),
			Domain: x.Domain, ServerCertificateName: x.ServerName, Password: x.Password,
		}
		if x.ServerName != "" {
			s.IEEE8021x.ServerCertificateNameComparison = x.ServerNameMatch.wire()
		}
		s.ClientCertificate, s.CACertificate = client, root
	}
	return s
}

// applyWiFi adds (cur nil) or updates one profile: a client certificate
// issued if the profile has none on the device, the secret recorded before it
// is sent, then read back (the profile, its 802.1X settings and bindings) and
// a new certificate confirmed.
func (rc *reconcileContext) applyWiFi(ctx context.Context, wp *wifiPlan, nw *WiFiNetwork, cur *amt.WiFiEndpointSettings) error {
	x := nw.IEEE8021X
	root := ""
	if x != nil && x.ServerRoot != nil {
		if root = wp.root(x.ServerRoot); root == "" {
			return errors.New("skipped: the RADIUS server's root is not on the device")
		}
	}
	var client string
	var fresh []byte
	if x != nil && x.Method == EAPTLS {
		list, err := rc.dev.Certificates(ctx)
		if err != nil {
			return err
		}
		if c, ok := rc.rec.CurrentCertificateFor(PurposeIEEE8021X, nw.Name); ok && certOnDevice(list, c.DER, false) == c.Handle {
			client = c.Handle
		} else {
			dc, err := rc.clientCert(ctx, list, nw.Name)
			if err != nil {
				return err
			}
			client, fresh = dc.Handle, dc.DER
		}
	}
	secret := nw.Passphrase
	if x != nil {
		secret = x.Password
	}
	rc.rec.sendingNetworkSecret(wifiSecretKey(nw.Name), secret)
	if err := rc.save(ctx); err != nil {
		return err
	}
	if fresh != nil || wp.settle && root != "" {
		if err := rc.p.sleep(ctx, certSettle); err != nil {
			return err
		}
		wp.settle = false
	}
	if cur == nil {
		if err := rc.dev.AddWiFiSettings(ctx, wifiSettingsFor(nw, rc.rec.Inventory, "", client, root)); err != nil {
			return err
		}
	} else if err := rc.dev.UpdateWiFiSettings(ctx, wifiSettingsFor(nw, rc.rec.Inventory, cur.InstanceID, client, root)); err != nil {
		return err
	}
	err := rc.readBack(ctx, func(ctx context.Context, dev *ManagedDevice) error {
		wd, err := readWiFi(ctx, dev)
		if err != nil {
			return err
		}
		return checkWiFi(wd, nw, client, root)
	})
	if err != nil {
		return err
	}
	rc.rec.confirmNetworkSecret(wifiSecretKey(nw.Name))
	if fresh != nil {
		return rc.confirm(ctx, fresh)
	}
	if x == nil || x.Method != EAPTLS {
		// The profile no longer takes a client certificate: one amtkit
		// issued for it is retired, as for a removed profile.
		failed := rc.revokeClientCerts(ctx, nw.Name, certs.RevocationCessationOfOperation)
		if err := rc.save(ctx); err != nil {
			return err
		}
		if failed != nil {
			return fmt.Errorf("the profile was updated; revoking the client certificate it no longer uses failed (the next reconcile retries): %w", failed)
		}
		return nil
	}
	return rc.save(ctx)
}

// checkWiFi reports how the device's profile differs from nw and the
// certificates it should have bound.
func checkWiFi(wd *wifiDevice, nw *WiFiNetwork, client, root string) error {
	p := wd.profile(nw.Name)
	auth, enc := nw.Security.wire()
	if p == nil {
		return mismatch("Wi-Fi profile %q is missing", nw.Name)
	}
	if p.SSID != nw.SSID || p.Priority != uint32(nw.Priority) || p.AuthenticationMethod != auth || p.EncryptionMethod != enc {
		return mismatch("Wi-Fi profile %q is %s", nw.Name, describeWiFi(p))
	}
	if nw.IEEE8021X == nil {
		return nil
	}
	ie := wd.ieeeOf(nw.Name)
	if ie == nil {
		return mismatch("Wi-Fi profile %q has no 802.1X settings", nw.Name)
	}
	for _, h := range []string{client, root} {
		if h != "" && !bound(wd.contexts, ie.InstanceID, h) {
			return mismatch("certificate %s is not bound to Wi-Fi profile %q", h, nw.Name)
		}
	}
	if root == "" && boundRoot(wd, ie.InstanceID) {
		return mismatch("Wi-Fi profile %q still checks the RADIUS server against a root the profile no longer names", nw.Name)
	}
	return nil
}

// ---- ip ----

// planIP keeps the wired interface's IPv4 settings and AMT's FQDN sharing
// and dynamic DNS in line with Network.IP. It is applied last: a new static
// address moves the device, and the changes reachable at the old one are done
// by then.
func planIP(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	want := rc.profile.ipConfig()
	if want == nil {
		return nil, nil
	}
	var out []Change
	ports, err := rc.dev.EthernetPortSettings(ctx)
	if err != nil {
		return nil, err
	}
	var wired *amt.EthernetPortSettings
	for _, p := range ports {
		if p.InstanceID == amt.WiredPortSettingsID && p.HasInterface() {
			wired = p
		}
	}
	if wired != nil {
		var static amt.StaticIPv4
		if want.Mode == IPStatic {
			if static, err = want.staticFor(rc.rec.Inventory); err != nil {
				return nil, fmt.Errorf("the static address of %s: %w", rc.rec.Inventory.FQDN, err)
			}
		}
		if from, ok := ipMatches(wired, want.Mode, static); !ok {
			to := want.Mode.String()
			if want.Mode == IPStatic {
				to += " " + static.Address.String()
			}
			out = append(out, Change{Area: "ip", Action: ChangeUpdate, Target: "wired IPv4 settings", From: from, To: to,
				apply: func(ctx context.Context) error { return rc.applyIP(ctx, wired, want.Mode, static) }})
		}
	}
	gs, err := rc.dev.GeneralSettings(ctx)
	if err != nil {
		return nil, err
	}
	if c := rc.planNames(want, gs); c != nil {
		out = append(out, *c)
	}
	return out, nil
}

// ipMatches describes the device's addressing and reports whether it is mode
// (with static's values in static mode).
func ipMatches(p *amt.EthernetPortSettings, mode IPMode, static amt.StaticIPv4) (string, bool) {
	var cur IPMode
	switch {
	case p.DHCPEnabled:
		cur = IPDHCP
	case p.IPSyncEnabled && p.SharedStaticIP:
		cur = IPStaticShared
	case !p.IPSyncEnabled:
		cur = IPStatic
	default:
		return fmt.Sprintf("DHCP %t, IP sync %t, shared static %t", p.DHCPEnabled, p.IPSyncEnabled, p.SharedStaticIP), false
	}
	desc := cur.String()
	got, _ := p.Static()
	if cur == IPStatic {
		desc += " " + got.Address.String()
	}
	if cur != mode {
		return desc, false
	}
	if mode == IPDHCP && !p.IPSyncEnabled {
		return desc + " without IP sync", false
	}
	if mode == IPStatic && got != static {
		return desc, false
	}
	return desc, true
}

// applyIP writes the wired interface's addressing and reads it back from a
// fresh connection (RPS waits after this Put on TLS-enforced AMT 19, which
// restarts its network stack).
func (rc *reconcileContext) applyIP(ctx context.Context, p *amt.EthernetPortSettings, mode IPMode, static amt.StaticIPv4) error {
	switch mode {
	case IPDHCP:
		p.SetDHCP()
	case IPStaticShared:
		p.SetStaticSynced()
	case IPStatic:
		if err := p.SetStatic(static); err != nil {
			return err
		}
	}
	if _, err := rc.dev.PutEthernetPortSettings(ctx, p); err != nil {
		var te *wsman.TransportError
		if !errors.As(err, &te) || te.Phase == wsman.PhaseConnect {
			return err
		}
		// The reply was lost while AMT restarted its network: read back.
	}
	return rc.readBack(ctx, func(ctx context.Context, dev *ManagedDevice) error {
		got, err := dev.EthernetPort(ctx, amt.WiredPortSettingsID)
		if err != nil {
			return err
		}
		if desc, ok := ipMatches(got, mode, static); !ok {
			return mismatch("the wired interface is %s", desc)
		}
		return nil
	})
}

// planNames plans SharedFQDN and the dynamic DNS settings.
func (rc *reconcileContext) planNames(want *IPConfig, gs *amt.GeneralSettings) *Change {
	shared := !want.DedicatedFQDN
	next := *gs
	next.SharedFQDN = shared
	switch want.DynamicDNS {
	case DDNSByDHCPServer:
		next.DDNSUpdateEnabled, next.DDNSUpdateByDHCPServerEnabled = false, true
	case DDNSByAMT:
		next.DDNSUpdateEnabled, next.DDNSUpdateByDHCPServerEnabled = true, false
	case DDNSOff:
		next.DDNSUpdateEnabled, next.DDNSUpdateByDHCPServerEnabled = false, false
	}
	if want.DDNSTTL > 0 {
		next.DDNSTTL = uint32(want.DDNSTTL / time.Second)
	}
	if want.DDNSInterval > 0 {
		next.DDNSPeriodicUpdateInterval = uint32(want.DDNSInterval / time.Minute)
	}
	desc := func(g *amt.GeneralSettings) string {
		s := "shared FQDN"
		if !g.SharedFQDN {
			s = "dedicated FQDN"
		}
		switch {
		case g.DDNSUpdateEnabled:
			s += fmt.Sprintf(", DDNS by AMT (TTL %ds, every %d min)", g.DDNSTTL, g.DDNSPeriodicUpdateInterval)
		case g.DDNSUpdateByDHCPServerEnabled:
			s += ", DDNS by the DHCP server"
		default:
			s += ", no DDNS"
		}
		return s
	}
	if next.SharedFQDN == gs.SharedFQDN && next.DDNSUpdateEnabled == gs.DDNSUpdateEnabled &&
		next.DDNSUpdateByDHCPServerEnabled == gs.DDNSUpdateByDHCPServerEnabled && next.DDNSTTL == gs.DDNSTTL &&
		next.DDNSPeriodicUpdateInterval == gs.DDNSPeriodicUpdateInterval {
		return nil
	}
	return &Change{Area: "ip", Action: ChangeUpdate, Target: "FQDN and dynamic DNS", From: desc(gs), To: desc(&next),
		apply: func(ctx context.Context) error {
			got, err := rc.dev.PutGeneralSettings(ctx, &next)
			if err != nil {
				return err
			}
			if got.SharedFQDN != next.SharedFQDN || got.DDNSUpdateEnabled != next.DDNSUpdateEnabled || got.DDNSUpdateByDHCPServerEnabled != next.DDNSUpdateByDHCPServerEnabled {
				return mismatch("the device stored %s", desc(got))
			}
			return nil
		}}
}
