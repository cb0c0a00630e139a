package store

import (
	"os"
	"syscall"
)

// unlinked reports whether the open file f no longer has a name: its link
// count fell to zero. One fstat per Sync, where comparing with a stat of
// the path took two system calls and a path lookup.
func unlinked(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || st.Nlink == 0
}
