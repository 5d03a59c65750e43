//go:build !linux

package main

import (
	"errors"
	"io"
)

// promptPassword is available on Linux only (it turns the terminal's echo
// off); elsewhere use $AMT_PASSWORD or -password-stdin.
func promptPassword(io.Writer, string) (string, error) {
	return "", errors.New("no echo-free prompt on this system")
}
