//go:build !linux && !js

package store

// syncWAL flushes the WAL file.
func (s *SQLite) syncWAL() error { return s.wal.Sync() }
