package provisioning

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"slices"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
)

// planRoots deletes from the device the trusted roots reconcile installed
// (DeviceRecord.TrustedRoots) that no part of the profile names any more — a
// RADIUS or MPS CA rotated, a network removed — and that no credential
// context binds: each CA rotation otherwise leaves one more certificate in
// AMT's store, which fills (PT_STATUS_MAX_LIMIT_REACHED) and then refuses
// every root and client certificate. rpc-go prunes the certificates no
// profile is associated with after it clears Wi-Fi profiles
// (internal/certs/utils.go, PruneCerts). A root the device no longer holds
// is forgotten; one still bound (a profile whose update failed) waits for a
// later run. The area runs last but for "tls", and only when every area
// before it succeeded (reconcile).
func planRoots(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	if len(rc.rec.TrustedRoots) == 0 {
		return nil, nil
	}
	wanted := rc.profile.trustedRoots()
	var stale [][]byte
	for _, der := range rc.rec.TrustedRoots {
		if !slices.ContainsFunc(wanted, func(c *x509.Certificate) bool { return bytes.Equal(c.Raw, der) }) {
			stale = append(stale, der)
		}
	}
	if len(stale) == 0 {
		return nil, nil
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
	for _, der := range stale {
		name := "a root that does not parse"
		if c, err := x509.ParseCertificate(der); err == nil {
			name = certName(c)
		}
		forget := func(ctx context.Context) error {
			rc.rec.TrustedRoots = slices.DeleteFunc(rc.rec.TrustedRoots, func(b []byte) bool { return bytes.Equal(b, der) })
			return rc.save(ctx)
		}
		switch h := certOnDevice(list, der, true); {
		case h == "":
			out = append(out, Change{Area: "roots", Action: ChangeRemove, Target: "record of a trusted root the device no longer holds", From: name, apply: forget})
		case bound[h]:
			// Still bound (a profile whose change failed names it): a later
			// run deletes it.
		default:
			out = append(out, Change{Area: "roots", Action: ChangeRemove, Target: "trusted root no profile names", From: name,
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

// trustedRoots lists the trusted roots p has reconcile install and record
// (TLSProfile.TrustedClientRoots are never recorded, so never pruned).
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
	return out
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
