package boundedread

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is matched (errors.Is) by the error of a file over the limit.
var ErrTooLarge = errors.New("larger than the limit")

// TooLargeError is the error of a file over the limit.
type TooLargeError struct {
	Path  string // the file
	Limit int64  // the limit in bytes
	What  string // what the file should have been, e.g. "a provisioning bundle"
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: larger than %d bytes: not %s", e.Path, e.Limit, e.What)
}

// Is matches ErrTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// File returns the contents of path, or a *TooLargeError naming what when it
// holds more than limit bytes.
func File(path string, limit int64, what string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	tooLarge := &TooLargeError{Path: path, Limit: limit, What: what}
	if fi, err := fh.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, tooLarge
	}
	return data, nil
}
