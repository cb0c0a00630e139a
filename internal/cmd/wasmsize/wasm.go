package main

import (
	"errors"
	"fmt"
)

// module is what wasmsize needs of a wasm binary.
type module struct {
	sections []section
	imported int            // imported functions come first in the index space
	names    map[int]string // function index -> name, from the "name" section
	bodies   [][]byte       // code section, in order
}

type section struct {
	name string
	size int
}

var errTruncated = errors.New("truncated wasm")

var sectionNames = [...]string{"custom", "type", "import", "function", "table", "memory",
	"global", "export", "start", "element", "code", "data", "datacount"}

// parse reads the sections of a wasm binary (version 1).
func parse(b []byte) (*module, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" || b[4] != 1 {
		return nil, errors.New("not a wasm binary")
	}
	m := &module{names: map[int]string{}}
	r := reader{b: b, i: 8}
	for r.i < len(r.b) {
		id := r.byte()
		n := r.uint()
		body := r.bytes(n)
		if r.err != nil {
			return nil, r.err
		}
		name := fmt.Sprintf("id %d", id)
		if int(id) < len(sectionNames) {
			name = sectionNames[id]
		}
		sr := reader{b: body}
		var err error
		switch id {
		case 0:
			cname := string(sr.bytes(sr.uint()))
			name = "custom " + cname
			if cname == "name" {
				err = m.readNames(&sr)
			}
		case 2:
			err = m.readImports(&sr)
		case 10:
			err = m.readCode(&sr)
		}
		if err == nil {
			err = sr.err
		}
		if err != nil {
			return nil, fmt.Errorf("%s section: %w", name, err)
		}
		m.sections = append(m.sections, section{name, len(body)})
	}
	return m, nil
}

func (m *module) readImports(r *reader) error {
	for n := r.uint(); n > 0 && r.err == nil; n-- {
		r.bytes(r.uint()) // module
		r.bytes(r.uint()) // field
		switch kind := r.byte(); kind {
		case 0: // function: type index
			r.uint()
			m.imported++
		case 1: // table: reftype, limits
			r.byte()
			r.limits()
		case 2: // memory: limits
			r.limits()
		case 3: // global: valtype, mutability
			r.bytes(2)
		default:
			return fmt.Errorf("import kind %d", kind)
		}
	}
	return nil
}

func (m *module) readNames(r *reader) error {
	for r.i < len(r.b) && r.err == nil {
		id := r.byte()
		sub := reader{b: r.bytes(r.uint())}
		if id != 1 { // function names
			continue
		}
		for n := sub.uint(); n > 0 && sub.err == nil; n-- {
			idx := sub.uint()
			m.names[idx] = string(sub.bytes(sub.uint()))
		}
		if sub.err != nil {
			return sub.err
		}
	}
	return nil
}

func (m *module) readCode(r *reader) error {
	for n := r.uint(); n > 0 && r.err == nil; n-- {
		m.bodies = append(m.bodies, r.bytes(r.uint()))
	}
	return nil
}

// reader reads LEB128 numbers and byte strings; the first error sticks.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || r.i >= len(r.b) {
		r.err = errTruncated
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *reader) uint() int {
	v := 0
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= int(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	if r.err == nil {
		r.err = errors.New("LEB128 number too long")
	}
	return 0
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b)-r.i {
		r.err = errTruncated
		return nil
	}
	r.i += n
	return r.b[r.i-n : r.i]
}

func (r *reader) limits() {
	if r.byte()&1 != 0 {
		r.uint()
	}
	r.uint()
}
