package provisioning

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"strings"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
)

// planRoots deletes from the device the trusted roots reconcile installed
// (DeviceRecord.TrustedRoots) that nothing needs any more — a RADIUS or MPS
// CA rotated, a network removed: each CA rotation otherwise leaves one more
// certificate in AMT's store, which fills (PT_STATUS_MAX_LIMIT_REACHED) and
// then refuses every root and client certificate. rpc-go prunes the
// certificates no profile is associated with after it clears Wi-Fi profiles
// (internal/certs/utils.go, PruneCerts).
//
// A root is deleted only when all of these hold, since a root deleted while
// something still needs it cuts that off:
//   - every area that has used it (TrustedRoot.Areas) ran in this run and
//     succeeded, and the profile manages it (Network.Wired8021X set for
//     "8021x-wired", Network.WiFi for "wifi", RemoteAccess for "cira"): its
//     replacement, if any, is installed, and a profile that leaves an area
//     alone keeps its roots;
//   - no part of the profile names it, TLSProfile.TrustedClientRoots
//     included;
//   - no credential context binds it (a profile whose change failed);
//   - the device does not run mutual TLS on its network interface: it
//     checks the engine's client certificate against its trusted roots.
//
// A root the device no longer holds is forgotten. A dry run shows no
// deletion: whether one is due depends on how the run's other areas end.
func planRoots(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	if len(rc.rec.TrustedRoots) == 0 {
		return nil, nil
	}
	wanted := rc.profile.trustedRoots()
	var stale []TrustedRoot
	for _, r := range rc.rec.TrustedRoots {
		done := len(r.Areas) > 0
		for _, a := range r.Areas {
			done = done && rc.ok[a] && rc.profile.manages(a)
		}
		if done && !slices.ContainsFunc(wanted, func(c *x509.Certificate) bool { return bytes.Equal(c.Raw, r.DER) }) {
			stale = append(stale, r)
		}
	}
	if len(stale) == 0 {
		return nil, nil
	}
	if mutual, err := mutualTLS(ctx, rc.dev); err != nil || mutual {
		return nil, err
	}
	list, err := rc.dev.Certificates(ctx)
	if err != nil {
		return nil, err
	}
	bound, err := boundCertificates(ctx, rc.dev)
	if err != nil {
		return nil, err
	}
	var out []Change
	for _, r := range stale {
		der := r.DER
		name := "a root that does not parse"
		if c, err := x509.ParseCertificate(der); err == nil {
			name = certName(c)
		}
		forget := func(ctx context.Context) error {
			rc.rec.TrustedRoots = slices.DeleteFunc(rc.rec.TrustedRoots, func(t TrustedRoot) bool { return bytes.Equal(t.DER, der) })
			return rc.save(ctx)
		}
		switch h := certOnDevice(list, der, true); {
		case h == "":
			out = append(out, Change{Area: "roots", Action: ChangeRemove, Target: "record of a trusted root the device no longer holds", From: name, apply: forget})
		case bound[h]:
			// Still bound (a profile whose change failed names it): a later
			// run deletes it.
		default:
			out = append(out, Change{Area: "roots", Action: ChangeRemove, Target: "trusted root nothing needs (used by " + strings.Join(r.Areas, ", ") + ")", From: name,
				apply: func(ctx context.Context) error {
					if err := rc.dev.DeleteCertificate(ctx, h); err != nil && !errors.Is(err, wsman.ErrInvalidSelectors) {
						return err
					}
					return forget(ctx)
				}})
		}
	}
	return out, nil
}

// trustedRoots lists the trusted roots p names: RADIUS server roots, the MPS
// root and the roots for mutual TLS.
func (p Profile) trustedRoots() []*x509.Certificate {
	var out []*x509.Certificate
	add := func(x *IEEE8021XConfig) {
		if x != nil && x.ServerRoot != nil {
			out = append(out, x.ServerRoot)
		}
	}
	add(p.wired8021X())
	if w := p.wifi(); w != nil {
		for i := range w.Networks {
			add(w.Networks[i].IEEE8021X)
		}
	}
	if ra := p.RemoteAccess; ra != nil && ra.Root != nil {
		out = append(out, ra.Root)
	}
	if p.TLS != nil {
		out = append(out, p.TLS.TrustedClientRoots...)
	}
	return out
}

// manages reports whether p has reconcile keep the area in line with
// settings of its own (a nil part of the profile leaves the device's
// settings, and so the roots they may use, alone; without wired 802.1X
// reconcile only switches off what amtkit switched on, and another party's
// 802.1X may use a root without binding it).
func (p Profile) manages(area string) bool {
	switch area {
	case "8021x-wired":
		return p.wired8021X() != nil
	case "wifi":
		return p.wifi() != nil
	case "cira":
		return p.RemoteAccess != nil
	}
	return false
}

// mutualTLS reports whether the device's network interface requires a
// client certificate (AMT_TLSSettingData MutualAuthentication).
func mutualTLS(ctx context.Context, dev *ManagedDevice) (bool, error) {
	settings, err := dev.TLSSettings(ctx)
	if err != nil {
		return false, err
	}
	for _, s := range settings {
		if s.InstanceID == amt.TLSRemoteInstanceID && s.MutualAuthentication {
			return true, nil
		}
	}
	return false, nil
}

// boundCertificates returns the handles of the certificates a credential
// context binds on the device (Wi-Fi and wired 802.1X; classes the device
// does not serve bind nothing).
func boundCertificates(ctx context.Context, dev *ManagedDevice) (map[string]bool, error) {
	out := map[string]bool{}
	for _, read := range []func(context.Context) ([]amt.CredentialContext, error){dev.CredentialContexts, dev.IEEE8021xCredentialContexts} {
		ctxs, err := read(ctx)
		if errors.Is(err, amt.ErrNotFound) || errors.Is(err, wsman.ErrDestinationUnreachable) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, c := range ctxs {
			out[c.CertificateInstanceID()] = true
		}
	}
	return out, nil
}

// claimRoot records that area uses the trusted root der, when amtkit
// installed it (a root the record does not know is not amtkit's to delete):
// the area "roots" deletes it only once every area that used it is done
// with it. It saves the record when it changed, and changes nothing in a
// dry run.
func (rc *reconcileContext) claimRoot(ctx context.Context, der []byte, area string) error {
	if rc.opts.DryRun {
		return nil
	}
	i := slices.IndexFunc(rc.rec.TrustedRoots, func(t TrustedRoot) bool { return bytes.Equal(t.DER, der) })
	if i < 0 || slices.Contains(rc.rec.TrustedRoots[i].Areas, area) {
		return nil
	}
	rc.rec.TrustedRoots[i].Areas = append(rc.rec.TrustedRoots[i].Areas, area)
	return rc.save(ctx)
}
