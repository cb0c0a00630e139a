// Package unpack unpacks a received directory zip into a folder the user
// picked in the browser (File System Access API), where no OS paths exist:
// the destination is the small Dir interface, which the wasm binds to a
// FileSystemDirectoryHandle and the tests bind to memory.
//
// It follows the rules of core/transfer's Extract: every name goes through
// transfer.SafeName (no absolute paths, no "..", portable characters),
// duplicate names and a file that is also a directory are refused, and the
// number of entries and the unpacked bytes are bounded by transfer.Limits
// derived from the accepted offer, against zip bombs. Symlinks and special
// files cannot be created through the File System Access API; they are
// skipped and reported. Validation happens before anything is written.
package unpack

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/wasmhole/wasmhole/core/transfer"
)

// Dir is a destination folder. Paths are slash-separated, already safe.
type Dir interface {
	// MkdirAll creates the directory and its parents.
	MkdirAll(path string) error
	// Create creates (or truncates) a file; its parent exists.
	Create(path string) (io.WriteCloser, error)
}

// Skipped is an entry that was not unpacked, and why.
type Skipped struct {
	Name   string
	Reason string
}

type entry struct {
	f   *zip.File
	dir bool
}

// Unpack validates the zip in r and writes its directories and files into
// dst. It returns the entries it skipped (symlinks, special files).
func Unpack(r io.ReaderAt, size int64, dst Dir, limits transfer.Limits) ([]Skipped, error) {
	maxFiles, maxBytes := limits.MaxFiles, limits.MaxBytes
	if maxFiles == 0 {
		maxFiles = transfer.DefaultMaxFiles
	}
	if maxBytes == 0 {
		maxBytes = transfer.DefaultMaxBytes
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are checked below
		return nil, fmt.Errorf("unpack: %v: %w", err, transfer.ErrBadZip)
	}
	if maxFiles > 0 && len(zr.File) > maxFiles {
		return nil, fmt.Errorf("unpack: %d entries, limit %d: %w", len(zr.File), maxFiles, transfer.ErrTooManyFiles)
	}
	plan := make(map[string]entry, len(zr.File))
	order := make([]string, 0, len(zr.File))
	var skipped []Skipped
	var declared uint64
	for _, f := range zr.File {
		mode := f.Mode()
		isDir := mode.IsDir() || strings.HasSuffix(f.Name, "/")
		if !isDir && !mode.IsRegular() {
			skipped = append(skipped, Skipped{Name: f.Name, Reason: "not a regular file (" + mode.Type().String() + ")"})
			continue
		}
		name, err := transfer.SafeName(f.Name)
		if err != nil {
			return nil, fmt.Errorf("unpack: %w", err)
		}
		if name == "" {
			continue // "./" and the like: the root itself
		}
		if prev, dup := plan[name]; dup {
			if prev.dir && isDir {
				continue
			}
			return nil, fmt.Errorf("unpack: %q appears twice: %w", name, transfer.ErrBadZip)
		}
		declared += f.UncompressedSize64
		if maxBytes > 0 && declared > uint64(maxBytes) {
			return nil, fmt.Errorf("unpack: more than %d bytes: %w", maxBytes, transfer.ErrTooLarge)
		}
		plan[name] = entry{f: f, dir: isDir}
		order = append(order, name)
	}
	// A file must not also be a parent of another entry.
	for _, name := range order {
		for p := parent(name); p != ""; p = parent(p) {
			if e, ok := plan[p]; ok && !e.dir {
				return nil, fmt.Errorf("unpack: %q is a file and the parent of %q: %w", p, name, transfer.ErrBadZip)
			}
		}
	}

	made := map[string]bool{"": true}
	mkdir := func(p string) error {
		if made[p] {
			return nil
		}
		if err := dst.MkdirAll(p); err != nil {
			return fmt.Errorf("unpack: create folder %q: %w", p, err)
		}
		for ; p != ""; p = parent(p) {
			made[p] = true
		}
		return nil
	}
	left := maxBytes
	buf := make([]byte, 256<<10)
	for _, name := range order {
		e := plan[name]
		if e.dir {
			if err := mkdir(name); err != nil {
				return nil, err
			}
			continue
		}
		if err := mkdir(parent(name)); err != nil {
			return nil, err
		}
		n, err := writeFile(dst, name, e.f, left, buf)
		if err != nil {
			return nil, err
		}
		if left > 0 {
			left -= n
		}
	}
	return skipped, nil
}

// writeFile copies one entry, reading at most left+1 bytes so a lying
// header cannot make it write more than the budget.
func writeFile(dst Dir, name string, f *zip.File, left int64, buf []byte) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("unpack: open %q: %v: %w", name, err, transfer.ErrBadZip)
	}
	defer rc.Close()
	w, err := dst.Create(name)
	if err != nil {
		return 0, fmt.Errorf("unpack: create %q: %w", name, err)
	}
	var src io.Reader = rc
	if left > 0 {
		src = io.LimitReader(rc, left+1)
	}
	n, err := io.CopyBuffer(w, src, buf)
	if err != nil {
		w.Close()
		if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, fmt.Errorf("unpack: %q: %v: %w", name, err, transfer.ErrBadZip)
		}
		return n, fmt.Errorf("unpack: write %q: %w", name, err)
	}
	if left > 0 && n > left {
		w.Close()
		return n, fmt.Errorf("unpack: %q: %w", name, transfer.ErrTooLarge)
	}
	if err := w.Close(); err != nil {
		return n, fmt.Errorf("unpack: save %q: %w", name, err)
	}
	return n, nil
}

func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}
