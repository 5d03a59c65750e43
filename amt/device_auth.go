package amt

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// AMT_AuthorizationService (intel/lms AMT_AuthorizationService.h; return values
// from go-wsman-messages amt/authorization/decoder.go). All methods return
// PT_STATUS: 2058 StatusDuplicate, 2053 StatusInvalidHandle, 2055
// StatusInvalidRealm, 23 StatusMaxLimitReached, 12 StatusInvalidName …

// SetAdminACLEntryEx calls SetAdminAclEntryEx: sets the admin user name and
// password. DigestPassword is sent as base64 of the 16 raw bytes of
// MD5(username:digestRealm:password) — not hex, unlike AdminSetup. The realm
// does not change.
func (d *Device) SetAdminACLEntryEx(ctx context.Context, username string, password Secret, digestRealm string) error {
	const method = "SetAdminAclEntryEx"
	if err := checkDigestAccount(username, password, digestRealm); err != nil {
		return opError(URIAuthorizationService, method, err)
	}
	_, err := d.invoke(ctx, URIAuthorizationService, method, nil,
		wsman.Prop("Username", username),
		wsman.Prop("DigestPassword", DigestA1Base64(username, digestRealm, password).Reveal()))
	return err
}

func checkDigestAccount(username string, password Secret, digestRealm string) error {
	if err := CheckUsername(username); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if digestRealm == "" {
		return fmt.Errorf("%w: the digest realm (AMT_GeneralSettings.DigestRealm) is required", ErrInvalidArgument)
	}
	if err := checkPassword("password of "+username, password.Reveal()); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return nil
}

// AdminACLEntry calls GetAdminAclEntry and returns the admin user name
// ("admin" after host-based setup).
func (d *Device) AdminACLEntry(ctx context.Context) (string, error) {
	const method = "GetAdminAclEntry"
	out, err := d.invoke(ctx, URIAuthorizationService, method, nil)
	if err != nil {
		return "", err
	}
	u, ok := propertyText(out, "Username")
	if !ok {
		return "", opError(URIAuthorizationService, method, fmt.Errorf("%w: no Username", ErrBadResponse))
	}
	return u, nil
}

// AdminACLEntryStatus calls GetAdminAclEntryStatus: whether the admin password
// was never changed.
func (d *Device) AdminACLEntryStatus(ctx context.Context) (isDefault bool, err error) {
	return d.boolOutput(ctx, URIAuthorizationService, "GetAdminAclEntryStatus", "IsDefault")
}

// AdminNetACLEntryStatus calls GetAdminNetAclEntryStatus: whether the remote
// admin password was never changed.
func (d *Device) AdminNetACLEntryStatus(ctx context.Context) (isDefault bool, err error) {
	return d.boolOutput(ctx, URIAuthorizationService, "GetAdminNetAclEntryStatus", "IsDefault")
}

func (d *Device) boolOutput(ctx context.Context, uri, method, name string, props ...wsman.Property) (bool, error) {
	out, err := d.invoke(ctx, uri, method, nil, props...)
	if err != nil {
		return false, err
	}
	b, err := parseBoolOutput(out, name)
	return b, opError(uri, method, err)
}

func parseBoolOutput(out *etree.Element, name string) (bool, error) {
	s, ok := propertyText(out, name)
	if !ok {
		return false, fmt.Errorf("%w: no %s in %s", ErrBadResponse, name, out.Tag)
	}
	b, err := wsman.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrBadResponse, name, err)
	}
	return b, nil
}

// UserACLEntry is a user ACL entry as GetUserAclEntryEx returns it (the
// password is never returned).
type UserACLEntry struct {
	Handle      uint32
	Username    string // DigestUsername ("" for a Kerberos entry)
	KerberosSID []byte // KerberosUserSid ("" for a digest entry)
	Access      AccessPermission
	Realms      []Realm
}

// UserACLEntryRequest is the content of a user ACL entry for AddUserAclEntryEx
// and UpdateUserAclEntryEx: either a digest account (Username, Password and
// DigestRealm) or a Kerberos SID, never both.
type UserACLEntryRequest struct {
	Username    string
	Password    Secret
	DigestRealm string // AMT_GeneralSettings.DigestRealm
	KerberosSID []byte // 1–28 bytes, a multiple of 4
	Access      AccessPermission
	Realms      []Realm
}

func (r *UserACLEntryRequest) props() ([]wsman.Property, error) {
	var ps []wsman.Property
	switch {
	case r.Username != "" && len(r.KerberosSID) > 0:
		return nil, fmt.Errorf("%w: a user ACL entry has a digest user or a Kerberos SID, not both", ErrInvalidArgument)
	case r.Username != "":
		if err := checkDigestAccount(r.Username, r.Password, r.DigestRealm); err != nil {
			return nil, err
		}
		ps = append(ps,
			wsman.Prop("DigestUsername", r.Username),
			wsman.Prop("DigestPassword", DigestA1Base64(r.Username, r.DigestRealm, r.Password).Reveal()))
	case len(r.KerberosSID) > 0:
		if len(r.KerberosSID) > 28 || len(r.KerberosSID)%4 != 0 {
			return nil, fmt.Errorf("%w: KerberosUserSid must be 4 to 28 bytes in multiples of 4, got %d", ErrInvalidArgument, len(r.KerberosSID))
		}
		ps = append(ps, wsman.Prop("KerberosUserSid", base64.StdEncoding.EncodeToString(r.KerberosSID)))
	default:
		return nil, fmt.Errorf("%w: a user ACL entry needs a digest user or a Kerberos SID", ErrInvalidArgument)
	}
	if r.Access > AccessAny {
		return nil, fmt.Errorf("%w: AccessPermission %d", ErrInvalidArgument, r.Access)
	}
	ps = append(ps, wsman.Prop("AccessPermission", strconv.FormatUint(uint64(r.Access), 10)))
	for _, realm := range r.Realms {
		ps = append(ps, wsman.Prop("Realms", strconv.FormatUint(uint64(realm), 10)))
	}
	return ps, nil
}

// AddUserACLEntryEx calls AddUserAclEntryEx and returns the new entry's
// handle. Realms are sent as repeated Realms elements.
func (d *Device) AddUserACLEntryEx(ctx context.Context, e UserACLEntryRequest) (uint32, error) {
	const method = "AddUserAclEntryEx"
	ps, err := e.props()
	if err != nil {
		return 0, opError(URIAuthorizationService, method, err)
	}
	out, err := d.invoke(ctx, URIAuthorizationService, method, nil, ps...)
	if err != nil {
		return 0, err
	}
	h, err := parseUint32Output(out, "Handle")
	return h, opError(URIAuthorizationService, method, err)
}

func parseUint32Output(out *etree.Element, name string) (uint32, error) {
	s, ok := propertyText(out, name)
	if !ok {
		return 0, fmt.Errorf("%w: no %s in %s", ErrBadResponse, name, out.Tag)
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not a uint32", ErrBadResponse, name, truncate(s))
	}
	return uint32(v), nil
}

// UpdateUserACLEntryEx calls UpdateUserAclEntryEx: replaces the entry with
// handle.
func (d *Device) UpdateUserACLEntryEx(ctx context.Context, handle uint32, e UserACLEntryRequest) error {
	const method = "UpdateUserAclEntryEx"
	ps, err := e.props()
	if err != nil {
		return opError(URIAuthorizationService, method, err)
	}
	ps = append([]wsman.Property{wsman.Prop("Handle", strconv.FormatUint(uint64(handle), 10))}, ps...)
	_, err = d.invoke(ctx, URIAuthorizationService, method, nil, ps...)
	return err
}

// RemoveUserACLEntry calls RemoveUserAclEntry. System accounts ("$$" names)
// cannot be removed, only disabled with [Device.SetACLEnabledState].
func (d *Device) RemoveUserACLEntry(ctx context.Context, handle uint32) error {
	_, err := d.invoke(ctx, URIAuthorizationService, "RemoveUserAclEntry", nil,
		wsman.Prop("Handle", strconv.FormatUint(uint64(handle), 10)))
	return err
}

// SetACLEnabledState calls SetAclEnabledState for the entry with handle.
func (d *Device) SetACLEnabledState(ctx context.Context, handle uint32, enabled bool) error {
	_, err := d.invoke(ctx, URIAuthorizationService, "SetAclEnabledState", nil,
		wsman.Prop("Handle", strconv.FormatUint(uint64(handle), 10)),
		wsman.Prop("Enabled", strconv.FormatBool(enabled)))
	return err
}

// ACLEnabledState calls GetAclEnabledState for the entry with handle.
func (d *Device) ACLEnabledState(ctx context.Context, handle uint32) (bool, error) {
	return d.boolOutput(ctx, URIAuthorizationService, "GetAclEnabledState", "Enabled",
		wsman.Prop("Handle", strconv.FormatUint(uint64(handle), 10)))
}

// userACLPage is one EnumerateUserAclEntries_OUTPUT.
type userACLPage struct {
	TotalCount   uint32
	HandlesCount uint32
	Handles      []uint32
}

func parseUserACLPage(out *etree.Element) (*userACLPage, error) {
	var p userACLPage
	if err := wsman.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	if _, ok := propertyText(out, "TotalCount"); !ok {
		return nil, fmt.Errorf("%w: no TotalCount", ErrBadResponse)
	}
	if int(p.HandlesCount) != len(p.Handles) {
		return nil, fmt.Errorf("%w: HandlesCount %d but %d Handles", ErrBadResponse, p.HandlesCount, len(p.Handles))
	}
	return &p, nil
}

// maxACLPages bounds the EnumerateUserAclEntries calls of one listing, and
// maxACLEntries the handles it takes: AMT keeps a few dozen user entries, and
// every handle costs a GetUserAclEntryEx, so a device claiming millions is
// refused rather than walked.
const (
	maxACLPages   = 64
	maxACLEntries = 1024
)

// UserACLEntryHandles calls EnumerateUserAclEntries, paging by StartIndex
// (1-based; the device returns at most about 50 handles per call) until
// TotalCount handles are collected.
func (d *Device) UserACLEntryHandles(ctx context.Context) ([]uint32, error) {
	const method = "EnumerateUserAclEntries"
	var all []uint32
	start := uint32(1)
	for range maxACLPages {
		out, err := d.invoke(ctx, URIAuthorizationService, method, nil, wsman.Prop("StartIndex", strconv.FormatUint(uint64(start), 10)))
		if err != nil {
			return nil, err
		}
		p, err := parseUserACLPage(out)
		if err != nil {
			return nil, opError(URIAuthorizationService, method, err)
		}
		if p.TotalCount > maxACLEntries || len(all)+len(p.Handles) > maxACLEntries {
			return nil, opError(URIAuthorizationService, method, fmt.Errorf("%w: more than %d user entries", ErrBadResponse, maxACLEntries))
		}
		for _, h := range p.Handles {
			if slices.Contains(all, h) {
				return nil, opError(URIAuthorizationService, method, fmt.Errorf("%w: handle %d listed twice", ErrBadResponse, h))
			}
			all = append(all, h)
		}
		if len(all) >= int(p.TotalCount) || p.HandlesCount == 0 {
			return all, nil
		}
		start += p.HandlesCount
	}
	return nil, opError(URIAuthorizationService, method, fmt.Errorf("%w: more than %d pages", ErrBadResponse, maxACLPages))
}

func parseUserACLEntry(out *etree.Element, handle uint32) (*UserACLEntry, error) {
	var o struct {
		DigestUsername   string
		KerberosUserSid  []byte
		AccessPermission AccessPermission
		Realms           []Realm
	}
	if err := wsman.Unmarshal(out, &o); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return &UserACLEntry{Handle: handle, Username: o.DigestUsername, KerberosSID: o.KerberosUserSid, Access: o.AccessPermission, Realms: o.Realms}, nil
}

// UserACLEntryEx calls GetUserAclEntryEx for handle.
func (d *Device) UserACLEntryEx(ctx context.Context, handle uint32) (*UserACLEntry, error) {
	const method = "GetUserAclEntryEx"
	out, err := d.invoke(ctx, URIAuthorizationService, method, nil, wsman.Prop("Handle", strconv.FormatUint(uint64(handle), 10)))
	if err != nil {
		return nil, err
	}
	e, err := parseUserACLEntry(out, handle)
	return e, opError(URIAuthorizationService, method, err)
}

// UserACLEntries lists every user ACL entry: [Device.UserACLEntryHandles],
// then [Device.UserACLEntryEx] for each.
func (d *Device) UserACLEntries(ctx context.Context) ([]UserACLEntry, error) {
	hs, err := d.UserACLEntryHandles(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]UserACLEntry, 0, len(hs))
	for _, h := range hs {
		e, err := d.UserACLEntryEx(ctx, h)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, nil
}
