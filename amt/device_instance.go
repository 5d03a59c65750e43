package amt

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// source is an instance as the device sent it, kept by the typed structs that
// can be Put back: raw is the element (inside its response document, which it
// keeps alive; it is copied only when a Put is built), secrets the
// secret-valued properties the struct holds as Secret.
type source struct {
	raw     *etree.Element
	secrets map[string]Secret
}

// decodeInstance reads el into the struct pointed to by v (fields tagged for
// wsman.Unmarshal) and returns the source a later Put needs.
func decodeInstance(el *etree.Element, v any) (*source, error) {
	if err := wsman.Unmarshal(el, v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return &source{raw: el}, nil
}

// sourced is a typed instance that keeps the element it was read from, for a
// later Put.
type sourced[T any] interface {
	*T
	setSource(*source)
}

// parseAs checks that el is an instance of uri and reads it into a new T.
func parseAs[T any](el *etree.Element, uri string) (*T, error) {
	if err := checkInstance(el, uri); err != nil {
		return nil, err
	}
	v := new(T)
	if err := wsman.Unmarshal(el, v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return v, nil
}

// parseSourced checks that el is an instance of uri and reads it into a new T
// that keeps its source.
func parseSourced[T any, P sourced[T]](el *etree.Element, uri string) (P, error) {
	if err := checkInstance(el, uri); err != nil {
		return nil, err
	}
	v := P(new(T))
	src, err := decodeInstance(el, v)
	if err != nil {
		return nil, err
	}
	v.setSource(src)
	return v, nil
}

// edited returns a copy of the instance as read in which every property whose
// wire value in cur (a pointer to a struct of the type the source was read
// into) differs from the value read is replaced — or removed when cur has no
// value for it. Properties named in force are written from cur even when
// unchanged; properties named in drop are removed. Everything else, unknown and
// read-only properties included, is echoed as the device sent it.
func (s *source) edited(cur any, force, drop []string) (*etree.Element, error) {
	if s == nil || s.raw == nil {
		return nil, ErrNotReadFromDevice
	}
	now, err := wsman.MarshalProperties(cur)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	// The values as read: decode the kept instance again into a fresh value
	// of cur's type (cheaper than keeping a copy on every read).
	orig := reflect.New(reflect.TypeOf(cur).Elem())
	if err := wsman.Unmarshal(s.raw, orig.Interface()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	before, err := wsman.MarshalProperties(orig.Interface())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	was := groupProps(before)
	is := groupProps(now)
	out := wsman.Detach(s.raw)
	for _, name := range propNames(now, before) {
		if slices.Contains(drop, name) {
			continue
		}
		if !slices.Contains(force, name) && sameValues(was[name], is[name]) {
			continue
		}
		setProperty(out, name, is[name]...)
	}
	for _, name := range drop {
		setProperty(out, name)
	}
	return out, nil
}

func groupProps(ps []wsman.Property) map[string][]wsman.Property {
	m := make(map[string][]wsman.Property, len(ps))
	for _, p := range ps {
		m[p.Name] = append(m[p.Name], p)
	}
	return m
}

// propNames lists the distinct property names of a and b, a's order first.
func propNames(a, b []wsman.Property) []string {
	var out []string
	for _, ps := range [][]wsman.Property{a, b} {
		for _, p := range ps {
			if !slices.Contains(out, p.Name) {
				out = append(out, p.Name)
			}
		}
	}
	return out
}

func sameValues(a, b []wsman.Property) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Value != b[i].Value || a[i].Nil != b[i].Nil || (a[i].EPR == nil) != (b[i].EPR == nil) {
			return false
		}
	}
	return true
}

// setProperty replaces every child of el named name with props (none: the
// property is removed). The new elements take the place of the first old one,
// or, for a property el did not have, the place alphabetical order gives it —
// the order AMT writes instances in.
func setProperty(el *etree.Element, name string, props ...wsman.Property) {
	pos := -1
	for i := len(el.Child) - 1; i >= 0; i-- {
		if c, ok := el.Child[i].(*etree.Element); ok && c.Tag == name {
			el.RemoveChildAt(i)
			pos = i
		}
	}
	if pos < 0 {
		pos = len(el.Child)
		for i, t := range el.Child {
			if c, ok := t.(*etree.Element); ok && c.Tag > name {
				pos = i
				break
			}
		}
	}
	for _, p := range props {
		p.Name = name
		c := wsman.AddProperty(el, p)
		el.RemoveChildAt(c.Index())
		el.InsertChildAt(pos, c)
		pos++
	}
}

// propertyText returns the text of el's property name, and whether it exists.
func propertyText(el *etree.Element, name string) (string, bool) {
	return wsman.ChildText(el, "", name)
}
