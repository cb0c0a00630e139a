// Package unpack unpacks a received directory zip into a folder the user
// picked in the browser (File System Access API), where no OS paths exist:
// the destination is the small Dir interface, which the wasm binds to a
// FileSystemDirectoryHandle and the tests bind to memory.
//
// The zip is checked by the same code as core/transfer's Extract,
// transfer.CheckZip, before anything is written: safe names, no duplicates,
// no two names that differ only in case or Unicode normalisation (a folder
// on Windows or macOS would let the second replace the first), no file that
// is also a directory, and the number of entries and unpacked bytes bounded
// by transfer.Limits derived from the accepted offer, against zip bombs.
// Symlinks and special files cannot be created through the File System
// Access API; they are skipped and reported.
package unpack

import (
	"io"
	"strconv"
	"strings"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/zipread"
)

// Dir is a destination folder. Paths are slash-separated, already safe.
type Dir interface {
	// MkdirAll creates the directory and its parents.
	MkdirAll(path string) error
	// Create creates (or truncates) a file; its parent exists.
	Create(path string) (io.WriteCloser, error)
}

// Unpack checks the zip in r and writes its directories and files into
// dst. It returns the entries it skipped (symlinks, special files).
func Unpack(r io.ReaderAt, size int64, dst Dir, limits transfer.Limits) ([]transfer.Skipped, error) {
	z, err := transfer.CheckZip(r, size, transfer.CheckOptions{Limits: limits, NoLinks: true})
	if err != nil {
		return nil, errs.Wrap("unpack", err)
	}
	made := map[string]bool{"": true}
	mkdir := func(p string) error {
		if made[p] {
			return nil
		}
		if err := dst.MkdirAll(p); err != nil {
			return errs.Wrap("unpack: create folder "+strconv.Quote(p), err)
		}
		for ; p != ""; p = parent(p) {
			made[p] = true
		}
		return nil
	}
	left := z.MaxBytes
	buf := make([]byte, 256<<10)
	for _, e := range z.Entries {
		if e.Kind == transfer.EntryDir {
			if err := mkdir(e.Name); err != nil {
				return nil, err
			}
			continue
		}
		if err := mkdir(parent(e.Name)); err != nil {
			return nil, err
		}
		n, err := writeFile(dst, e.Name, e.File, left, buf)
		if err != nil {
			return nil, err
		}
		if left >= 0 {
			left -= n
		}
	}
	return z.Skipped, nil
}

// writeFile copies one entry, reading at most left+1 bytes (left < 0: no
// limit) so a lying header cannot make it write more than the budget.
func writeFile(dst Dir, name string, f *zipread.File, left int64, buf []byte) (int64, error) {
	q := strconv.Quote(name)
	rc, err := f.Open()
	if err != nil {
		return 0, errs.Wrap("unpack: open "+q+": "+err.Error(), transfer.ErrBadZip)
	}
	defer rc.Close()
	w, err := dst.Create(name)
	if err != nil {
		return 0, errs.Wrap("unpack: create "+q, err)
	}
	var src io.Reader = rc
	if left >= 0 {
		src = io.LimitReader(rc, left+1)
	}
	n, err := io.CopyBuffer(w, src, buf)
	if err != nil {
		w.Close()
		if zipread.IsDataError(err) {
			return n, errs.Wrap("unpack: "+q+": "+err.Error(), transfer.ErrBadZip)
		}
		return n, errs.Wrap("unpack: write "+q, err)
	}
	if left >= 0 && n > left {
		w.Close()
		return n, errs.Wrap("unpack: "+q, transfer.ErrTooLarge)
	}
	if err := w.Close(); err != nil {
		return n, errs.Wrap("unpack: save "+q, err)
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
