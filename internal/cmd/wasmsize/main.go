// Command wasmsize shows where a Go wasm binary's bytes go: the size of each
// section, and the code the linker kept for each package, raw and deflated
// on its own (a package's share of the gzip size, roughly).
//
// It reads the function names from the wasm "name" section, so build
// without -ldflags=-s:
//
//	GOOS=js GOARCH=wasm go build -trimpath -o /tmp/w.wasm ./wasm
//	go run ./internal/cmd/wasmsize /tmp/w.wasm
//
// scripts/build-web.sh strips the names from the wasm it ships; the code is
// the same.
package main

import (
	"bytes"
	"compress/flate"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

func main() {
	top := flag.Int("n", 40, "packages to list (0: all)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: wasmsize [-n N] FILE.wasm")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	b, err := os.ReadFile(flag.Arg(0))
	if err == nil {
		err = report(os.Stdout, b, *top)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmsize:", err)
		os.Exit(1)
	}
}

func report(w io.Writer, b []byte, top int) error {
	m, err := parse(b)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-18s %9s\n", "section", "bytes")
	for _, s := range m.sections {
		fmt.Fprintf(w, "%-18s %9d\n", s.name, s.size)
	}
	if len(m.names) == 0 {
		return errors.New("no function names: build without -ldflags=-s")
	}
	pkgs := byPackage(m)
	fmt.Fprintf(w, "\n%9s %9s %5s  %s\n", "code", "deflated", "funcs", "package")
	for i, p := range pkgs {
		if top > 0 && i == top {
			break
		}
		fmt.Fprintf(w, "%9d %9d %5d  %s\n", p.raw, p.deflated, p.funcs, p.name)
	}
	return nil
}

type pkgSize struct {
	name          string
	raw, deflated int
	funcs         int
}

// byPackage groups function bodies by package, largest first.
func byPackage(m *module) []pkgSize {
	bodies := map[string][][]byte{}
	for i, body := range m.bodies {
		p := packageOf(m.names[m.imported+i])
		bodies[p] = append(bodies[p], body)
	}
	var out []pkgSize
	for p, bs := range bodies {
		all := bytes.Join(bs, nil)
		out = append(out, pkgSize{name: p, raw: len(all), deflated: deflated(all), funcs: len(bs)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].raw != out[j].raw {
			return out[i].raw > out[j].raw
		}
		return out[i].name < out[j].name
	})
	return out
}

func deflated(b []byte) int {
	var c countWriter
	zw, _ := flate.NewWriter(&c, flate.BestCompression)
	zw.Write(b)
	zw.Close()
	return int(c)
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// The wasm linker spells a symbol's package path with "_" for "/", as in
// "github.com_wasmhole_wasmhole_core_transit.ParseMessage"; a leading
// domain keeps its dots.
var domain = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)+_`)

// packageOf returns the package part of a function name; names that are not
// Go functions (runtime helpers, type equality functions) keep a prefix.
func packageOf(name string) string {
	if strings.HasPrefix(name, "type:") || strings.HasPrefix(name, "type_.") {
		return "(type algorithms)"
	}
	start := 0
	if loc := domain.FindStringIndex(name); loc != nil {
		start = loc[1]
	}
	if i := strings.IndexByte(name[start:], '.'); i >= 0 {
		return strings.ReplaceAll(name[:start+i], "_", "/")
	}
	return name
}
