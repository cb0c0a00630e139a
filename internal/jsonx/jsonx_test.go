package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// tree converts a Value to what encoding/json decodes into an any, with
// numbers kept as json.Number.
func tree(v Value) any {
	switch v.Kind() {
	case Null:
		return nil
	case Bool:
		b, _ := v.Bool()
		return b
	case Number:
		return json.Number(v.Raw())
	case String:
		s, _ := v.Str()
		return s
	case Array:
		out := []any{}
		for _, it := range v.Items() {
			out = append(out, tree(it))
		}
		return out
	case Object:
		out := map[string]any{}
		for _, m := range v.Members() {
			out[m.Key] = tree(m.Value)
		}
		return out
	}
	panic("invalid value")
}

func stdDecode(data []byte) (any, error) {
	if !json.Valid(data) {
		return nil, errors.New("invalid")
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any // nil with ok=false: a syntax error
		ok   bool
	}{
		{`{"type":"welcome","welcome":{"motd":"hi"}}`, map[string]any{"type": "welcome", "welcome": map[string]any{"motd": "hi"}}, true},
		{` [1, -2.5e3, true, false, null, "a\u00e9\ud83d\ude00"] `, []any{json.Number("1"), json.Number("-2.5e3"), true, false, nil, "aé😀"}, true},
		{`{"a":1,"a":2}`, map[string]any{"a": json.Number("2")}, true},
		{`"\ud800x"`, "\ufffdx", true},
		{`"\udc00\ud83d\ude00"`, "\ufffd😀", true},
		{"\"\xff\"", "\ufffd", true},
		{`"\/\b\f\n\r\t\"\\"`, "/\b\f\n\r\t\"\\", true},
		{`01`, nil, false},
		{`1.`, nil, false},
		{`-`, nil, false},
		{`1e`, nil, false},
		{`{"a" 1}`, nil, false},
		{`{"a":1,}`, nil, false},
		{`[1,]`, nil, false},
		{`"a` + "\n" + `"`, nil, false},
		{`"\x"`, nil, false},
		{`"\u12"`, nil, false},
		{`tru`, nil, false},
		{`{} {}`, nil, false},
		{``, nil, false},
		{`{`, nil, false},
	} {
		v, err := Parse([]byte(tc.in))
		if !tc.ok {
			if err == nil || !errors.Is(err, ErrSyntax) {
				t.Errorf("Parse(%q) = %v, want a syntax error", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := tree(v); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestDepth(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	deep := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	if _, err := Parse([]byte(deep)); !errors.Is(err, ErrDepth) {
		t.Fatalf("depth %d: %v, want ErrDepth", MaxDepth+1, err)
	}
}

func TestAccessors(t *testing.T) {
	v, err := Parse([]byte(`{"id":12,"t":1.5,"big":1e400,"neg":-9223372036854775808,"over":9223372036854775808,"f":2.0,"s":"x","b":true,"n":null,"o":{"k":[1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := v.Get("id").Int(); !ok || n != 12 {
		t.Errorf("id = %d, %v", n, ok)
	}
	if n, ok := v.Get("neg").Int(); !ok || n != math.MinInt64 {
		t.Errorf("neg = %d, %v", n, ok)
	}
	for _, k := range []string{"t", "over", "f", "s", "missing"} {
		if _, ok := v.Get(k).Int(); ok {
			t.Errorf("%s read as an integer", k)
		}
	}
	if f, ok := v.Get("t").Float(); !ok || f != 1.5 {
		t.Errorf("t = %v, %v", f, ok)
	}
	if f, ok := v.Get("big").Float(); ok || f != 0 {
		t.Errorf("1e400 read as the float64 %v, %v; want 0, false", f, ok)
	}
	if s, ok := v.Get("s").Str(); !ok || s != "x" {
		t.Errorf("s = %q, %v", s, ok)
	}
	if _, ok := v.Get("id").Str(); ok {
		t.Error("a number read as a string")
	}
	if b, ok := v.Get("b").Bool(); !ok || !b {
		t.Errorf("b = %v, %v", b, ok)
	}
	if !v.Get("n").IsNull() || v.Get("missing").Kind() != Invalid || !v.Has("n") || v.Has("missing") {
		t.Error("null and missing members confused")
	}
	if got := string(v.Get("o").Raw()); got != `{"k":[1]}` {
		t.Errorf("raw = %s", got)
	}
	if n, _ := v.Get("o").Get("k").Items()[0].Int(); n != 1 {
		t.Errorf("o.k[0] = %d", n)
	}
	if v.Get("s").Get("x").Kind() != Invalid || v.Get("missing").Get("x").Get("y").Raw() != nil {
		t.Error("lookups through non-objects must give the zero Value")
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", "quote\" back\\slash", "<a href='x'>&</a>", "\x00\x01\x1f\x7f", "\n\r\t\b\f",
		"\u2028\u2029", "é😀", "bad \xff\xfe utf8", "\xed\xa0\x80"}
	floats := []float64{0, 1, -1, 1.5, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, -0.000001234, math.MaxFloat64, math.SmallestNonzeroFloat64, 1733400000.123456}
	for _, s := range strs {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
	for _, f := range floats {
		want, _ := json.Marshal(f)
		if got := AppendFloat(nil, f); !bytes.Equal(got, want) {
			t.Errorf("AppendFloat(%v) = %s, want %s", f, got, want)
		}
	}
	got := AppendObject(nil, func(o *Obj) {
		o.String("type", "add")
		o.StringOmitEmpty("gone", "")
		o.StringOmitEmpty("kept", "k")
		o.Int("id", -3)
		o.Float("t", 1.25)
		o.Bool("ok", true)
		o.Null("n")
		o.Raw("raw", []byte(`{"x":[1,2]}`))
		o.Raw("nil", nil)
		o.Object("o", func(o *Obj) {})
		o.Array("a", func(a *Arr) {
			a.String("s")
			a.Int(1)
			a.Float(0.5)
			a.Raw([]byte("true"))
			a.Object(func(o *Obj) { o.String("k", "v") })
			a.Array(func(a *Arr) {})
		})
	})
	want := `{"type":"add","kept":"k","id":-3,"t":1.25,"ok":true,"n":null,"raw":{"x":[1,2]},"nil":null,"o":{},"a":["s",1,0.5,true,{"k":"v"},[]]}`
	if string(got) != want {
		t.Errorf("AppendObject = %s\nwant            %s", got, want)
	}
}

func TestCompactMatchesEncodingJSON(t *testing.T) {
	for _, raw := range []string{`{}`, ` { "a" : [ 1 , 2 ] ,
	"b":"<x> & \u2028 \"q\" \\" } `, "[\"\u2028\u2029 ok\"]", `"tab\tand space"`} {
		want, err := json.Marshal(json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if got := Compact([]byte(raw)); !bytes.Equal(got, want) {
			t.Errorf("Compact(%q) = %s, want %s", raw, got, want)
		}
	}
}

// FuzzParse holds Parse to encoding/json: the same inputs are valid, they
// decode to the same tree, and strings written by AppendString read back.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"type":"message","side":"abc","phase":"pake","body":"00ff","id":"1","server_rx":1.5}`,
		`[1,"\ud83d\ude00",{"a":null}]`, `"\u0000"`, `-0.0e+1`, `{"a":{"b":[true,false]}}`, "\"\xff\"", `"\ud800\u0041"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		want, stdErr := stdDecode(data)
		if stdErr != nil && strings.Contains(stdErr.Error(), "exceeded max depth") {
			return
		}
		if errors.Is(err, ErrDepth) {
			return
		}
		if (err == nil) != (stdErr == nil) || (err == nil) != json.Valid(data) {
			t.Fatalf("Parse(%q): err %v, encoding/json %v", data, err, stdErr)
		}
		if err != nil {
			return
		}
		if got := tree(v); !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse(%q) = %#v, encoding/json %#v", data, got, want)
		}
		if std, _ := json.Marshal(json.RawMessage(data)); !bytes.Equal(Compact(data), std) {
			t.Fatalf("Compact(%q) = %s, encoding/json %s", data, Compact(data), std)
		}
		if v.Kind() == String {
			s, _ := v.Str()
			back, err := Parse(AppendString(nil, s))
			if s2, _ := back.Str(); err != nil || s2 != s {
				t.Fatalf("AppendString(%q) read back as %q, %v", s, s2, err)
			}
		}
	})
}
