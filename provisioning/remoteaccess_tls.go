package provisioning

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
)

// TLSMode is one of the four TLS modes RPS offers (its profile's tlsMode
// numbers; rpc-go's "configure tls --mode" names).
type TLSMode int

// TLS modes.
const (
	TLSServer          TLSMode = 1 // server authentication, TLS only
	TLSServerAndNonTLS TLSMode = 2 // server authentication, the non-TLS port open too
	TLSMutual          TLSMode = 3 // mutual authentication, TLS only
	TLSMutualAndNonTLS TLSMode = 4 // mutual authentication, the non-TLS port open too
)

// String returns rpc-go's name of the mode ("Server", "ServerAndNonTLS",
// "Mutual", "MutualAndNonTLS") or "TLSMode(n)".
func (m TLSMode) String() string {
	switch m {
	case TLSServer:
		return "Server"
	case TLSServerAndNonTLS:
		return "ServerAndNonTLS"
	case TLSMutual:
		return "Mutual"
	case TLSMutualAndNonTLS:
		return "MutualAndNonTLS"
	}
	return "TLSMode(" + strconv.Itoa(int(m)) + ")"
}

// ErrClientCertificateRefused: the area "tls" did not switch a device to
// mutual authentication (or change its TrustedCN) because the client
// certificate the engine presents (Config.ClientCertificate) would not be
// accepted under the profile — Config.ClientCertificate is nil, fails or
// returns none, no TrustedClientRoots entry issued the certificate (at the
// engine's Config.Now), or TrustedCN is set and does not list its CN. The
// device would refuse every later connection of the engine, with nothing left
// to switch it back, so it keeps its TLS settings.
//
// It is the error of that change: Change.Err of the area "tls" in the
// [ReconcileReport] Reconcile returns, matched with
// errors.Is(report.Err(), ErrClientCertificateRefused); a Maintainer run
// counts it in MaintenanceReport.ReconcileFailed and keeps its text in the
// record's ReconcileError. The text names the certificate and the cause. To fix it, make Config.ClientCertificate return
// a certificate (with its intermediates) issued under one of the profile's
// TLS.TrustedClientRoots whose CN is in TLS.TrustedCN, or correct the
// profile; the next reconcile applies the change.
var ErrClientCertificateRefused = errors.New("provisioning: the engine's client certificate would not be accepted under the profile's mutual TLS")

// checkClientCertificate asks Config.ClientCertificate for the certificate
// the engine presents to a device that asks for one under the roots of want,
// and checks it chains to one of want.TrustedClientRoots (at the engine's
// time, any usage) with a CN TrustedCN lists (exactly) when it lists any.
func (p *Provisioner) checkClientCertificate(want *TLSProfile) error {
	if p.cfg.ClientCertificate == nil {
		return fmt.Errorf("%w: Config.ClientCertificate is not set: set it to return a certificate issued under the profile's TLS.TrustedClientRoots", ErrClientCertificateRefused)
	}
	roots := x509.NewCertPool()
	// What a device's CertificateRequest offers, broadly: a callback that
	// picks by cri.SupportsCertificate finds its certificate acceptable.
	cri := &tls.CertificateRequestInfo{Version: tls.VersionTLS12, SignatureSchemes: []tls.SignatureScheme{
		tls.ECDSAWithP256AndSHA256, tls.ECDSAWithP384AndSHA384, tls.ECDSAWithP521AndSHA512,
		tls.PSSWithSHA256, tls.PSSWithSHA384, tls.PSSWithSHA512,
		tls.PKCS1WithSHA256, tls.PKCS1WithSHA384, tls.PKCS1WithSHA512, tls.Ed25519,
	}}
	for _, r := range want.TrustedClientRoots {
		roots.AddCert(r)
		cri.AcceptableCAs = append(cri.AcceptableCAs, r.RawSubject)
	}
	cert, err := p.cfg.ClientCertificate(cri)
	if err != nil {
		return fmt.Errorf("%w: Config.ClientCertificate: %w", ErrClientCertificateRefused, err)
	}
	if cert == nil || len(cert.Certificate) == 0 {
		return fmt.Errorf("%w: Config.ClientCertificate returned no certificate for the profile's TLS.TrustedClientRoots", ErrClientCertificateRefused)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("%w: the leaf Config.ClientCertificate returned does not parse: %w", ErrClientCertificateRefused, err)
		}
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: p.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%w: %s is not issued under the profile's TLS.TrustedClientRoots (add its root there, or have Config.ClientCertificate return one they issued, with its intermediates): %w", ErrClientCertificateRefused, certName(leaf), err)
	}
	if len(want.TrustedCN) > 0 && !slices.Contains(want.TrustedCN, leaf.Subject.CommonName) {
		return fmt.Errorf("%w: the CN %q of the certificate Config.ClientCertificate returned is not in the profile's TLS.TrustedCN %q (add it there, or present a certificate with one of those CNs)", ErrClientCertificateRefused, leaf.Subject.CommonName, want.TrustedCN)
	}
	return nil
}

// TLSModeOf returns the mode of the given settings.
func TLSModeOf(mutual, nonTLS bool) TLSMode {
	m := TLSServer
	if mutual {
		m = TLSMutual
	}
	if nonTLS {
		m++
	}
	return m
}

// Mode returns the profile's TLS mode.
func (t *TLSProfile) Mode() TLSMode { return TLSModeOf(t.MutualAuthentication, t.AllowNonTLS) }

// validateModes checks the mutual-authentication fields.
func (t *TLSProfile) validateModes() error {
	if t == nil {
		return nil
	}
	if t.MutualAuthentication && len(t.TrustedClientRoots) == 0 {
		return &ConfigError{Field: "TLS.TrustedClientRoots", Problem: "mutual authentication needs the roots of the client certificates, installed before it is enabled"}
	}
	for i, r := range t.TrustedClientRoots {
		if r == nil || len(r.Raw) == 0 {
			return &ConfigError{Field: fmt.Sprintf("TLS.TrustedClientRoots[%d]", i), Problem: "no certificate"}
		}
	}
	if len(t.TrustedCN) > 0 && !t.MutualAuthentication {
		return &ConfigError{Field: "TLS.TrustedCN", Problem: "names client certificates: only with MutualAuthentication"}
	}
	return nil
}

// tlsReconciled reports whether the profile asks the "tls" area for anything
// beyond what the configure step does (server authentication on the network
// interface): a session then runs it right after provisioning.
func tlsReconciled(p Profile) bool {
	t := p.TLS
	return t != nil && (t.MutualAuthentication || t.LocalTLS || len(t.TrustedCN) > 0)
}

// describeTLS says how an interface's settings read.
func describeTLS(s *amt.TLSSettingData) string {
	if s == nil || !s.Enabled {
		return "off"
	}
	d := TLSModeOf(s.MutualAuthentication, s.AcceptNonSecureConnections && s.Remote()).String()
	if len(s.TrustedCN) > 0 {
		d += " (CN " + strings.Join(s.TrustedCN, ", ") + ")"
	}
	return d
}

// planTLS keeps the TLS settings in line with Profile.TLS once TLS is on (the
// configure step enabled it before the commit): the trusted client roots
// first (AMT refuses them while mutual authentication is on), then the
// network interface's mode and trusted CNs and the local interface, written
// together and committed, as RPS's tls.ts does after activation — and read
// back over a fresh connection, which presents Config.ClientCertificate where
// the device now asks for one. A device provisioned without TLS keeps it off.
func planTLS(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	want := rc.profile.TLS
	if want == nil || !rc.rec.Done.Has(DoneTLSEnabled) {
		return nil, nil
	}
	dev := rc.dev
	settings, err := dev.TLSSettings(ctx)
	if err != nil {
		return nil, err
	}
	var remote, local *amt.TLSSettingData
	for _, s := range settings {
		switch s.InstanceID {
		case amt.TLSRemoteInstanceID:
			remote = s
		case amt.TLSLocalInstanceID:
			local = s
		}
	}
	if remote == nil {
		return nil, errors.New("the device lists no TLS settings for its network interface")
	}
	var out []Change
	if len(want.TrustedClientRoots) > 0 {
		list, err := dev.Certificates(ctx)
		if err != nil {
			return nil, err
		}
		for _, root := range want.TrustedClientRoots {
			if certOnDevice(list, root.Raw, true) != "" {
				continue
			}
			out = append(out, Change{Area: "tls", Action: ChangeAdd, Target: "trusted client root", To: certName(root),
				apply: func(ctx context.Context) error {
					_, err := rc.trustRoot(ctx, root, "")
					if errors.Is(err, amt.StatusNotPermitted) && remote.MutualAuthentication {
						return fmt.Errorf("%w (AMT takes no trusted root while mutual authentication is on: switch the profile to server authentication, reconcile, then back)", err)
					}
					return err
				}})
		}
	}
	nonTLS := want.AllowNonTLS && (remote.NonSecureConnectionsSupported == nil || *remote.NonSecureConnectionsSupported)
	remoteOff := !remote.Enabled || remote.MutualAuthentication != want.MutualAuthentication ||
		(remote.NonSecureConnectionsSupported == nil || *remote.NonSecureConnectionsSupported) && remote.AcceptNonSecureConnections != nonTLS ||
		!slices.Equal(remote.TrustedCN, want.TrustedCN)
	// The local interface is switched on when the profile asks for it, never
	// off: RPS, rpc-go and MeshCentral enable it with the network interface,
	// and platforms that enforce TLS on the local ports (AMT 19+) keep it on.
	localOff := local != nil && want.LocalTLS && !local.Enabled
	if !remoteOff && !localOff {
		return out, nil
	}
	from := "network " + describeTLS(remote)
	to := "network " + TLSModeOf(want.MutualAuthentication, nonTLS).String()
	if len(want.TrustedCN) > 0 {
		to += " (CN " + strings.Join(want.TrustedCN, ", ") + ")"
	}
	if local != nil {
		from += ", local " + onOff(local.Enabled)
		to += ", local " + onOff(want.LocalTLS || local.Enabled)
	}
	out = append(out, Change{Area: "tls", Action: ChangeUpdate, Target: "TLS settings", From: from, To: to,
		apply: func(ctx context.Context) error {
			if remoteOff && want.MutualAuthentication {
				if err := rc.p.checkClientCertificate(want); err != nil {
					return err
				}
				// Every client root must be on the device first: the
				// changes above may have failed, and with another trusted
				// root there (a RADIUS CA's) the firmware commits mutual
				// authentication all the same, then refuses the engine's
				// client certificate — nothing could reconcile it back.
				list, err := dev.Certificates(ctx)
				if err != nil {
					return err
				}
				for _, root := range want.TrustedClientRoots {
					if certOnDevice(list, root.Raw, true) == "" {
						return fmt.Errorf("TLS settings left as they are: the trusted client root %s is not on the device (see the error of its trusted client root change; the next reconcile adds it again), and mutual authentication would refuse the engine", certName(root))
					}
				}
			}
			if remoteOff {
				remote.Enabled, remote.MutualAuthentication = true, want.MutualAuthentication
				remote.AcceptNonSecureConnections, remote.TrustedCN = nonTLS, want.TrustedCN
				if _, err := dev.PutTLSSettings(ctx, remote); err != nil {
					return fmt.Errorf("network interface: %w", err)
				}
			}
			if localOff {
				local.Enabled, local.MutualAuthentication = true, false
				if _, err := dev.PutTLSSettings(ctx, local); err != nil {
					return fmt.Errorf("local interface: %w", err)
				}
			}
			// The settings take effect with CommitChanges; AMT 19 and later
			// restart their network stack and drop the connection (the reply
			// is lost): the read-back decides.
			recommit := false
			if err := dev.CommitChanges(ctx); err != nil {
				var te *wsman.TransportError
				if !errors.As(err, &te) || te.Phase == wsman.PhaseConnect {
					return fmt.Errorf("CommitChanges: %w", err)
				}
				// Lost, or the restart's drop: AMT_TLSSettingData reads what
				// was Put whether or not it was committed, so reading it back
				// proves nothing. The read-back commits once more: with
				// nothing pending that is a no-op; a commit that never
				// arrived happens now.
				recommit = true
			}
			return rc.readBack(ctx, func(ctx context.Context, d *ManagedDevice) error {
				if recommit {
					recommit = false
					if err := d.CommitChanges(ctx); err != nil {
						return fmt.Errorf("CommitChanges again: %w", err) // the next read-back attempt reads
					}
				}
				got, err := d.TLSSettings(ctx)
				if err != nil {
					return err
				}
				for _, s := range got {
					switch {
					case s.Remote() && (s.MutualAuthentication != want.MutualAuthentication || !s.Enabled):
						return mismatch("the network interface reads %s", describeTLS(s))
					case s.InstanceID == amt.TLSLocalInstanceID && localOff && !s.Enabled:
						return mismatch("the local interface reads %s", onOff(s.Enabled))
					}
				}
				return nil
			})
		}})
	return out, nil
}
