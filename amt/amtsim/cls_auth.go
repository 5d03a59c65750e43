package amtsim

import (
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// AMT_AuthorizationService (intel/lms AMT_AuthorizationService.h).
func authClass() *class {
	inst := func() *etree.Element {
		return serviceInst(uriAuth, "Intel(r) AMT Authorization Service", "Intel(r) AMT Authorization Service").
			s("AllowHttpQopAuthOnly", "1").el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst()) },
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst()} },
		methods: map[string]method{
			"SetAdminAclEntryEx": {fn: (*Device).setAdminACL},
			"GetAdminAclEntry": {fn: func(d *Device, c *call, _ *input) *etree.Element {
				return rv(c, 0, wsman.Prop("Username", d.st.adminUser))
			}, read: true},
			"GetAdminAclEntryStatus": {fn: func(d *Device, c *call, _ *input) *etree.Element {
				return rv(c, 0, boolProp("IsDefault", d.st.adminDefault))
			}, read: true},
			"GetAdminNetAclEntryStatus": {fn: func(d *Device, c *call, _ *input) *etree.Element {
				return rv(c, 0, boolProp("IsDefault", d.st.adminNetDef))
			}, read: true},
			"AddUserAclEntryEx":       {fn: func(d *Device, c *call, in *input) *etree.Element { return d.putUserACL(c, in, nil) }},
			"UpdateUserAclEntryEx":    {fn: (*Device).updateUserACL},
			"EnumerateUserAclEntries": {fn: (*Device).enumerateUsers, read: true},
			"GetUserAclEntryEx":       {fn: (*Device).getUserACL, read: true},
			"RemoveUserAclEntry":      {fn: (*Device).removeUserACL},
			"SetAclEnabledState":      {fn: (*Device).setACLEnabled},
			"GetAclEnabledState":      {fn: (*Device).getACLEnabled, read: true},
		},
	}
}

func boolProp(name string, v bool) wsman.Property { return wsman.Prop(name, strconv.FormatBool(v)) }

func u32Prop(name string, v uint32) wsman.Property {
	return wsman.Prop(name, strconv.FormatUint(uint64(v), 10))
}

func (d *Device) setAdminACL(c *call, in *input) *etree.Element {
	st := &d.st
	user, ok := in.str("Username")
	if !ok || amt.CheckUsername(user) != nil {
		return status(c, amt.StatusInvalidName)
	}
	pw, err := in.b64("DigestPassword")
	if err != nil || len(pw) != 16 {
		return status(c, amt.StatusInvalidPassword)
	}
	for _, u := range st.users {
		if u.user == user {
			return status(c, amt.StatusDuplicate)
		}
	}
	st.adminUser, st.adminA1, st.adminDefault, st.adminNetDef = user, pw, false, false
	return rv(c, 0)
}

func (d *Device) userByHandle(in *input) (*aclEntry, amt.Status) {
	h, err := in.u32("Handle")
	if err != nil {
		return nil, amt.StatusInvalidParameter
	}
	for _, u := range d.st.users {
		if u.handle == h {
			return u, amt.StatusSuccess
		}
	}
	return nil, amt.StatusInvalidHandle
}

// putUserACL validates the AddUserAclEntryEx inputs and adds an entry (or,
// with old set, replaces it).
func (d *Device) putUserACL(c *call, in *input, old *aclEntry) *etree.Element {
	st := &d.st
	e := &aclEntry{enabled: true}
	user, hasUser := in.str("DigestUsername")
	hasPass := in.has("DigestPassword")
	hasSID := in.has("KerberosUserSid")
	switch {
	case hasUser && hasPass && !hasSID:
		if amt.CheckUsername(user) != nil || user == localSystemUser {
			return status(c, amt.StatusInvalidName)
		}
		pw, err := in.b64("DigestPassword")
		if err != nil || len(pw) != 16 {
			return status(c, amt.StatusInvalidPassword)
		}
		e.user, e.a1 = user, pw
	case hasSID && !hasUser && !hasPass:
		sid, err := in.b64("KerberosUserSid")
		if err != nil || len(sid) == 0 || len(sid) > 28 || len(sid)%4 != 0 {
			return status(c, amt.StatusInvalidParameter)
		}
		e.sid = sid
	default:
		return status(c, amt.StatusInvalidParameter)
	}
	perm, err := in.u32("AccessPermission")
	if err != nil || perm > uint32(amt.AccessAny) {
		return status(c, amt.StatusInvalidParameter)
	}
	e.perm = perm
	realms, err := in.u32s("Realms")
	if err != nil || len(realms) == 0 {
		return status(c, amt.StatusInvalidRealm)
	}
	for _, r := range realms {
		if !amt.Realm(r).Assignable() {
			return status(c, amt.StatusInvalidRealm)
		}
	}
	e.realms = realms
	for _, u := range st.users {
		if u == old {
			continue
		}
		if (e.user != "" && u.user == e.user) || (e.sid != nil && string(u.sid) == string(e.sid)) {
			return status(c, amt.StatusDuplicate)
		}
	}
	if e.user != "" && e.user == st.adminUser {
		return status(c, amt.StatusDuplicate)
	}
	if old != nil {
		e.handle, e.enabled = old.handle, old.enabled
		*old = *e
		return rv(c, 0)
	}
	if len(st.users) >= maxUserEntries {
		return status(c, amt.StatusMaxLimitReached)
	}
	e.handle = st.nextUser
	st.nextUser++
	st.users = append(st.users, e)
	return rv(c, 0, u32Prop("Handle", e.handle))
}

func (d *Device) updateUserACL(c *call, in *input) *etree.Element {
	u, s := d.userByHandle(in)
	if s != amt.StatusSuccess {
		return status(c, s)
	}
	if u.system {
		return status(c, amt.StatusNotPermitted)
	}
	return d.putUserACL(c, in, u)
}

func (d *Device) enumerateUsers(c *call, in *input) *etree.Element {
	start, err := in.u32("StartIndex")
	if err != nil {
		return status(c, amt.StatusInvalidParameter)
	}
	users := d.st.users
	if start == 0 || (int(start) > len(users) && len(users) > 0) {
		return status(c, amt.StatusInvalidIndex)
	}
	page := users[min(int(start)-1, len(users)):]
	if len(page) > 50 {
		page = page[:50]
	}
	props := []wsman.Property{u32Prop("TotalCount", uint32(len(users))), u32Prop("HandlesCount", uint32(len(page)))}
	for _, u := range page {
		props = append(props, u32Prop("Handles", u.handle))
	}
	return rv(c, 0, props...)
}

func (d *Device) getUserACL(c *call, in *input) *etree.Element {
	u, s := d.userByHandle(in)
	if s != amt.StatusSuccess {
		return status(c, s)
	}
	var props []wsman.Property
	if u.user != "" {
		props = append(props, wsman.Prop("DigestUsername", u.user))
	}
	if u.sid != nil {
		props = append(props, wsman.Prop("KerberosUserSid", base64.StdEncoding.EncodeToString(u.sid)))
	}
	props = append(props, u32Prop("AccessPermission", u.perm))
	for _, r := range u.realms {
		props = append(props, u32Prop("Realms", r))
	}
	return rv(c, 0, props...)
}

func (d *Device) removeUserACL(c *call, in *input) *etree.Element {
	u, s := d.userByHandle(in)
	if s != amt.StatusSuccess {
		return status(c, s)
	}
	if u.system {
		return status(c, amt.StatusNotPermitted)
	}
	d.st.users = slices.DeleteFunc(d.st.users, func(x *aclEntry) bool { return x == u })
	return rv(c, 0)
}

func (d *Device) setACLEnabled(c *call, in *input) *etree.Element {
	u, s := d.userByHandle(in)
	if s != amt.StatusSuccess {
		return status(c, s)
	}
	v, err := in.boolean("Enabled")
	if err != nil {
		return status(c, amt.StatusInvalidParameter)
	}
	u.enabled = v
	return rv(c, 0)
}

func (d *Device) getACLEnabled(c *call, in *input) *etree.Element {
	u, s := d.userByHandle(in)
	if s != amt.StatusSuccess {
		return status(c, s)
	}
	return rv(c, 0, boolProp("Enabled", u.enabled))
}

// AMT_TimeSynchronizationService (intel/lms AMT_TimeSynchronizationService.h).
func timeClass() *class {
	inst := func(d *Device) *etree.Element {
		return serviceInst(uriTime, "Intel(r) AMT Time Synchronization Service", "Intel(r) AMT Time Synchronization Service").
			n("LocalTimeSyncEnabled", int64(d.st.localTimeSync)).
			n("TimeSource", int64(d.st.timeSource)).el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst(d)) },
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst(d)} },
		methods: map[string]method{
			"GetLowAccuracyTimeSynch": {fn: func(d *Device, c *call, _ *input) *etree.Element {
				return rv(c, 0, u32Prop("Ta0", uint32(d.now().Add(d.st.clockOffset).Unix())))
			}, read: true},
			"SetHighAccuracyTimeSynch": {fn: (*Device).setTime},
			"EnableLocalTimeSync": {fn: func(d *Device, c *call, in *input) *etree.Element {
				v, err := in.boolean("Enable")
				if err != nil {
					return status(c, amt.StatusInvalidParameter)
				}
				d.st.localTimeSync = 2
				if v {
					d.st.localTimeSync = 1
				}
				return rv(c, 0)
			}},
		},
	}
}

// timeBaseline is 2004-01-01: SetHighAccuracyTimeSynch refuses earlier times.
var timeBaseline = time.Date(2004, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

func (d *Device) setTime(c *call, in *input) *etree.Element {
	var v [3]uint32
	for i, name := range []string{"Ta0", "Tm1", "Tm2"} {
		x, err := in.u32(name)
		if errors.Is(err, errMissing) || err != nil {
			return status(c, amt.StatusInvalidParameter)
		}
		v[i] = x
	}
	if int64(v[1]) < timeBaseline || int64(v[2]) < timeBaseline {
		return status(c, amt.StatusInvalidParameter)
	}
	if d.st.timeSetCalls++; d.st.timeSetCalls <= d.cfg.Behavior.TimeSyncRefusals {
		return status(c, amt.StatusInvalidParameter)
	}
	d.st.clockOffset = time.Unix(int64(v[2]), 0).Sub(d.now())
	d.st.timeSource = 1
	return rv(c, 0)
}
