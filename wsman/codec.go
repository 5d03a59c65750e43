package wsman

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/beevik/etree"
)

// ErrUnsupportedType: Marshal or Unmarshal met a struct field of a type outside
// the documented set. It is reported, never skipped silently.
var ErrUnsupportedType = errors.New("wsman: unsupported field type")

// DecodeError reports a property whose text does not fit its struct field.
type DecodeError struct {
	Field    string // Go field name
	Property string // element local name
	Value    string // the text (truncated to 64 bytes)
	Err      error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("wsman: property %s (field %s): cannot decode %q: %v", e.Property, e.Field, e.Value, e.Err)
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

var (
	eprType     = reflect.TypeFor[EPR]()
	elementType = reflect.TypeFor[*etree.Element]()
	bytesType   = reflect.TypeFor[[]byte]()
)

// field describes one struct field mapped to a property.
type field struct {
	index     []int
	goName    string
	name      string
	omitEmpty bool
}

// structFields lists the mapped fields of t in declaration order. Rules:
//   - exported fields only; `wsman:"-"` skips a field;
//   - `wsman:"Name"` sets the element name (default: the field name);
//     `,omitempty` omits zero values when marshalling;
//   - embedded structs without a tag are flattened (class inheritance).
//
// The result is computed once per type and shared: callers must not change it.
func structFields(t reflect.Type) ([]field, error) {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field), nil
	}
	out, err := computeFields(t)
	if err != nil {
		return nil, err
	}
	fieldCache.Store(t, out)
	return out, nil
}

// fieldCache maps a struct type to its fields (a process-wide cache of
// immutable derived data, like encoding/json's).
var fieldCache sync.Map

// fieldsNamed returns, for t's fields (structFields), the positions of the
// fields of each element name; computed once per type (nameCache).
func fieldsNamed(t reflect.Type, fields []field) map[string][]int {
	if m, ok := nameCache.Load(t); ok {
		return m.(map[string][]int)
	}
	m := make(map[string][]int, len(fields))
	for i, f := range fields {
		m[f.name] = append(m[f.name], i)
	}
	nameCache.Store(t, m)
	return m
}

// nameCache maps a struct type to fieldsNamed's result (immutable, like
// fieldCache).
var nameCache sync.Map

func computeFields(t reflect.Type) ([]field, error) {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("wsman")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			ft := f.Type
			if ft.Kind() == reflect.Struct && ft != eprType {
				sub, err := structFields(ft)
				if err != nil {
					return nil, err
				}
				for _, s := range sub {
					s.index = append([]int{i}, s.index...)
					out = append(out, s)
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out = append(out, field{index: f.Index, goName: f.Name, name: name, omitEmpty: opts == "omitempty"})
	}
	return out, nil
}

// Unmarshal reads the child elements of el (an instance or a method output) into
// the struct pointed to by v. Supported field types: string, bool, the integer
// kinds, []byte (base64), [EPR], *[etree.Element] (the property element itself),
// slices of these (arrays: one value per repeated element), and pointers to
// these (nil when the property is absent). Properties missing from el leave
// fields untouched; properties with no field are ignored. A scalar field whose
// property is repeated is an error, as is any other field type
// ([ErrUnsupportedType]). Element names are matched by local name.
func Unmarshal(el *etree.Element, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("%w: Unmarshal needs a non-nil pointer to a struct, got %T", ErrUnsupportedType, v)
	}
	if el == nil {
		return fmt.Errorf("%w: nothing to unmarshal", ErrMalformed)
	}
	sv := rv.Elem()
	fields, err := structFields(sv.Type())
	if err != nil {
		return err
	}
	// Each child element goes to the fields of its name, in document order:
	// counted first, then placed in one list cut per field (a list per
	// property cost an allocation each).
	named := fieldsNamed(sv.Type(), fields)
	var small [32]int
	var count []int
	if len(fields) <= len(small) {
		count = small[:len(fields)]
	} else {
		count = make([]int, len(fields))
	}
	total := 0
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok {
			for _, i := range named[c.Tag] {
				count[i]++
				total++
			}
		}
	}
	var all []*etree.Element
	if total > 0 {
		all = make([]*etree.Element, total)
		next := 0
		for i, n := range count {
			count[i] = next // from here on: where field i's next element goes
			next += n
		}
		for _, t := range el.Child {
			if c, ok := t.(*etree.Element); ok {
				for _, i := range named[c.Tag] {
					all[count[i]] = c
					count[i]++
				}
			}
		}
	}
	start := 0
	for i, f := range fields {
		var els []*etree.Element
		if total > 0 {
			els = all[start:count[i]:count[i]]
			start = count[i]
		}
		fv := sv.FieldByIndex(f.index)
		if err := checkType(fv.Type()); err != nil {
			return fmt.Errorf("field %s: %w", f.goName, err)
		}
		if len(els) == 0 {
			continue
		}
		if err := setField(fv, els, f); err != nil {
			return err
		}
	}
	return nil
}

func checkType(t reflect.Type) error {
	if t == bytesType || t == eprType || t == elementType {
		return nil
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return nil
	case reflect.Slice:
		return checkScalar(t.Elem())
	case reflect.Pointer:
		return checkScalar(t.Elem())
	}
	return fmt.Errorf("%w: %s", ErrUnsupportedType, t)
}

func checkScalar(t reflect.Type) error {
	if t == bytesType || t == eprType || t == elementType {
		return nil
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnsupportedType, t)
}

func setField(fv reflect.Value, els []*etree.Element, f field) error {
	t := fv.Type()
	switch {
	case t == bytesType || t == eprType || t == elementType:
	case t.Kind() == reflect.Slice:
		out := reflect.MakeSlice(t, len(els), len(els))
		for i, e := range els {
			if err := setScalar(out.Index(i), e, f); err != nil {
				return err
			}
		}
		fv.Set(out)
		return nil
	case t.Kind() == reflect.Pointer:
		if len(els) > 1 {
			return &DecodeError{Field: f.goName, Property: f.name, Err: fmt.Errorf("expected one element, got %d", len(els))}
		}
		p := reflect.New(t.Elem())
		if err := setScalar(p.Elem(), els[0], f); err != nil {
			return err
		}
		fv.Set(p)
		return nil
	}
	if len(els) > 1 {
		return &DecodeError{Field: f.goName, Property: f.name, Err: fmt.Errorf("expected one element, got %d", len(els))}
	}
	return setScalar(fv, els[0], f)
}

func setScalar(fv reflect.Value, e *etree.Element, f field) error {
	t := fv.Type()
	switch t {
	case elementType:
		fv.Set(reflect.ValueOf(e))
		return nil
	case eprType:
		epr, err := ParseEPR(e)
		if err != nil {
			return &DecodeError{Field: f.goName, Property: f.name, Err: err}
		}
		fv.Set(reflect.ValueOf(epr))
		return nil
	}
	s := Text(e)
	fail := func(err error) error {
		v := s
		if len(v) > 64 {
			v = v[:64]
		}
		return &DecodeError{Field: f.goName, Property: f.name, Value: v, Err: err}
	}
	if t == bytesType {
		b, err := base64Text(s)
		if err != nil {
			return fail(err)
		}
		fv.SetBytes(b)
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		fv.SetString(s)
	case reflect.Bool:
		b, err := ParseBool(s)
		if err != nil {
			return fail(err)
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return fail(err)
		}
		fv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			return fail(err)
		}
		fv.SetUint(n)
	default:
		return fmt.Errorf("%w: %s", ErrUnsupportedType, t)
	}
	return nil
}

// ParseBool reads an xs:boolean: true, false, 1 or 0 (true and false in any
// case, as some firmware capitalises them).
func ParseBool(s string) (bool, error) {
	switch {
	case s == "1" || strings.EqualFold(s, "true"):
		return true, nil
	case s == "0" || strings.EqualFold(s, "false"):
		return false, nil
	}
	return false, fmt.Errorf("wsman: invalid boolean %q", s)
}

// Marshal builds an element <h:local xmlns:h="ns"> from the struct v (or pointer
// to struct), one property per field in declaration order, with the rules and
// types of [Unmarshal]: bool as true/false, integers in decimal, []byte as
// base64, [EPR] as EPR content, *etree.Element copied, slices as repeated
// elements, nil pointers and nil slices omitted, zero values omitted only with
// `,omitempty`. Any other field type is an error ([ErrUnsupportedType]).
func Marshal(ns, local string, v any) (*etree.Element, error) {
	props, err := MarshalProperties(v)
	if err != nil {
		return nil, err
	}
	return NewElement(ns, local, props...), nil
}

// MarshalProperties converts the struct v into properties, as [Marshal] does,
// for callers that build the element themselves.
func MarshalProperties(v any) ([]Property, error) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, fmt.Errorf("%w: Marshal of a nil pointer", ErrUnsupportedType)
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: Marshal needs a struct, got %T", ErrUnsupportedType, v)
	}
	fields, err := structFields(rv.Type())
	if err != nil {
		return nil, err
	}
	var props []Property
	for _, f := range fields {
		fv := rv.FieldByIndex(f.index)
		if err := checkType(fv.Type()); err != nil {
			return nil, fmt.Errorf("field %s: %w", f.goName, err)
		}
		if f.omitEmpty && fv.IsZero() {
			continue
		}
		t := fv.Type()
		switch {
		case t == bytesType || t == eprType || t == elementType:
			if t == elementType && fv.IsNil() {
				continue
			}
			if t == bytesType && fv.IsNil() {
				continue
			}
			props = append(props, scalarProp(f.name, fv))
		case t.Kind() == reflect.Slice:
			for i := 0; i < fv.Len(); i++ {
				props = append(props, scalarProp(f.name, fv.Index(i)))
			}
		case t.Kind() == reflect.Pointer:
			if fv.IsNil() {
				continue
			}
			props = append(props, scalarProp(f.name, fv.Elem()))
		default:
			props = append(props, scalarProp(f.name, fv))
		}
	}
	return props, nil
}

func scalarProp(name string, v reflect.Value) Property {
	switch v.Type() {
	case eprType:
		epr := v.Interface().(EPR)
		return PropEPR(name, epr)
	case elementType:
		return PropElement(name, v.Interface().(*etree.Element))
	case bytesType:
		return Prop(name, base64.StdEncoding.EncodeToString(v.Bytes()))
	}
	switch v.Kind() {
	case reflect.String:
		return Prop(name, v.String())
	case reflect.Bool:
		return Prop(name, strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return Prop(name, strconv.FormatInt(v.Int(), 10))
	default:
		return Prop(name, strconv.FormatUint(v.Uint(), 10))
	}
}
