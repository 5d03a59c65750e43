package provisioning

import (
	"bytes"
	"context"

	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/wsman"
)

// Maintainer keeps provisioned devices healthy: on a schedule it renews AMT's TLS
// and 802.1X certificates that entered the renewal window, has the superseded
// ones revoked (reason Superseded), reports provisioning bundles nearing expiry
// (Configuration Manager statuses 7210 and 7211), and ages out records of
// devices that were discovered but never provisioned. Every action is an
// [Event] to the Provisioner's Observer.
//
// Create it with [Provisioner.Maintainer]; set fields before Run.
type Maintainer struct {
	p *Provisioner

	// Every is how often devices are checked. Zero: ExpiryPolicy's interval
	// (7 days).
	Every time.Duration
	// BundleEvery is how often provisioning bundles are checked. Zero: daily.
	BundleEvery time.Duration
	// Retention is how long a record of a device that was never provisioned is
	// kept after its last hello. Zero: 90 days.
	Retention time.Duration
}

// Maintainer returns a Maintainer that uses this Provisioner's store, issuer,
// expiry policy, clock, dialer and observer.
func (p *Provisioner) Maintainer() *Maintainer { return &Maintainer{p: p} }

// MaintenanceReport summarises one pass of [Maintainer.RunOnce].
type MaintenanceReport struct {
	Checked      int // provisioned devices looked at
	Renewed      int // certificates renewed
	Revoked      int // superseded certificates revoked
	NotRenewable int // certificates due but on wireless-only devices
	Failed       int // devices whose renewal failed
	AgedOut      int // discovery records removed
	Removed      int // replaced certificates (with their keys) deleted from devices
}

func (m *Maintainer) every() time.Duration {
	if m.Every > 0 {
		return m.Every
	}
	return m.p.cfg.ExpiryPolicy.Interval()
}

func (m *Maintainer) bundleEvery() time.Duration {
	if m.BundleEvery > 0 {
		return m.BundleEvery
	}
	return 24 * time.Hour
}

func (m *Maintainer) retention() time.Duration {
	if m.Retention > 0 {
		return m.Retention
	}
	return 90 * 24 * time.Hour
}

// Run checks bundles and devices at once, then on their schedules, until ctx
// is done. It returns ctx's error. It waits with the Provisioner's
// [Config.Sleep] and reads its [Config.Now], so an injected clock drives it.
func (m *Maintainer) Run(ctx context.Context) error {
	p := m.p
	m.CheckBundles(ctx)
	_, _ = m.RunOnce(ctx)
	now := p.now()
	nextDevices, nextBundles := now.Add(m.every()), now.Add(m.bundleEvery())
	for {
		wait := earliest(nextDevices, nextBundles).Sub(p.now())
		if err := p.sleep(ctx, max(wait, 0)); err != nil {
			return err
		}
		now := p.now()
		if !now.Before(nextBundles) {
			m.CheckBundles(ctx)
			nextBundles = now.Add(m.bundleEvery())
		}
		if !now.Before(nextDevices) {
			_, _ = m.RunOnce(ctx)
			nextDevices = now.Add(m.every())
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// CheckBundles evaluates every provisioning bundle against the expiry policy
// and emits a finding event for each in the warning (7210) or error (7211)
// window or expired. It returns the findings.
func (m *Maintainer) CheckBundles(ctx context.Context) []Event {
	p := m.p
	now := p.now()
	var out []Event
	for _, b := range p.cfg.Bundles {
		st := p.cfg.ExpiryPolicy.Provisioning(b.NotBefore(), b.NotAfter(), now)
		var reason Reason
		switch st {
		case certs.ExpiryWarning:
			reason = ReasonBundleExpiryWarning
		case certs.ExpiryError:
			reason = ReasonBundleExpiryError
		case certs.ExpiryExpired:
			reason = ReasonBundleExpired
		default:
			continue
		}
		e := Event{Time: now, Step: StepBundleExpiry, Reason: reason,
			Detail: fmt.Sprintf("%s: %s, expires %s (status %d)", bundleName(b), st, b.NotAfter().Format(time.DateOnly), st.StatusMessageID())}
		p.emit(e)
		out = append(out, e)
	}
	return out
}

// RunOnce walks the store once: renews due certificates of provisioned devices
// and ages out stale discovery records.
func (m *Maintainer) RunOnce(ctx context.Context) (MaintenanceReport, error) {
	var rep MaintenanceReport
	p := m.p
	recs, err := p.store.List(ctx)
	if err != nil {
		return rep, err
	}
	now := p.now()
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if r.State != StateProvisioned {
			if !r.State.Final() && r.State != StateNew {
				continue // a session may be running
			}
			if !r.LastSeen.IsZero() && now.Sub(r.LastSeen) > m.retention() && len(r.Certificates) == 0 {
				if err := p.store.Delete(ctx, r.UUID); err == nil {
					rep.AgedOut++
					p.emit(Event{Time: now, Device: r.UUID, Step: StepAgeOut, State: r.State,
						Detail: fmt.Sprintf("discovery record removed: last hello %s", r.LastSeen.Format(time.DateOnly))})
				}
			}
			continue
		}
		if r.Blocked {
			continue
		}
		rep.Checked++
		m.maintainDevice(ctx, r, &rep)
	}
	return rep, nil
}

func (m *Maintainer) maintainDevice(ctx context.Context, r *DeviceRecord, rep *MaintenanceReport) {
	defer m.removeSuperseded(ctx, r, rep)
	p := m.p
	now := p.now()
	for _, purpose := range []CertificatePurpose{PurposeTLS, PurposeIEEE8021X} {
		cur, ok := r.CurrentCertificate(purpose)
		if !ok {
			continue
		}
		c, err := cur.Certificate()
		if err != nil {
			continue
		}
		st := p.cfg.ExpiryPolicy.DeviceCert(c, now)
		if st != certs.ExpiryRenew && st != certs.ExpiryExpired && st != certs.ExpiryError && st != certs.ExpiryWarning {
			continue
		}
		if r.Inventory.Wireless {
			rep.NotRenewable++
			p.emit(Event{Time: now, Device: r.UUID, Step: StepRenew, State: r.State, Reason: ReasonNotRenewable,
				Detail: fmt.Sprintf("%s certificate expires %s but the device is reached over wireless only", purpose, c.NotAfter.Format(time.DateOnly))})
			continue
		}
		start := p.now()
		nc, err := m.renew(ctx, r, cur, purpose)
		e := Event{Time: p.now(), Device: r.UUID, Step: StepRenew, State: r.State, Duration: p.now().Sub(start)}
		if err != nil {
			rep.Failed++
			e.Err, e.Reason = err, ReasonOf(err)
			if e.Reason == "" {
				e.Reason = ReasonDeviceError
			}
			e.Detail = fmt.Sprintf("renewing the %s certificate failed", purpose)
			p.emit(e)
			continue
		}
		rep.Renewed++
		e.Detail = fmt.Sprintf("%s certificate renewed: serial %x, expires %s", purpose, nc.SerialNumber, nc.NotAfter.Format(time.DateOnly))
		p.emit(e)
		// Revoke the one it replaced.
		for i := range r.Certificates {
			if r.Certificates[i].Handle == cur.Handle && r.Certificates[i].Purpose == purpose && !r.Certificates[i].Revoked {
				if err := p.revoke(ctx, r.UUID, &r.Certificates[i]); err == nil {
					rep.Revoked++
				}
			}
		}
		r.UpdatedAt = p.now()
		_ = p.store.Save(ctx, r)
	}
}

// removeSuperseded deletes from the device the certificates a renewal replaced,
// and their keys, so that AMT's stores do not fill over the years (it answers
// PT_STATUS_MAX_LIMIT_REACHED, 23). It is best effort: a certificate that
// cannot be deleted now (right after a TLS renewal the device may still be
// restarting its network stack) is tried again at the next run. One already
// gone (a full unprovision deletes them) counts as removed.
func (m *Maintainer) removeSuperseded(ctx context.Context, r *DeviceRecord, rep *MaintenanceReport) {
	p := m.p
	var stale []int
	for i, dc := range r.Certificates {
		if dc.Handle == "" || dc.RemovedFromDevice {
			continue
		}
		if cur, ok := r.CurrentCertificate(dc.Purpose); ok && bytes.Equal(cur.DER, dc.DER) {
			continue
		}
		stale = append(stale, i)
	}
	if len(stale) == 0 {
		return
	}
	prof, _ := p.profileFor(r.Inventory)
	dev, done, err := p.adminDevice(r, prof.AllowLegacyTLS)
	if err != nil {
		return
	}
	defer done()
	gone := func(err error) bool { return err == nil || errors.Is(err, wsman.ErrInvalidSelectors) }
	removed := 0
	for _, i := range stale {
		dc := &r.Certificates[i]
		if err := dev.DeleteCertificate(ctx, dc.Handle); !gone(err) {
			continue
		}
		if dc.KeyHandle != "" {
			if err := dev.DeleteKeyPair(ctx, dc.KeyHandle); !gone(err) {
				continue
			}
		}
		dc.RemovedFromDevice = true
		removed++
	}
	if removed == 0 {
		return
	}
	rep.Removed += removed
	r.UpdatedAt = p.now()
	_ = p.store.Save(ctx, r)
	p.emit(Event{Time: p.now(), Device: r.UUID, Step: StepRenew, State: r.State,
		Detail: fmt.Sprintf("%d replaced certificate(s) and key(s) deleted from the device", removed)})
}

// renew replaces one certificate on a provisioned device.
func (m *Maintainer) renew(ctx context.Context, r *DeviceRecord, old DeviceCertificate, purpose CertificatePurpose) (*x509.Certificate, error) {
	p := m.p
	if p.cfg.Issuer == nil {
		return nil, &SessionError{Step: StepRenew, Reason: ReasonIssueFailed, Err: errors.New("no Issuer configured")}
	}
	prof, _ := p.profileFor(r.Inventory)
	dev, done, err := p.adminDevice(r, prof.AllowLegacyTLS)
	if err != nil {
		return nil, err
	}
	defer done()
	s := &Session{p: p, rec: r, inv: r.Inventory, profile: prof, dev: dev}
	dc, err := s.issueForAMTKey(ctx, purpose)
	if err != nil {
		return nil, err
	}
	switch purpose {
	case PurposeTLS:
		if _, err := dev.BindTLSCertificate(ctx, dc.Handle); err != nil {
			return nil, err
		}
		// Post-provisioning, CommitChanges applies the new TLS credential; the
		// firmware may restart its network stack and drop the reply.
		if err := dev.CommitChanges(ctx); err != nil {
			var te *wsman.TransportError
			if !errors.As(err, &te) || te.Phase == wsman.PhaseConnect {
				return nil, err
			}
		}
	case PurposeIEEE8021X:
		if err := dev.SetIEEE8021xCertificates(ctx, "", dc.Handle); err != nil {
			return nil, err
		}
	}
	_ = old
	return dc.Certificate()
}

// adminDevice returns an amt.Device signed in as the admin account of a
// provisioned device.
func (p *Provisioner) adminDevice(r *DeviceRecord, allowLegacy bool) (*amt.Device, func(), error) {
	h := ReceivedHello{Hello: &hello.Message{UUID: r.UUID, Version: r.HelloVersion}, Source: r.Source}
	if !h.Source.IsValid() {
		h.Source = netip.AddrPort{}
	}
	c, tr, _, err := p.adminClient(h, r, allowLegacy)
	if err != nil {
		return nil, nil, err
	}
	return amt.NewDevice(c), tr.CloseIdleConnections, nil
}

// Unprovision removes a device's provisioning (full unprovision), has every
// certificate amtkit installed on it revoked (reason Superseded, as
// Configuration Manager does when provisioning information is removed) and
// marks its record. The device returns to pre-provisioning.
func (p *Provisioner) Unprovision(ctx context.Context, uuid amt.UUID) error {
	r, err := p.store.Load(ctx, uuid)
	if err != nil {
		return err
	}
	prof, _ := p.profileFor(r.Inventory)
	dev, done, err := p.adminDevice(r, prof.AllowLegacyTLS)
	if err != nil {
		return err
	}
	defer done()
	start := p.now()
	err = dev.Unprovision(ctx)
	e := Event{Time: p.now(), Device: uuid, Step: StepUnprovision, Duration: p.now().Sub(start), State: r.State}
	if err != nil {
		e.Err, e.Reason = err, ReasonDeviceError
		p.emit(e)
		return &SessionError{Step: StepUnprovision, Reason: ReasonDeviceError, Err: err}
	}
	n := p.revokeAll(ctx, r)
	r.State = StateNew
	r.Done = 0
	r.AdminPassword, r.MEBxPassword = amt.Secret{}, amt.Secret{}
	r.ControlMode = amt.ControlModeNone
	r.UpdatedAt = p.now()
	e.State = StateNew
	e.Detail = fmt.Sprintf("unprovisioned; %d certificate(s) revoked", n)
	p.emit(e)
	return p.store.Save(ctx, r)
}

// Block marks a device as blocked: its hellos are rejected from now on and every
// certificate amtkit installed on it is revoked.
func (p *Provisioner) Block(ctx context.Context, uuid amt.UUID) error {
	r, err := p.store.Load(ctx, uuid)
	if errors.Is(err, ErrNotFound) {
		r = &DeviceRecord{UUID: uuid, FirstSeen: p.now()}
	} else if err != nil {
		return err
	}
	r.Blocked = true
	n := p.revokeAll(ctx, r)
	r.UpdatedAt = p.now()
	p.emit(Event{Time: p.now(), Device: uuid, Step: StepRevoke, State: r.State, Reason: ReasonNotApproved,
		Detail: fmt.Sprintf("device blocked; %d certificate(s) revoked", n)})
	return p.store.Save(ctx, r)
}

func (p *Provisioner) revokeAll(ctx context.Context, r *DeviceRecord) int {
	if p.cfg.Issuer == nil {
		return 0
	}
	n := 0
	for i := range r.Certificates {
		if r.Certificates[i].Revoked {
			continue
		}
		if err := p.revoke(ctx, r.UUID, &r.Certificates[i]); err == nil {
			n++
		}
	}
	return n
}
