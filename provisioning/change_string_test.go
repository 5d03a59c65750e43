package provisioning_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

// Change.String promises one line, but the CIRA plan puts device-supplied
// strings into Target unquoted
// (remoteaccess.go: "MPS " + net.JoinHostPort(m.AccessInfo, …) for an MPS the
// device lists, name + " policy" for a PolicyRuleName the device lists), and
// Err (a device fault's Reason) is printed with %v. A hostile device whose MPS
// AccessInfo or fault reason holds a line break forges further lines in a
// plan or report printed line by line. The Targets are built here exactly as
// remoteaccess.go builds them from the amt.MPServer and amt.RemoteAccessPolicyRule
// the device returned (reaching them end to end needs a provisioned record and
// a CIRA profile).
func TestChangeStringIsOneLine(t *testing.T) {
	mps := amt.MPServer{Name: "Intel(r) AMT:Management Presence Server 0",
		AccessInfo: "mps.evil\ncredentials: rotate admin password of admin: failed: device-untrusted", Port: 4433}
	rule := amt.RemoteAccessPolicyRule{PolicyRuleName: "Periodic\nroots: remove trusted root"}
	fault := &wsman.Fault{Code: wsman.QName{Local: "Receiver"}, Reason: "busy\nnames: update host name \"pc-1\" → \"evil\""}
	for _, c := range []provisioning.Change{
		{Area: "cira", Action: provisioning.ChangeRemove, Target: "MPS " + net.JoinHostPort(mps.AccessInfo, strconv.Itoa(int(mps.Port)))},
		{Area: "cira", Action: provisioning.ChangeRemove, Target: rule.PolicyRuleName + " policy"},
		{Area: "features", Action: provisioning.ChangeUpdate, Target: "KVM", From: "off", To: "on", Err: errors.Join(fault)},
	} {
		if s := c.String(); strings.ContainsAny(s, "\r\n\u2028\u2029") {
			t.Errorf("Change.String is not one line: %q", s)
		}
	}
	// The rest is left as it is: the escaped text still says what happened.
	c := provisioning.Change{Area: "cira", Action: provisioning.ChangeRemove, Target: rule.PolicyRuleName + " policy"}
	if got, want := c.String(), `cira: remove Periodic\nroots: remove trusted root policy`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
