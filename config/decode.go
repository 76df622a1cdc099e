package config

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
)

// decoderOptions makes mapstructure read the yaml tags and parse every
// encoding.TextUnmarshaler (Duration, LeadTime, ReplicaCapacity) from text.
// Weakly typed input stays on because environment values are all strings.
func decoderOptions(c *mapstructure.DecoderConfig) {
	c.TagName = "yaml"
	c.DecodeHook = textValueHook
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// textValueHook decodes a YAML scalar into a type that unmarshals from text.
// Numbers are accepted as text too, so that `replicaCapacity: 120` and
// `season2: 0` work, but a duration other than 0 needs a unit.
func textValueHook(from, to reflect.Type, data any) (any, error) {
	if f, ok := data.(float64); ok && isInteger(to) && f != math.Trunc(f) {
		return nil, fmt.Errorf("%v is not a whole number", f)
	}
	if isInteger(to) {
		if err := checkIntegerRange(data, to); err != nil {
			return nil, err
		}
	}
	if from == to || !reflect.PointerTo(to).Implements(textUnmarshalerType) {
		return data, nil
	}
	text, isNumber, ok := scalarText(data)
	if !ok {
		return data, nil // not a scalar: the decoder reports the type mismatch
	}
	if isNumber && to == reflect.TypeFor[Duration]() && text != "0" {
		return nil, fmt.Errorf("%s has no unit; write a duration such as \"30s\", \"5m\" or \"1d\"", text)
	}
	target := reflect.New(to)
	if err := target.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
		return nil, err
	}
	return target.Elem().Interface(), nil
}

func isInteger(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	default:
		return false
	}
}

// checkIntegerRange refuses a whole number that the integer type to cannot
// hold: the decoder would keep its low bits (4294967298 would become 2 in an
// int32). Text that is not an integer is left to the decoder.
func checkIntegerRange(data any, to reflect.Type) error {
	v := reflect.ValueOf(data)
	var n big.Int
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n.SetInt64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n.SetUint64(v.Uint())
	case reflect.Float32, reflect.Float64:
		if _, acc := big.NewFloat(v.Float()).Int(&n); acc != big.Exact || math.IsInf(v.Float(), 0) {
			return nil // not whole: reported as such
		}
	case reflect.String:
		if _, ok := n.SetString(strings.TrimSpace(v.String()), 0); !ok {
			return nil
		}
	default:
		return nil
	}
	lo, hi := integerBounds(to)
	switch {
	case n.Cmp(lo) < 0:
		return fmt.Errorf("%s is out of range: at least %s", n.String(), lo.String())
	case n.Cmp(hi) > 0:
		return fmt.Errorf("%s is out of range: at most %s", n.String(), hi.String())
	}
	return nil
}

// integerBounds are the smallest and largest values of an integer type.
func integerBounds(t reflect.Type) (lo, hi *big.Int) {
	bits := uint(t.Bits())
	one := big.NewInt(1)
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return big.NewInt(0), new(big.Int).Sub(new(big.Int).Lsh(one, bits), one)
	}
	hi = new(big.Int).Sub(new(big.Int).Lsh(one, bits-1), one)
	return new(big.Int).Neg(new(big.Int).Add(hi, one)), hi
}

// scalarText returns a string or number as text.
func scalarText(data any) (text string, isNumber, ok bool) {
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.String:
		return v.String(), false, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), true, true
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64), true, true
	default:
		return "", false, false
	}
}

// decodeProblems flattens mapstructure's tree of errors into one FieldError
// per bad value, named by its key path.
func decodeProblems(err error) []error {
	var decodeErr *mapstructure.DecodeError
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		var out []error
		for _, inner := range e.Unwrap() {
			out = append(out, decodeProblems(inner)...)
		}
		return out
	case *mapstructure.DecodeError:
		inner := e.Unwrap()
		if _, joined := inner.(interface{ Unwrap() []error }); joined || errors.As(inner, &decodeErr) {
			return decodeProblems(inner)
		}
		return []error{&FieldError{Field: e.Name(), Detail: describeDecodeError(inner)}}
	case interface{ Unwrap() error }:
		if errors.As(err, &decodeErr) {
			return decodeProblems(e.Unwrap())
		}
	}
	return []error{err}
}

// describeDecodeError rewrites mapstructure's Go-typed messages for people
// who write YAML.
func describeDecodeError(err error) string {
	var parseErr *mapstructure.ParseError
	var typeErr *mapstructure.UnconvertibleTypeError
	switch {
	case errors.As(err, &parseErr):
		return fmt.Sprintf("%s is not %s", formatValue(parseErr.Value), describeType(parseErr.Expected.Type()))
	case errors.As(err, &typeErr):
		return fmt.Sprintf("expected %s, got %s", describeType(typeErr.Expected.Type()), describeType(reflect.TypeOf(typeErr.Value)))
	default:
		return err.Error()
	}
}

// describeType names a Go type the way a YAML author thinks of it.
func describeType(t reflect.Type) string {
	switch {
	case t == nil:
		return "nothing"
	case isInteger(t):
		return "an integer"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	default:
		return t.String()
	}
}

// formatValue quotes strings and prints other values plainly, as error
// messages show a bad value.
func formatValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
