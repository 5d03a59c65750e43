package storetest

import (
	"fmt"
	"net/netip"
	"reflect"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// Fill returns a record for u with every field, at every depth, set to a
// distinct non-zero value: two elements in every slice, every pointer
// allocated, every secret a distinct strong password. Times are in UTC. It
// returns an error naming a field of a kind it cannot fill.
func Fill(u amt.UUID, seed int) (*provisioning.DeviceRecord, error) {
	f := &filler{n: seed * 1000}
	r := &provisioning.DeviceRecord{}
	if err := f.fill(reflect.ValueOf(r).Elem(), "DeviceRecord"); err != nil {
		return nil, err
	}
	r.UUID = u
	r.Version = 0
	return r, nil
}

type filler struct{ n int }

var (
	secretType   = reflect.TypeFor[amt.Secret]()
	timeType     = reflect.TypeFor[time.Time]()
	addrPortType = reflect.TypeFor[netip.AddrPort]()
	stateType    = reflect.TypeFor[provisioning.State]()
	hashAlgType  = reflect.TypeFor[amt.HashAlgorithm]()
)

func (f *filler) next() int { f.n++; return f.n }

func (f *filler) fill(v reflect.Value, path string) error {
	switch v.Type() {
	case secretType:
		v.Set(reflect.ValueOf(amt.NewSecret(fmt.Sprintf("Sec%04d!pw", f.next()))))
		return nil
	case timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(f.next()) * (time.Hour + time.Nanosecond*1234567))))
		return nil
	case addrPortType:
		v.Set(reflect.ValueOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(f.next())}), uint16(9971+f.n%100))))
		return nil
	case stateType:
		v.Set(reflect.ValueOf(provisioning.StateCommitted))
		return nil
	case hashAlgType:
		v.Set(reflect.ValueOf(amt.HashSHA256))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", path, f.next()))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(1 + f.next()%100))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(1 + f.next()%100))
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if err := f.fill(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			if err := f.fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := f.fill(p.Elem(), path); err != nil {
			return err
		}
		v.Set(p)
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if !t.Field(i).IsExported() {
				return fmt.Errorf("storetest: %s.%s is unexported: teach Fill its type %s", path, t.Field(i).Name, t)
			}
			if err := f.fill(v.Field(i), path+"."+t.Field(i).Name); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("storetest: %s has kind %s, which Fill cannot fill: teach it", path, v.Kind())
	}
	return nil
}

// Secrets returns every secret r holds, at every depth.
func Secrets(r *provisioning.DeviceRecord) []amt.Secret {
	var out []amt.Secret
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		if v.Type() == secretType {
			if s := v.Interface().(amt.Secret); !s.IsZero() {
				out = append(out, s)
			}
			return
		}
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		}
	}
	walk(reflect.ValueOf(r).Elem())
	return out
}

// zeroFields names the fields of v (a struct, at any depth through pointers
// and slices) left at their zero value.
func zeroFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return zeroFields(v.Elem(), path)
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		var out []string
		for i := 0; i < v.Len(); i++ {
			out = append(out, zeroFields(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case reflect.Struct:
		if v.Type() == timeType || v.Type() == secretType || v.Type() == addrPortType {
			if v.IsZero() {
				return []string{path}
			}
			return nil
		}
		var out []string
		for i := 0; i < v.NumField(); i++ {
			out = append(out, zeroFields(v.Field(i), path+"."+v.Type().Field(i).Name)...)
		}
		return out
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}
