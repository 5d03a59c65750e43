// Package boundedread reads a file the user named up to a limit: a file
// larger than the limit is refused before it is read (by its size where the
// file system reports one), and a device such as /dev/zero is read no
// further than one byte past the limit. The field-kit commands use it for
// every input file, so that a wrong path costs neither memory nor time.
package boundedread
