//go:build !linux && !js

package store

import "os"

// unlinked reports whether the open file f is no longer the file at its
// path.
func unlinked(f *os.File) bool {
	fi, err := f.Stat()
	return err != nil || !sameFile(fi, f.Name())
}
