package transfer

import (
	"io"
	"io/fs"
	"strconv"

	"github.com/wasmhole/wasmhole/internal/errs"
)

// Skipped is a path DirEntries left out, with the reason, so the UI can
// tell the user what will not be sent.
type Skipped struct {
	Name   string
	Mode   fs.FileMode
	Reason string
}

// DirEntries walks fsys (use os.DirFS(dir) for a local directory) and
// returns its regular files and directories, empty ones included, in
// lexical order, ready for NewZipPlan. Symlinks, devices, sockets and pipes
// are not followed or sent but listed in skipped, as are paths whose name
// cannot be sent (not UTF-8, or containing a backslash); a skipped
// directory is skipped with everything below it. Sizes and modes are those
// seen during the walk; WriteTo detects files that change afterwards.
func DirEntries(fsys fs.FS) (entries []Entry, skipped []Skipped, err error) {
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return errs.Wrap("transfer: walk "+strconv.Quote(name), err)
		}
		if name == "." {
			return nil
		}
		t := d.Type()
		zipName := name
		if t.IsDir() {
			zipName += "/"
		}
		if err := validateName(zipName, t.IsDir()); err != nil {
			skipped = append(skipped, Skipped{Name: name, Mode: t, Reason: "name cannot be sent: " + err.Error()})
			if t.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !t.IsDir() && !t.IsRegular() {
			skipped = append(skipped, Skipped{Name: name, Mode: t, Reason: "not a regular file or directory"})
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return errs.Wrap("transfer: stat "+strconv.Quote(name), err)
		}
		e := Entry{Name: zipName, Mode: info.Mode(), Modified: info.ModTime()}
		if !t.IsDir() {
			e.Size = info.Size()
			e.Open = func() (io.ReadCloser, error) { return fsys.Open(name) }
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return entries, skipped, nil
}
