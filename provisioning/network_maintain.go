package provisioning

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/amtkit/amtkit/amt"
)

// The Maintainer's part of the network profiles: which certificates it
// renews (TLS, wired 802.1X and the client certificate of every EAP-TLS
// Wi-Fi profile), how a renewed 802.1X certificate is bound (SetCertificates
// for the wired interface, UpdateWiFiSettings for a Wi-Fi profile) and read
// back before the old one is revoked.

// certSlots lists what the record holds certificates for: TLS first, then
// wired 802.1X, then each Wi-Fi profile by name.
func certSlots(r *DeviceRecord) []certSlot {
	var out []certSlot
	for _, c := range r.Certificates {
		if s := c.slot(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	rank := func(s certSlot) int {
		switch {
		case s.purpose == PurposeTLS:
			return 0
		case s.profile == "":
			return 1
		}
		return 2
	}
	slices.SortStableFunc(out, func(a, b certSlot) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.profile, b.profile)
	})
	return out
}

// slotName names a certificate's use in events: "tls", "8021x",
// `8021x (Wi-Fi "corp")`.
func slotName(s certSlot) string {
	if s.profile == "" {
		return string(s.purpose)
	}
	return fmt.Sprintf("%s (Wi-Fi %q)", s.purpose, s.profile)
}

// notRenewable says why a due certificate is not renewed now, or "".
//
//   - TLS on a device reached over wireless only: its renewal ends with
//     CommitChanges, which restarts AMT's network stack, and the device may
//     not come back on its own link (as before).
//   - The Wi-Fi profile AMT is connected by (LastConnectedSsidUnderMeControl):
//     Configuration Manager updates every profile but the one in use, and the
//     firmware refuses to delete an active profile (Intel AMT SDK, User
//     Profiles and Admin Profiles); it is renewed once AMT is on another link.
//   - A Wi-Fi profile the device's profile no longer lists: reconcile removes
//     it and has its certificate revoked.
//   - An 802.1X certificate whose wired interface or Wi-Fi network the
//     profile no longer runs with EAP-TLS: reconcile retires it (revoked;
//     the Maintainer then deletes it from the device).
//
// Every other Wi-Fi certificate is renewed whichever way the device is
// reached, wireless included: UpdateWiFiSettings swaps the credential of a
// profile that is not in use, and the old certificate stays valid until the
// new one is read back bound over a fresh connection.
func (m *Maintainer) notRenewable(ctx context.Context, r *DeviceRecord, slot certSlot) string {
	prof, err := m.p.profileFor(r.Inventory)
	if err != nil && slot.purpose == PurposeIEEE8021X {
		return fmt.Sprintf("its profile cannot be read (%v), and the 802.1X settings it binds to come from it", err)
	}
	switch {
	case slot.purpose == PurposeIEEE8021X && slot.profile == "":
		if w := prof.wired8021X(); w == nil || w.Method != EAPTLS {
			return "the profile no longer uses wired 802.1X with EAP-TLS (reconcile retires the certificate)"
		}
		fallthrough
	case slot.purpose == PurposeTLS || slot.profile == "":
		if r.Inventory.Wireless {
			return "the device is reached over wireless only"
		}
		return ""
	}
	nw := wifiNetwork(prof, slot.profile)
	if nw == nil {
		return fmt.Sprintf("the profile no longer lists Wi-Fi network %q (reconcile removes it)", slot.profile)
	}
	if nw.IEEE8021X == nil || nw.IEEE8021X.Method != EAPTLS {
		return fmt.Sprintf("Wi-Fi network %q no longer uses EAP-TLS (reconcile retires the certificate)", slot.profile)
	}
	dev, err := m.p.openDevice(ctx, r)
	if err != nil {
		return "" // the renewal reports it
	}
	defer dev.Close()
	cfg, err := dev.WiFiPortConfiguration(ctx)
	if err != nil {
		return ""
	}
	if ssid := cfg.LastConnectedSsidUnderMeControl; ssid != "" && ssid == nw.SSID {
		return fmt.Sprintf("AMT is connected by Wi-Fi profile %q (%s), which is not changed while in use", nw.Name, ssid)
	}
	return ""
}

// wifiNetwork returns the profile's Wi-Fi network named name, or nil.
func wifiNetwork(prof Profile, name string) *WiFiNetwork {
	w := prof.wifi()
	if w == nil {
		return nil
	}
	for i := range w.Networks {
		if w.Networks[i].Name == name {
			return &w.Networks[i]
		}
	}
	return nil
}

// bind8021X binds a renewed 802.1X client certificate: SetCertificates with
// the RADIUS root for the wired interface (RPS passes both every time), or
// UpdateWiFiSettings with every setting of the Wi-Fi profile and the new
// ClientCredential.
func (m *Maintainer) bind8021X(ctx context.Context, dev *ManagedDevice, r *DeviceRecord, dc *DeviceCertificate) error {
	prof, _ := m.p.profileFor(r.Inventory)
	list, err := dev.Certificates(ctx)
	if err != nil {
		return err
	}
	rootOf := func(c *IEEE8021XConfig) string {
		if c == nil || c.ServerRoot == nil {
			return ""
		}
		return certOnDevice(list, c.ServerRoot.Raw, true)
	}
	if dc.Profile == "" {
		return dev.SetIEEE8021xCertificates(ctx, rootOf(prof.wired8021X()), dc.Handle)
	}
	nw := wifiNetwork(prof, dc.Profile)
	if nw == nil || nw.IEEE8021X == nil {
		return fmt.Errorf("the profile no longer lists enterprise Wi-Fi network %q", dc.Profile)
	}
	profiles, err := dev.WiFiProfiles(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(profiles, func(p amt.WiFiEndpointSettings) bool { return p.ElementName == dc.Profile })
	if i < 0 {
		return fmt.Errorf("the device has no Wi-Fi profile %q", dc.Profile)
	}
	return dev.UpdateWiFiSettings(ctx, wifiSettingsFor(nw, r.Inventory, profiles[i].InstanceID, dc.Handle, rootOf(nw.IEEE8021X)))
}

// wifiCertBound reports whether dc is bound to its Wi-Fi profile's 802.1X
// settings (CIM_CredentialContext).
func wifiCertBound(ctx context.Context, dev *ManagedDevice, dc *DeviceCertificate) (bool, error) {
	wd, err := readWiFi(ctx, dev)
	if err != nil {
		return false, err
	}
	ie := wd.ieeeOf(dc.Profile)
	if ie == nil {
		return false, errors.New("the Wi-Fi profile has no 802.1X settings")
	}
	return bound(wd.contexts, ie.InstanceID, dc.Handle), nil
}
