// Package secretfile writes files that hold secrets (MEBx passwords, PSK
// pairs) readable by their owner only, for the example programs.
package secretfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Open creates path for secrets, readable by its owner only, always as a new
// file: a regular file already there is removed first, so that a reader who
// opened it while its mode was wider (restricting the mode revokes no open
// descriptor) keeps reading the old file, never the secrets. Anything else
// at path — a symbolic link (whose target would be written), a device, a
// directory — is refused untouched, as is a file created there between the
// removal and the creation.
func Open(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("secretfile: %s is not a regular file (%v): refusing to write secrets to it", path, fi.Mode().Type())
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	// The umask can only narrow the mode; this makes it exact.
	if err := fh.Chmod(0o600); err != nil {
		fh.Close()
		return nil, err
	}
	return fh, nil
}

// Write writes raw to path with [Open].
func Write(path string, raw []byte) error {
	fh, err := Open(path)
	if err != nil {
		return err
	}
	if _, err := fh.Write(raw); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
