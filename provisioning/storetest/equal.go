package storetest

import (
	"encoding/hex"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// reporter is what equalRecords reports to: a *testing.T, or a recorder in
// its own test.
type reporter interface {
	assert.TestingT
	Helper()
}

// equalRecords asserts that two records are equal as assert.Equal would, but
// reports a difference without revealing secrets: testify's diff walks values
// by reflection and would print an amt.Secret's text (the suite runs in store
// authors' CI logs). It lists the fields that differ, path = value, with
// secrets shown as amt.Redacted.
func equalRecords(t reporter, want, got *provisioning.DeviceRecord, msgAndArgs ...any) bool {
	t.Helper()
	if assert.ObjectsAreEqual(want, got) {
		return true
	}
	w, g := map[string]string{}, map[string]string{}
	ws, gs := map[string]amt.Secret{}, map[string]amt.Secret{}
	flatten(reflect.ValueOf(want), "record", w, ws)
	flatten(reflect.ValueOf(got), "record", g, gs)
	var diff []string
	for p, s := range ws {
		if o, ok := gs[p]; ok && !o.Equal(s) {
			diff = append(diff, p+": the secrets differ")
		}
	}
	for p, wv := range w {
		if gv, ok := g[p]; !ok || gv != wv {
			diff = append(diff, fmt.Sprintf("%s: want %s, got %s", p, wv, orMissing(gv, ok)))
		}
	}
	for p, gv := range g {
		if _, ok := w[p]; !ok {
			diff = append(diff, fmt.Sprintf("%s: want (missing), got %s", p, gv))
		}
	}
	sort.Strings(diff)
	if len(diff) == 0 {
		diff = []string{"(only in unexported fields)"}
	}
	return assert.Fail(t, "records differ:\n\t"+strings.Join(diff, "\n\t"), msgAndArgs...)
}

func orMissing(s string, ok bool) string {
	if !ok {
		return "(missing)"
	}
	return s
}

// flatten records every exported leaf of v under its path; a secret is
// recorded as amt.Redacted in out and by value in secrets, which the caller
// compares with Secret.Equal.
func flatten(v reflect.Value, path string, out map[string]string, secrets map[string]amt.Secret) {
	if !v.IsValid() {
		out[path] = "<nil>"
		return
	}
	switch v.Type() {
	case secretType:
		out[path] = amt.Redacted
		secrets[path] = v.Interface().(amt.Secret)
		return
	case timeType, addrPortType:
		out[path] = fmt.Sprint(v.Interface())
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			out[path] = "<nil>"
			return
		}
		flatten(v.Elem(), path, out, secrets)
	case reflect.Struct:
		exported := false
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				exported = true
				flatten(v.Field(i), path+"."+f.Name, out, secrets)
			}
		}
		if !exported && v.CanInterface() {
			out[path] = fmt.Sprint(v.Interface())
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			out[path] = "0x" + hex.EncodeToString(b)
			return
		}
		out[path+".len"] = strconv.Itoa(v.Len())
		for i := range v.Len() {
			flatten(v.Index(i), path+"["+strconv.Itoa(i)+"]", out, secrets)
		}
	case reflect.Map:
		out[path+".len"] = strconv.Itoa(v.Len())
		for _, k := range v.MapKeys() {
			flatten(v.MapIndex(k), path+"["+fmt.Sprint(k.Interface())+"]", out, secrets)
		}
	default:
		out[path] = fmt.Sprint(v.Interface())
	}
}
