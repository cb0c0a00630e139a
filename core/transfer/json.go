package transfer

import (
	"strconv"

	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// The messages are read with internal/jsonx rather than encoding/json,
// which would bring reflection (and fmt) into the browser build. The
// helpers keep what decoding into map[string]json.RawMessage gave:
// exact key names, the last of duplicate keys, unknown keys ignored, and
// a value of the wrong JSON type an error, null included.

// decodeObject parses b, which must be one JSON object.
func decodeObject(b []byte) (jsonx.Value, error) {
	v, err := jsonx.Parse(b)
	if err != nil {
		return jsonx.Value{}, errNotObject
	}
	return v, isObjectValue(v)
}

var errNotObject = errs.Wrap("not a JSON object", ErrMalformed)

func isObjectValue(v jsonx.Value) error {
	if v.Kind() != jsonx.Object {
		return errNotObject
	}
	return nil
}

// isObject reports whether b is one valid JSON object.
func isObject(b []byte) bool {
	v, err := jsonx.Parse(b)
	return err == nil && v.Kind() == jsonx.Object
}

// str returns a JSON string's contents; null, a missing value and other
// types are errors.
func str(v jsonx.Value, key string) (string, error) {
	s, ok := v.Str()
	if !ok {
		return "", errs.Wrap(key+" is not a string", ErrMalformed)
	}
	return s, nil
}

func reqStr(obj jsonx.Value, key string) (string, error) {
	if !obj.Has(key) {
		return "", errs.Wrap("missing "+key, ErrMalformed)
	}
	return str(obj.Get(key), key)
}

// reqSize returns a required non-negative JSON integer that fits int64:
// 1.0, 1e3 and "1" are refused, as decoding into an int64 refuses them.
func reqSize(obj jsonx.Value, key string) (int64, error) {
	if !obj.Has(key) {
		return 0, errs.Wrap("missing "+key, ErrMalformed)
	}
	raw := obj.Get(key)
	n, ok := raw.Int()
	if !ok || n < 0 {
		return 0, errs.Wrap(key+" is not a non-negative integer: "+quote(string(raw.Raw()), 40), ErrMalformed)
	}
	return n, nil
}

// quote is fmt's %.Nq: s cut to its first n runes, quoted with Go
// escapes. Error messages show untrusted text this way, so a peer can
// neither flood a log nor write control characters into it.
func quote(s string, n int) string {
	for i := range s {
		if n == 0 {
			s = s[:i]
			break
		}
		n--
	}
	return strconv.Quote(s)
}
