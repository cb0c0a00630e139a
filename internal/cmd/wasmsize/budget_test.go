package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"go/build"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// gzipBudget is what the browser's wasm may weigh, gzip -9: a page that
// starts on a phone over a slow link (issue "wasm ≤ 1.3 MB gzip").
const gzipBudget = 1_300_000

// banned are the packages the browser build must not link. fmt and
// encoding/json are all-or-nothing: one reachable Sprintf, Errorf or
// Unmarshal keeps the whole printer or codec and reflect with it (web/README.md,
// Size). archive/zip reaches fmt through its init; rsc.io/qr's coding package
// too. A package is matched with the packages below it.
var banned = []string{"fmt", "encoding/json", "archive/zip", "rsc.io/qr"}

// TestBrowserBudget builds the browser's wasm exactly as
// scripts/build-web.sh does (its go build line, read from the script) and
// fails if it is over gzipBudget, or if any function of a banned package
// is linked, which it reads from a second build that keeps the names
// (without -s -w; the code is the same). Go's build cache makes a run with
// nothing changed a matter of the two links.
func TestBrowserBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the browser's wasm twice")
	}
	goTool := filepath.Join(build.Default.GOROOT, "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		t.Skipf("no go command to build the wasm with: %v", err)
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	flags, err := buildFlags(filepath.Join(root, "scripts", "build-web.sh"))
	if err != nil {
		t.Fatal(err)
	}
	watchSources(t, goTool, root)
	dir := t.TempDir()

	shipped := filepath.Join(dir, "shipped.wasm")
	goBuild(t, goTool, root, append(append([]string{}, flags...), "-o", shipped, "./wasm"))
	b, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzipSize(t, shipped, b)
	figures := "wasm " + strconv.Itoa(len(b)) + " bytes, " + strconv.Itoa(gz) + " gzip -9"
	if br, err := exec.Command("brotli", "-q", "11", "-c", shipped).Output(); err == nil {
		figures += ", " + strconv.Itoa(len(br)) + " brotli -q 11"
	}
	t.Logf("%s (budget %d gzip -9; build flags %q)", figures, gzipBudget, flags)
	if gz > gzipBudget {
		t.Errorf("the browser's wasm is %d bytes gzip -9, over the budget of %d by %d", gz, gzipBudget, gz-gzipBudget)
	}

	named := filepath.Join(dir, "named.wasm")
	goBuild(t, goTool, root, append(withoutStrip(flags), "-o", named, "./wasm"))
	nb, err := os.ReadFile(named)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parse(nb)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.names) == 0 {
		t.Fatal("no function names in the wasm built without -s")
	}
	linked := bannedFunctions(m)
	for _, p := range slices.Sorted(maps.Keys(linked)) {
		fns := linked[p]
		t.Errorf("%s is linked into the browser's wasm: %d functions, such as %s", p, len(fns), strings.Join(fns[:min(len(fns), 5)], ", "))
	}
	if len(linked) == 0 {
		t.Logf("%d functions linked, none from %v", len(m.names), banned)
	}
}

// buildFlags returns the arguments of scripts/build-web.sh's
// `GOOS=js GOARCH=wasm go build` of ./wasm, without its -o and package.
func buildFlags(script string) ([]string, error) {
	b, err := os.ReadFile(script)
	if err != nil {
		return nil, err
	}
	const prefix = "GOOS=js GOARCH=wasm go build "
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok || !strings.HasSuffix(strings.TrimSpace(rest), " ./wasm") {
			continue
		}
		words, err := shellWords(strings.TrimSuffix(strings.TrimSpace(rest), " ./wasm"))
		if err != nil {
			return nil, errors.New(script + ": " + err.Error())
		}
		var flags []string
		for i := 0; i < len(words); i++ {
			if words[i] == "-o" {
				i++ // the output path
				continue
			}
			if strings.ContainsAny(words[i], "$`") {
				return nil, errors.New(script + ": cannot expand " + strconv.Quote(words[i]) + " without a shell")
			}
			flags = append(flags, words[i])
		}
		return append([]string{"build"}, flags...), nil
	}
	return nil, errors.New(script + " has no line `" + prefix + "... ./wasm`: keep this test's reading of it in step")
}

// shellWords splits a line into words the way the shell would for the
// plain quoting build-web.sh uses: single and double quotes, no escapes;
// $ and ` are kept as they are (buildFlags refuses them but in -o's path).
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\\':
			return nil, errors.New("cannot read " + strconv.Quote(s) + " without a shell")
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unclosed quote in " + strconv.Quote(s))
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// withoutStrip drops -s and -w from the -ldflags, so the name section stays.
func withoutStrip(flags []string) []string {
	var out []string
	for i := 0; i < len(flags); i++ {
		f := flags[i]
		val, joined := strings.CutPrefix(f, "-ldflags=")
		if !joined && f == "-ldflags" && i+1 < len(flags) {
			i++
			val = flags[i]
		}
		if !joined && f != "-ldflags" {
			out = append(out, f)
			continue
		}
		var kept []string
		for _, w := range strings.Fields(val) {
			if w != "-s" && w != "-w" {
				kept = append(kept, w)
			}
		}
		if len(kept) > 0 {
			out = append(out, "-ldflags="+strings.Join(kept, " "))
		}
	}
	return out
}

func goBuild(t *testing.T, goTool, root string, args []string) {
	t.Helper()
	cmd := exec.Command(goTool, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// watchSources stats every non-standard Go file the wasm is built from, so
// `go test`'s result cache, which only knows the files a test itself
// touched, runs this test again whenever one of them changes.
func watchSources(t *testing.T, goTool, root string) {
	t.Helper()
	cmd := exec.Command(goTool, "list", "-deps", "-f",
		`{{if not .Standard}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`,
		"./wasm")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := append(strings.Fields(string(out)), filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum"))
	for _, f := range files {
		_, _ = os.Stat(f)
	}
}

// gzipSize is the size of b after `gzip -9`, the figure build-web.sh
// prints; Go's compress/gzip at level 9 stands in where gzip is missing.
func gzipSize(t *testing.T, path string, b []byte) int {
	if out, err := exec.Command("gzip", "-9", "-c", path).Output(); err == nil {
		return len(out)
	}
	t.Log("no gzip program: measuring with compress/gzip level 9")
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Len()
}

// bannedFunctions returns the linked functions of each banned package,
// but for its package initializer, "fmt.init", which is kept while any
// package in the build imports it (crypto/rand imports math/big, and
// math/big fmt) and does nothing that pulls in the rest.
func bannedFunctions(m *module) map[string][]string {
	out := map[string][]string{}
	for _, i := range slices.Sorted(maps.Keys(m.names)) {
		name := m.names[i]
		p := packageOf(name)
		if pkg, ok := strings.CutSuffix(name, ".init"); ok && strings.ReplaceAll(pkg, "_", "/") == p {
			continue
		}
		for _, b := range banned {
			if p == b || strings.HasPrefix(p, b+"/") {
				out[b] = append(out[b], name)
			}
		}
	}
	return out
}

func TestBuildFlags(t *testing.T) {
	script := filepath.Join(t.TempDir(), "build.sh")
	for _, tc := range []struct{ script, want, wantNamed string }{
		{"x\nGOOS=js GOARCH=wasm go build -trimpath -gcflags=all=-l -ldflags='-s -w' -o \"$tmp/web/w.wasm\" ./wasm\n",
			"build -trimpath -gcflags=all=-l -ldflags=-s -w", "build -trimpath -gcflags=all=-l"},
		{"GOOS=js GOARCH=wasm go build -ldflags \"-s -X main.v=1\" -o out ./wasm\n",
			"build -ldflags -s -X main.v=1", "build -ldflags=-X main.v=1"},
		{"GOOS=js GOARCH=wasm go build \"${gcflags[@]}\" -o out ./wasm\n", "error", ""},
		{"GOOS=js GOARCH=wasm go build -o out ./other\n", "error", ""},
	} {
		if err := os.WriteFile(script, []byte(tc.script), 0o644); err != nil {
			t.Fatal(err)
		}
		flags, err := buildFlags(script)
		if err != nil {
			if tc.want != "error" {
				t.Errorf("%q: %v", tc.script, err)
			}
			continue
		}
		if got := strings.Join(flags, " "); got != tc.want {
			t.Errorf("%q: flags %q, want %q", tc.script, got, tc.want)
		}
		if got := strings.Join(withoutStrip(flags), " "); got != tc.wantNamed {
			t.Errorf("%q: without -s -w %q, want %q", tc.script, got, tc.wantNamed)
		}
	}
}

func TestBannedFunctions(t *testing.T) {
	m := &module{names: map[int]string{0: "fmt.Errorf", 1: "fmtx.Y", 2: "encoding_json.Unmarshal",
		3: "rsc.io_qr_coding.lplan", 4: "strconv.Quote", 5: "fmt.__pp_.doPrintf", 6: "fmt.init", 7: "encoding_json.init"}}
	got := bannedFunctions(m)
	if len(got["fmt"]) != 2 || len(got["encoding/json"]) != 1 || len(got["rsc.io/qr"]) != 1 || len(got) != 3 {
		t.Errorf("bannedFunctions = %v", got)
	}
}
