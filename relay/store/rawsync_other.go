//go:build !linux && !js

package store

import "os"

// syncWAL flushes the WAL file f.
func (s *SQLite) syncWAL(f *os.File) error { return f.Sync() }
