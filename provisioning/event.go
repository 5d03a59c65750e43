package provisioning

import (
	"net/netip"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// Event reports one step of a session, or one maintenance action. Every
// rejection and failure is an event with a stable [Reason]. An event whose
// State is neither Rejected nor Failed may carry a Reason and Err too: a
// finding that did not stop the session, such as a verify step that saved the
// device Provisioned but not the step's history entry ([ReasonStoreFailed]).
// Events carry no secrets; Err has been checked to hold none (it comes from
// amtkit code, which never puts secrets in errors).
type Event struct {
	Time     time.Time
	Device   amt.UUID
	Source   netip.AddrPort // the hello's source, when the event belongs to a session
	Step     Step
	State    State // the session state after the step
	Duration time.Duration
	Reason   Reason // set on rejections, failures and findings
	Err      error
	// Detail is a short human-readable note, e.g. "bundle prov.contoso.com (SHA-256
	// root DigiCert Global Root G2)" or "OTP verified" / "OTP not required".
	Detail string
}

// Observer receives events. It is called synchronously from the goroutine of
// the session, listener or Maintainer run that emits the event — from many at
// once, so it must be safe for concurrent use — and must not block (it holds
// up the session); hand events to a channel or a logger.
type Observer func(Event)
