package wormhole

// Receiving into the local file system, for native receivers. Nothing
// appears under the final name before the transfer is complete: a file is
// written to a temporary name beside its destination and linked into
// place only after the last byte authenticated (and before the ack tells
// the sender it worked); a directory's zip is spooled to a temporary file
// and unpacked by transfer.Extract, which stages the tree in a temporary
// directory and renames it into place. On any failure the temporaries are
// removed.

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/wasmhole/wasmhole/core/internal/logging"
	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/internal/errs"
)

// extractSlackFiles and extractSlackBytes widen the zip-bomb limits taken
// from a directory offer: senders may add directory entries that
// numfiles does not count (Python >= 0.14), and symlink targets count as
// bytes in transfer.Extract.
const (
	extractSlackFiles = 1024
	extractSlackBytes = 1 << 20
)

// AcceptToPath accepts the offer and stores it at path: a file offer as
// the file path, a directory offer as the directory path, both in place
// before the ack goes out (opts.Finish, if set, runs after that). path must not
// exist (a directory may also be an existing empty directory); if it
// does, AcceptToPath fails with fs.ErrExist before answering, and the
// offer is still open (Reject it or try another path).
func (o *Offer) AcceptToPath(ctx context.Context, path string, opts AcceptOptions) error {
	if o.Kind == Text {
		return errNoData
	}
	if err := checkFree(path, o.Kind == Directory); err != nil {
		return err
	}
	if err := o.claim(); err != nil {
		return err
	}
	if o.Kind == Directory {
		return o.acceptDir(ctx, path, opts)
	}
	return o.acceptFile(ctx, path, opts)
}

// AcceptToDir stores the offer inside dir under the sender's name made
// safe by transfer.SafeFilename, and returns the path it wrote. Like
// AcceptToPath it refuses to overwrite, leaving the offer open.
func (o *Offer) AcceptToDir(ctx context.Context, dir string, opts AcceptOptions) (string, error) {
	if o.Kind == Text {
		return "", errNoData
	}
	name, err := transfer.SafeFilename(o.Name)
	if err != nil {
		return "", errs.Wrap("wormhole", err)
	}
	path := filepath.Join(dir, name)
	return path, o.AcceptToPath(ctx, path, opts)
}

// ReceiveToDir receives whatever the sender offers and accepts it into
// dir, like `wormhole receive --accept-file`. A text offer is returned
// with an empty path. If the offer cannot be stored (unsafe name, the
// target exists) it is declined, so the sender fails too.
func (c *Client) ReceiveToDir(ctx context.Context, code, dir string, opts AcceptOptions) (*Offer, string, error) {
	o, err := c.Receive(ctx, code)
	if err != nil || o.Kind == Text {
		return o, "", err
	}
	path, err := o.AcceptToDir(ctx, dir, opts)
	if err != nil && o.claim() == nil {
		// Not answered yet: the failure came before accepting.
		text := "cannot store the transfer"
		if errors.Is(err, fs.ErrExist) {
			text = "refusing to overwrite existing " + filepath.Base(path)
		}
		if derr := o.decline(ctx, text); derr != nil {
			if logging.Enabled {
				c.Logger.V(1).Info("declining the offer", "error", derr)
			}
		}
	}
	return o, path, err
}

// checkFree fails with fs.ErrExist unless path is free: missing, or for a
// directory also an empty directory (transfer.Extract replaces that).
func checkFree(path string, dir bool) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errs.Wrap("wormhole", err)
	}
	if dir && fi.IsDir() {
		d, err := os.Open(path)
		if err == nil {
			names, _ := d.Readdirnames(1)
			d.Close()
			if len(names) == 0 {
				return nil
			}
		}
	}
	return errs.Wrap("wormhole: refusing to overwrite "+path, fs.ErrExist)
}

// acceptFile receives into a temporary file next to path and links it to
// path (never replacing a file that appeared meanwhile) before the ack.
func (o *Offer) acceptFile(ctx context.Context, path string, opts AcceptOptions) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".wasmhole-*.part")
	if err != nil {
		o.goodbye(ctx, err)
		return errs.Wrap("wormhole", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful link only the temporary name goes
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
	}()
	user := opts.Finish
	finish := func() error {
		closed = true
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			// CreateTemp makes 0600; a received file is the user's like any other.
			err = os.Chmod(tmp, 0o644)
		}
		if err == nil {
			err = placeFile(tmp, path)
		}
		if err != nil {
			return errs.Wrap("wormhole: storing "+path, err)
		}
		return then(user)
	}
	opts.Finish = finish
	return o.accept(ctx, f, opts)
}

// placeFile gives tmp the name path without replacing anything there: a
// hard link fails if path exists. File systems without hard links fall
// back to a rename after a last check.
func placeFile(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(path); serr == nil {
		return errs.Wrap(path, fs.ErrExist)
	}
	return os.Rename(tmp, path)
}

// acceptDir spools the zip to a temporary file beside path, then unpacks
// it into path with limits taken from the offer, before the ack.
func (o *Offer) acceptDir(ctx context.Context, path string, opts AcceptOptions) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".wasmhole-*.zip")
	if err != nil {
		o.goodbye(ctx, err)
		return errs.Wrap("wormhole", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	user := opts.Finish
	finish := func() error {
		limits := transfer.Limits{
			MaxFiles: max(o.NumFiles, 0)*2 + extractSlackFiles,
			MaxBytes: max(o.NumBytes, 0) + extractSlackBytes,
		}
		if err := transfer.Extract(f, o.Size, path, limits); err != nil {
			return errs.Wrap("wormhole: unpacking into "+path, err)
		}
		return then(user)
	}
	opts.Finish = finish
	return o.accept(ctx, f, opts)
}

// then runs the caller's Finish step, if any, after ours.
func then(finish func() error) error {
	if finish == nil {
		return nil
	}
	return finish()
}

// goodbye ends an offer that failed before its answer went out.
func (o *Offer) goodbye(ctx context.Context, err error) {
	o.own.close()
	goodbye(ctx, o.c, o.w, err, true)
}
