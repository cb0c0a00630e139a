package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSite(t *testing.T) {
	root := t.TempDir()
	siteDir := filepath.Join(root, "site")
	writeFiles(t, root, map[string]string{
		"secret.txt":               "outside",
		"site/index.html":          "<!doctype html>home",
		"site/web/app.js":          "console.log(1)",
		"site/web/style.css":       "body{}",
		"site/wasmhole.wasm":       "\x00asm",
		"site/web/docs/index.html": "docs",
		"site/noindex/file.bin":    "x",
		"site/.git/config":         "hidden",
		"site/web/.env":            "hidden",
		"site/data.unknownext":     "?",
	})
	if err := os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(siteDir, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	s, err := newSite(siteDir, DefaultCSP, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		method, path string
		code         int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "<!doctype html>home"},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", "<!doctype html>home"},
		{"GET", "/web/app.js", 200, "text/javascript; charset=utf-8", "console.log(1)"},
		{"GET", "/web/style.css", 200, "text/css; charset=utf-8", "body{}"},
		{"GET", "/wasmhole.wasm", 200, "application/wasm", "\x00asm"},
		{"HEAD", "/wasmhole.wasm", 200, "application/wasm", ""},
		{"GET", "/data.unknownext", 200, "application/octet-stream", "?"},
		{"GET", "/web/docs/", 200, "text/html; charset=utf-8", "docs"},
		{"GET", "/web/docs", 301, "", ""},
		{"GET", "/noindex/", 404, "", ""},
		{"GET", "/missing.js", 404, "", ""},
		{"GET", "/.git/config", 404, "", ""},
		{"GET", "/web/.env", 404, "", ""},
		{"GET", "/escape.txt", 404, "", ""},
		{"GET", "/../secret.txt", 404, "", ""},
		{"GET", "/web/../../secret.txt", 404, "", ""},
		{"POST", "/", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			req.URL.Opaque = tt.path // keep dot segments as sent
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.code, body)
			}
			h := resp.Header
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
				"X-Frame-Options":        "DENY",
			} {
				if h.Get(k) != want {
					t.Errorf("%s = %q, want %q", k, h.Get(k), want)
				}
			}
			csp := h.Get("Content-Security-Policy")
			for _, part := range []string{"'wasm-unsafe-eval'", "frame-ancestors 'none'", "default-src 'self'", "object-src 'none'"} {
				if !strings.Contains(csp, part) {
					t.Errorf("CSP %q lacks %s", csp, part)
				}
			}
			if strings.Contains(csp, "'unsafe-eval'") || strings.Contains(csp, "'unsafe-inline'") {
				t.Errorf("CSP too loose: %q", csp)
			}
			if tt.code == 200 {
				if got := h.Get("Content-Type"); got != tt.ctype {
					t.Errorf("Content-Type %q, want %q", got, tt.ctype)
				}
				if string(body) != tt.body {
					t.Errorf("body %q, want %q", body, tt.body)
				}
			}
			if tt.code == 301 && h.Get("Location") != "/web/docs/" {
				t.Errorf("Location %q", h.Get("Location"))
			}
		})
	}
	// The policy can be replaced at run time (reload_config).
	s.setCSP("default-src 'none'")
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Content-Security-Policy"); got != "default-src 'none'" {
		t.Fatalf("CSP after reload %q", got)
	}
}

func TestBanner(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(banner))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "Wormhole Relay\n" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("%q %v", b, resp.Header)
	}
	resp, _ = http.Get(srv.URL + "/other")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatal(resp.StatusCode)
	}
}

// TestSiteReplaced: a site directory deleted and rebuilt while the relay
// runs is served from the new tree, and is a clear 503 in between.
func TestSiteReplaced(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "dist")
	writeFiles(t, dir, map[string]string{"index.html": "old build", "web/app.js": "old"})
	s, err := newSite(dir, DefaultCSP, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || body != "old build" {
		t.Fatalf("before: %d %q", code, body)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if code, _ := get("/"); code != http.StatusServiceUnavailable {
		t.Fatalf("while the directory is gone: HTTP %d, want 503", code)
	}
	writeFiles(t, dir, map[string]string{"index.html": "new build", "web/app.js": "new"})
	for path, want := range map[string]string{"/": "new build", "/web/app.js": "new"} {
		if code, body := get(path); code != 200 || body != want {
			t.Fatalf("after the rebuild, %s: %d %q, want %q", path, code, body, want)
		}
	}
	// A fresh build renamed into place is served too.
	next := filepath.Join(root, "next")
	writeFiles(t, next, map[string]string{"index.html": "renamed build"})
	if err := os.Rename(dir, filepath.Join(root, "prev")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, dir); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/"); code != 200 || body != "renamed build" {
		t.Fatalf("after the rename: %d %q", code, body)
	}
}
