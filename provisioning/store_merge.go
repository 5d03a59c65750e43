package provisioning

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
)

// This file holds the merge rule of the engine's writes under
// compare-and-swap (docs/state.md, "Conflicts"). A write that loses the swap
// reloads the record and applies again only what it changed:
//
//   - Writers that hold the device's lease (a session after it proved its
//     device, the Maintainer renewing a device, Unprovision) own the record:
//     a field they changed since they read it (their base) takes their value;
//     a field they did not change keeps the stored one.
//   - Lease-free writers (Block, ExpectAgentRequest, the OTP-mismatch count,
//     unproven sessions writing a discovery outcome, an integrator's edit)
//     re-run their change on the reloaded record.
//   - Some fields merge the same way whoever writes: History is the union of
//     both histories in time order; Certificates are the union by DER, with
//     Revoked and RemovedFromDevice sticky once set and Pending cleared once
//     cleared; Attempts adds the writer's increments; Blocked stays set once
//     set; FirstSeen keeps the earliest and LastSeen the latest hello.
//   - Agent belongs to ExpectAgentRequest: a holder's change (a verified
//     session spends the request) applies only if nobody else changed it.
//   - Source and HelloVersion are a proven session's, changed or not: it
//     proved the device at that address, and an unproven session for the
//     same UUID writing a discovery outcome meanwhile (a rogue's hello) must
//     not point the record, and the session's read-back, at the rogue. For
//     the other holders (the Maintainer, Unprovision, Reconcile) they follow
//     the common rule, so that an integrator's edit of the address while one
//     works on the device stands.
//   - A device blocked while a holder worked on it stops the holder
//     (errBlockedMeanwhile): nothing more is written for it.

// errBlockedMeanwhile stops a lease holder whose device was blocked after it
// read the record.
var errBlockedMeanwhile = errors.New("provisioning: the device was blocked while it was being worked on; nothing more is written for it")

// mergeRecordAs returns what a lease holder's write of mine becomes when the
// store holds cur (nil: deleted since) and the holder read base (nil:
// unknown, then every field the holder holds differently from cur is
// taken as its change); proven: the holder is a session that proved its
// device. The result carries cur's Version, for the next compare-and-swap.
func mergeRecordAs(base, mine, cur *DeviceRecord, proven bool) (*DeviceRecord, error) {
	if cur == nil {
		out := mine.Clone()
		out.Version = 0
		return out, nil
	}
	known := base != nil
	if cur.Blocked && !mine.Blocked && (!known || !base.Blocked) {
		return nil, fmt.Errorf("%w (%s)", errBlockedMeanwhile, cur.UUID)
	}
	if !known {
		base = cur
	}
	mc := mine.Clone()
	out := cur.Clone()
	ov, mv := reflect.ValueOf(out).Elem(), reflect.ValueOf(mc).Elem()
	bv, cv := reflect.ValueOf(base).Elem(), reflect.ValueOf(cur).Elem()
	changed := func(a, b reflect.Value, i int) bool {
		return !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface())
	}
	t := ov.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "Version":
		case "Source", "HelloVersion":
			if proven || changed(mv, bv, i) {
				ov.Field(i).Set(mv.Field(i))
			}
		case "History":
			out.History = mergeHistory(cur.History, mc.History)
		case "Certificates":
			var dropped []DeviceCertificate
			if known {
				dropped = droppedKeyOnly(base.Certificates, mc.Certificates)
			}
			out.Certificates = mergeCertificates(cur.Certificates, mc.Certificates, dropped)
		case "Attempts":
			out.Attempts = cur.Attempts + max(mc.Attempts-base.Attempts, 0)
		case "Blocked":
			out.Blocked = cur.Blocked || mc.Blocked
		case "FirstSeen":
			if !mc.FirstSeen.IsZero() && (out.FirstSeen.IsZero() || mc.FirstSeen.Before(out.FirstSeen)) {
				out.FirstSeen = mc.FirstSeen
			}
		case "LastSeen":
			if mc.LastSeen.After(out.LastSeen) {
				out.LastSeen = mc.LastSeen
			}
		case "Agent":
			// The holder's change (a verified session spends the request)
			// stands unless someone registered another request meanwhile:
			// a mismatch counted against the same request (same OTP and
			// expiry) by an impostor's session is not a new registration.
			if known && changed(mv, bv, i) && (!changed(cv, bv, i) || sameAgentRequest(base.Agent, cur.Agent)) {
				out.Agent = mc.Agent
			}
		default:
			if changed(mv, bv, i) {
				ov.Field(i).Set(mv.Field(i))
			}
		}
	}
	return out, nil
}

// sameAgentRequest reports whether a and b are the same registration
// (ExpectAgentRequest): the same OTP and expiry, whatever their mismatch
// counts.
func sameAgentRequest(a, b *AgentRequest) bool {
	return a != nil && b != nil && a.OTP.Equal(b.OTP) && a.Expires.Equal(b.Expires)
}

// mergeHistory returns the entries of both histories, each once, in time order.
func mergeHistory(cur, mine []StepRecord) []StepRecord {
	key := func(e StepRecord) string {
		return string(e.Step) + "\x00" + e.State.String() + "\x00" + strconv.FormatInt(e.At.UnixNano(), 10) + "\x00" +
			strconv.FormatInt(int64(e.Duration), 10) + "\x00" + string(e.Reason) + "\x00" + e.Error + "\x00" + e.Detail
	}
	seen := make(map[string]bool, len(cur))
	out := slices.Clone(cur)
	for _, e := range cur {
		seen[key(e)] = true
	}
	added := false
	for _, e := range mine {
		if k := key(e); !seen[k] {
			seen[k] = true
			out = append(out, e)
			added = true
		}
	}
	if added {
		slices.SortStableFunc(out, func(a, b StepRecord) int { return a.At.Compare(b.At) })
	}
	return out
}

// mergeCertificates returns the union of both lists by DER (cur's order,
// then mine's new ones), with each certificate's flags joined: Revoked and
// RemovedFromDevice once set stay set, Pending once cleared stays cleared.
// An issuance in flight recorded before its certificate was issued is known
// by its key handle instead, and one in dropped (the writer removed it since
// it last saved: its key was deleted) is not brought back from cur.
func mergeCertificates(cur, mine, dropped []DeviceCertificate) []DeviceCertificate {
	// An issuance in flight not yet certified has no DER: it is known by
	// its key's handle, and goes once an entry with a certificate names
	// that key (its own later state).
	key := func(c DeviceCertificate) string {
		if len(c.DER) == 0 {
			return "\x00key\x00" + c.KeyHandle
		}
		return string(c.DER)
	}
	out := cloneCerts(cur, nil)
	at := make(map[string]int, len(out))
	for i, c := range out {
		at[key(c)] = i
	}
	keyOnly := false
	for _, c := range mine {
		keyOnly = keyOnly || len(c.DER) == 0
		i, ok := at[key(c)]
		if !ok {
			out = append(out, cloneCerts([]DeviceCertificate{c}, nil)...)
			at[key(c)] = len(out) - 1
			continue
		}
		o := &out[i]
		o.Revoked = o.Revoked || c.Revoked
		o.RemovedFromDevice = o.RemovedFromDevice || c.RemovedFromDevice
		o.Pending = o.Pending && c.Pending
		o.Handle = cmp.Or(o.Handle, c.Handle)
		o.KeyHandle = cmp.Or(o.KeyHandle, c.KeyHandle)
	}
	if !keyOnly && !slices.ContainsFunc(out, func(c DeviceCertificate) bool { return len(c.DER) == 0 }) {
		return out
	}
	gone := map[string]bool{}
	for _, c := range dropped {
		gone[c.KeyHandle] = true
	}
	for _, c := range out {
		if len(c.DER) > 0 && c.KeyHandle != "" && !c.RemovedFromDevice { // a removed key's handle may name a new key
			gone[c.KeyHandle] = true
		}
	}
	return slices.DeleteFunc(out, func(c DeviceCertificate) bool { return len(c.DER) == 0 && gone[c.KeyHandle] })
}

// droppedKeyOnly returns the issuances in flight not yet certified that base
// (what the writer last saved) holds and mine no longer does: the writer
// dropped them, their key deleted.
func droppedKeyOnly(base, mine []DeviceCertificate) []DeviceCertificate {
	var out []DeviceCertificate
	for _, b := range base {
		if len(b.DER) == 0 && !slices.ContainsFunc(mine, func(m DeviceCertificate) bool { return len(m.DER) == 0 && m.KeyHandle == b.KeyHandle }) {
			out = append(out, b)
		}
	}
	return out
}

// mergeBase is the copy of a saved record that a lease holder keeps as the
// base of a later merge: everything but History and Certificates, which
// mergeRecordAs merges by union without reading the base — but for the
// issuances in flight not yet certified, whose removal the merge must see
// (droppedKeyOnly). A session waiting on slow firmware then holds no second
// copy of its history.
func mergeBase(r *DeviceRecord) *DeviceRecord {
	c := *r
	c.History = nil
	c.Certificates = nil
	for _, d := range r.Certificates {
		if len(d.DER) == 0 {
			c.Certificates = append(c.Certificates, d)
		}
	}
	return c.Clone()
}
