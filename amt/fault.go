package amt

import (
	"errors"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/wsman"
)

// StatusOfFault returns the PT_STATUS an AMT fault carries: AMT answers a
// failed intrinsic operation (Get, Put, Create, Delete, Enumerate) with a
// wsman InternalError fault whose detail reads "AMT-STATUS n" (n decimal, or
// hexadecimal with 0x; Intel AMT SDK, errorsandreturnvalues.htm). StatusOfFault
// finds the first [*wsman.Fault] in err's chain and reads the status wherever
// "AMT-STATUS" appears in its detail text. It reports false when err holds no
// fault or the fault no status.
//
// [Device] methods already do this: their [*OpError] unwraps to the Status, so
// errors.Is(err, amt.StatusNotPermitted) works. Use StatusOfFault on errors of
// calls made directly on the [*wsman.Client].
func StatusOfFault(err error) (Status, bool) {
	var f *wsman.Fault
	if !errors.As(err, &f) || f == nil {
		return 0, false
	}
	return parseFaultStatus(f.Detail)
}

// parseFaultStatus reads "AMT-STATUS n" (decimal, or 0x hexadecimal, after
// optional white space, ':' or '=') from a fault's detail text; the first
// occurrence followed by a number that fits in 32 bits wins.
func parseFaultStatus(s string) (Status, bool) {
	const key = "AMT-STATUS"
	for {
		i := strings.Index(s, key)
		if i < 0 {
			return 0, false
		}
		s = s[i+len(key):]
		t := strings.TrimLeft(s, " \t\r\n:=")
		base := 10
		if len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
			base, t = 16, t[2:]
		}
		n := 0
		for n < len(t) && isStatusDigit(t[n], base) {
			n++
		}
		if n > 0 {
			if v, err := strconv.ParseUint(t[:n], base, 32); err == nil {
				return Status(v), true
			}
		}
	}
}

func isStatusDigit(c byte, base int) bool {
	switch {
	case c >= '0' && c <= '9':
		return true
	case base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
		return true
	}
	return false
}
