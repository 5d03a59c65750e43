// Package secretfile writes files that hold secrets (MEBx passwords, PSK
// pairs) readable by their owner only, for the example programs.
package secretfile

import "os"

// Open creates or truncates path for secrets, readable by its owner only: a
// file that already existed with a wider mode is restricted before anything
// is written (OpenFile's mode applies only to a new file).
func Open(path string) (*os.File, error) {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
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
