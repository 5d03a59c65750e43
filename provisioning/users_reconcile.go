package provisioning

import (
	"context"
	"errors"
	"slices"

	"github.com/amtkit/amtkit/amt"
)

// userSending is the network-secret key under which a user's password is
// marked as sent but not yet answered (see sendingSuffix).
func userSending(name string) string { return "user " + name + sendingSuffix }

// userFixed is the network-secret key that marks a user's recorded password
// as the profile's fixed one (every device's) rather than one drawn for this
// device: a profile that then leaves the password empty asks for a random
// one per device, which the fleet password is not. A record from before the
// mark has none: its password is taken for a random one.
func userFixed(name string) string { return "user " + name + " (fixed by the profile)" }

// planUsers keeps the profile's digest accounts on a provisioned device, as
// a session sets them: a user the profile added is created (a new random
// password per device unless the profile fixes one); one whose fixed
// password, access or realms changed is updated; one amtkit created that the
// profile no longer names is removed. A password is recorded before it is
// sent and marked until the device answered, so a lost call is repeated
// rather than taken for done.
func planUsers(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	rec, prof := rc.rec, rc.profile
	if len(prof.Users) == 0 && len(rec.Users) == 0 {
		return nil, nil
	}
	entries, err := rc.dev.UserACLEntries(ctx)
	if err != nil {
		return nil, err
	}
	onDevice := map[string]amt.UserACLEntry{}
	for _, e := range entries {
		if e.Username != "" {
			onDevice[e.Username] = e
		}
	}
	var out []Change
	for _, u := range prof.Users {
		e, ok := onDevice[u.Name]
		recorded := recordedUser(rec.Users, u.Name)
		var action ChangeAction
		var why string
		switch {
		case !ok:
			action, why = ChangeAdd, ""
		case !rec.networkSecret(userSending(u.Name)).IsZero():
			action, why = ChangeUpdate, "password sent, not confirmed"
		case recorded.IsZero():
			action, why = ChangeUpdate, "password not in the record"
		case !u.Password.IsZero() && !u.Password.Equal(recorded):
			action, why = ChangeUpdate, "new fixed password"
		case u.Password.IsZero() && !rec.networkSecret(userFixed(u.Name)).IsZero():
			action, why = ChangeUpdate, "fixed password removed from the profile: a random one for this device"
		case e.Access != u.Access || !sameRealms(e.Realms, u.Realms):
			action, why = ChangeUpdate, "access or realms"
		default:
			continue
		}
		c := Change{Area: "users", Action: action, Target: "user " + u.Name, To: why}
		handle := e.Handle
		c.apply = func(ctx context.Context) error { return rc.putUser(ctx, u, ok, handle) }
		out = append(out, c)
	}
	for _, c := range rec.Users {
		if slices.ContainsFunc(prof.Users, func(u UserAccount) bool { return u.Name == c.Name }) {
			continue
		}
		name := c.Name
		e, ok := onDevice[name]
		out = append(out, Change{Area: "users", Action: ChangeRemove, Target: "user " + name,
			apply: func(ctx context.Context) error {
				if ok {
					if err := rc.dev.RemoveUserACLEntry(ctx, e.Handle); err != nil {
						return err
					}
				}
				rec.Users = slices.DeleteFunc(rec.Users, func(x UserCredential) bool { return x.Name == name })
				rec.setNetworkSecret("user "+name, amt.Secret{}) // and its mark
				rec.setNetworkSecret(userFixed(name), amt.Secret{})
				return rc.save(ctx)
			}})
	}
	return out, nil
}

// putUser adds (exists false) or updates the user's entry with its password:
// the recorded one, the profile's fixed one, or a new one.
func (rc *reconcileContext) putUser(ctx context.Context, u UserAccount, exists bool, handle uint32) error {
	rec := rc.rec
	pw := recordedUser(rec.Users, u.Name)
	if sent := rec.networkSecret(userSending(u.Name)); !sent.IsZero() {
		pw = sent // an update whose outcome was lost: send it again
	}
	if u.Password.IsZero() && !rec.networkSecret(userFixed(u.Name)).IsZero() {
		pw = amt.Secret{} // the fleet password (or a send of it): this device gets its own
	}
	if !u.Password.IsZero() {
		pw = u.Password
	}
	if pw.IsZero() {
		var err error
		if pw, err = amt.GeneratePassword(rc.p.rand); err != nil {
			return err
		}
	}
	setCurrent := func() {
		rec.Users = slices.DeleteFunc(rec.Users, func(x UserCredential) bool { return x.Name == u.Name })
		rec.Users = append(rec.Users, UserCredential{Name: u.Name, Password: pw})
		fixed := amt.Secret{}
		if !u.Password.IsZero() {
			fixed = amt.NewSecret("fixed")
		}
		rec.setNetworkSecret(userFixed(u.Name), fixed)
	}
	if !exists || recordedUser(rec.Users, u.Name).IsZero() {
		setCurrent() // nothing older to keep
	}
	rec.setNetworkSecret(userSending(u.Name), pw)
	if err := rc.save(ctx); err != nil {
		return err
	}
	req := amt.UserACLEntryRequest{Username: u.Name, Password: pw, DigestRealm: rec.DigestRealm, Access: u.Access, Realms: u.Realms}
	var err error
	if exists {
		err = rc.dev.UpdateUserACLEntryEx(ctx, handle, req)
	} else {
		_, err = rc.dev.AddUserACLEntryEx(ctx, req)
	}
	var st amt.Status
	if exists && errors.As(err, &st) {
		// Refused: the device kept the password the record holds.
		rec.NetworkSecrets = slices.DeleteFunc(rec.NetworkSecrets, func(s UserCredential) bool { return s.Name == userSending(u.Name) })
		return errors.Join(err, rc.save(ctx))
	}
	if err != nil {
		return err
	}
	setCurrent()
	rec.NetworkSecrets = slices.DeleteFunc(rec.NetworkSecrets, func(s UserCredential) bool { return s.Name == userSending(u.Name) })
	return rc.save(ctx)
}

func recordedUser(users []UserCredential, name string) amt.Secret {
	for _, c := range users {
		if c.Name == name {
			return c.Password
		}
	}
	return amt.Secret{}
}

// sameRealms compares two realm lists as sets.
func sameRealms(a, b []amt.Realm) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}
