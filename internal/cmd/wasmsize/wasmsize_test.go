package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestPackageOf(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"runtime.mallocgc", "runtime"},
		{"encoding_json.__decodeState_.object", "encoding/json"},
		{"github.com_wasmhole_wasmhole_core_transit.Message.MarshalJSON", "github.com/wasmhole/wasmhole/core/transit"},
		{"filippo.io_edwards25519_field.feMul", "filippo.io/edwards25519/field"},
		{"rsc.io_qr_coding.lplan", "rsc.io/qr/coding"},
		{"main.main", "main"},
		{"type_.eq.reflect.Method", "(type algorithms)"},
		{"gcWriteBarrier", "gcWriteBarrier"},
	} {
		if got := packageOf(tc.name); got != tc.want {
			t.Errorf("packageOf(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// tiny is a hand-assembled module: one imported function, two defined
// functions, and a name section naming all three.
var tiny = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: func() -> ()
	0x02, 0x07, 0x01, 0x01, 'm', 0x01, 'f', 0x00, 0x00, // import m.f
	0x03, 0x03, 0x02, 0x00, 0x00, // function: two of type 0
	0x0a, 0x09, 0x02, 0x02, 0x00, 0x0b, 0x04, 0x00, 0x01, 0x01, 0x0b, // code
	0x00, 0x1b, 0x04, 'n', 'a', 'm', 'e', 0x01, 0x14, 0x03,
	0x00, 0x03, 'm', '.', 'f',
	0x01, 0x05, 'a', '_', 'b', '.', 'x',
	0x02, 0x05, 'a', '_', 'b', '.', 'y',
}

func TestReport(t *testing.T) {
	var out bytes.Buffer
	if err := report(&out, tiny, 0); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	// a/b has both defined functions: 2 + 4 body bytes.
	if !strings.Contains(out.String(), "        6") || !strings.Contains(out.String(), "a/b") {
		t.Errorf("report lacks a/b with 6 bytes:\n%s", out.String())
	}
}

func TestParseRefusesBadInput(t *testing.T) {
	for n := 0; n < len(tiny); n++ {
		if n == 8 || n == 14 || n == 23 || n == 28 || n == 39 {
			continue // section boundaries: a shorter module is still valid
		}
		if _, err := parse(tiny[:n]); err == nil {
			t.Errorf("parse(tiny[:%d]) accepted a truncated module", n)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(tiny)
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := parse(b); err == nil {
			byPackage(m)
		}
	})
}
