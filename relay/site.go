package main

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"sync/atomic"

	"github.com/go-logr/logr"
)

// mimeTypes is fixed rather than taken from the system: a FROM-scratch
// container has no /etc/mime.types, and browsers refuse to stream-compile
// WebAssembly unless it is served as application/wasm.
var mimeTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".wasm":        "application/wasm",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".txt":         "text/plain; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".ico":         "image/x-icon",
	".woff2":       "font/woff2",
	".woff":        "font/woff",
}

// securityHeaders go on every response of the relay's HTTP port.
func securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// site serves a directory read-only. Paths cannot leave the directory
// (os.Root also refuses symlinks pointing outside), dot-files are hidden,
// directories are served only through their index.html (no listings).
//
// The directory is opened by name for every request, not once at start:
// a deployment that replaces it (rm -rf and rebuild, or renaming a fresh
// build into place) is served at once, where a directory held open since
// start would go on naming the deleted tree. One openat per request is
// nothing beside serving the file.
type site struct {
	dir string
	csp atomic.Pointer[string]
	log logr.Logger
}

func newSite(dir, csp string, log logr.Logger) (*site, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	root.Close()
	s := &site{dir: dir, log: log}
	s.setCSP(csp)
	return s, nil
}

func (s *site) setCSP(csp string) { s.csp.Store(&csp) }

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Security-Policy", *s.csp.Load())
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "."
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") && part != "." {
			http.NotFound(w, r)
			return
		}
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		// Between an rm -rf and the rebuild, say so in the log.
		s.log.Error(err, "site directory unavailable", "site", s.dir)
		http.Error(w, "site unavailable, try again shortly", http.StatusServiceUnavailable)
		return
	}
	defer root.Close()
	f, info, isDir, err := open(root, name)
	if err != nil {
		// Missing files, unreadable ones and escapes through symlinks all
		// look the same from outside.
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	if isDir && !strings.HasSuffix(r.URL.Path, "/") {
		// Relative links in the index need the slash.
		http.Redirect(w, r, path.Base(r.URL.Path)+"/", http.StatusMovedPermanently)
		return
	}
	ct, ok := mimeTypes[strings.ToLower(path.Ext(info.Name()))]
	if !ok {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	// Revalidate every time: an app update must never mix old and new
	// files; ETag-less revalidation uses Last-Modified.
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, info.Name(), info.ModTime(), f)
}

// open returns a regular file, following a directory to its index.html
// (isDir reports that).
func open(root *os.Root, name string) (f *os.File, info fs.FileInfo, isDir bool, err error) {
	for range 2 {
		f, err = root.Open(name)
		if err != nil {
			return nil, nil, false, err
		}
		info, err = f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, false, err
		}
		if info.Mode().IsRegular() {
			return f, info, isDir, nil
		}
		f.Close()
		if !info.IsDir() {
			break
		}
		isDir = true
		name = path.Join(name, "index.html")
	}
	return nil, nil, false, fs.ErrNotExist
}

// banner is / when no site is configured, like the reference server.
func banner(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "Wormhole Relay\n")
}
