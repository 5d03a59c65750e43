package amt

import (
	"errors"
	"fmt"
	"strings"
)

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=Severity -linecomment

// Severity ranks a [Finding].
type Severity int

// Severities, in increasing order. An error means the firmware, a BIOS or the
// provisioning engine will refuse the input; a warning means it may work but
// something is fragile or out of policy; info states a fact worth knowing.
const (
	SeverityInfo    Severity = iota + 1 // info
	SeverityWarning                     // warning
	SeverityError                       // error
)

// MarshalText implements [encoding.TextMarshaler] with [Severity.String]: "info",
// "warning" or "error". An unknown severity is refused.
func (s Severity) MarshalText() ([]byte, error) {
	if s < SeverityInfo || s > SeverityError {
		return nil, fmt.Errorf("amt: severity %d is not info (1), warning (2) or error (3)", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler]; it accepts what
// [Severity.MarshalText] writes.
func (s *Severity) UnmarshalText(b []byte) error {
	for v := SeverityInfo; v <= SeverityError; v++ {
		if string(b) == v.String() {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("amt: severity %q is not info, warning or error", b)
}

// FindingCode identifies the rule behind a [Finding]. Codes are stable: they
// are part of the API, written to logs and matched by integrators. Each package
// that reports findings defines and documents its own (docs/certs.md,
// docs/pskx.md, docs/troubleshooting.md).
type FindingCode string

// Finding is one result of a check.
type Finding struct {
	Code     FindingCode
	Severity Severity
	// Subject names what the finding is about, in words: a certificate
	// ("certificate 0 (CN=…)"), a setup.bin record and variable ("record 1, PID
	// (2/1)"), a profile, a bundle; "" when it is about the input as a whole.
	Subject string
	// Message says what was expected and what was found. It does not repeat
	// Subject; [Finding.String] joins the two.
	Message string
	// Guidance names the published source of the rule, or "" where the
	// package's documentation gives it with the code.
	Guidance string
	// Detail refines the code for programs: where a finding wraps another (the
	// audit's bundle-check wraps a certificate finding), the wrapped code;
	// otherwise "".
	Detail string
	// Index is the position in the checked input of the item at fault — the
	// certificate in its chain (leaf = 0), the data record in
	// setupbin.File.Records — or -1 when there is none.
	Index int
	// Err is the error behind the finding, for errors.Is and errors.As (a
	// package's sentinel or the cause), or nil.
	Err error
}

// String returns "<severity> <code>: <subject>: <message>", without the
// subject part when Subject is "".
func (f Finding) String() string { return f.Severity.String() + " " + f.text() }

// text returns "<code>: <subject>: <message>".
func (f Finding) text() string {
	if f.Subject == "" {
		return string(f.Code) + ": " + f.Message
	}
	return string(f.Code) + ": " + f.Subject + ": " + f.Message
}

// Findings is the result of a check, in the order its package documents.
type Findings []Finding

// Has reports whether a finding with code is present.
func (fs Findings) Has(code FindingCode) bool {
	for _, f := range fs {
		if f.Code == code {
			return true
		}
	}
	return false
}

// Codes returns the codes of the findings, in order (with repeats), or nil.
func (fs Findings) Codes() []FindingCode {
	if len(fs) == 0 {
		return nil
	}
	out := make([]FindingCode, len(fs))
	for i, f := range fs {
		out[i] = f.Code
	}
	return out
}

// Worst returns the highest severity present, or 0 for no findings.
func (fs Findings) Worst() Severity {
	var w Severity
	for _, f := range fs {
		w = max(w, f.Severity)
	}
	return w
}

// AtLeast returns the findings of severity s or higher, in order.
func (fs Findings) AtLeast(s Severity) Findings {
	var out Findings
	for _, f := range fs {
		if f.Severity >= s {
			out = append(out, f)
		}
	}
	return out
}

// Err returns nil when no finding is an error, otherwise a [*CheckError]
// holding the error findings; errors.Is(err, [ErrCheckFailed]) holds for it.
func (fs Findings) Err() error {
	errs := fs.AtLeast(SeverityError)
	if len(errs) == 0 {
		return nil
	}
	return &CheckError{Findings: errs}
}

// ErrCheckFailed is matched by every [*CheckError].
var ErrCheckFailed = errors.New("check failed")

// CheckError carries the error findings of a failed check.
type CheckError struct {
	Findings Findings
}

// Error lists the error findings by code, subject and message.
func (e *CheckError) Error() string {
	parts := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		parts[i] = f.text()
	}
	return ErrCheckFailed.Error() + ": " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrCheckFailed) true.
func (e *CheckError) Is(target error) bool { return target == ErrCheckFailed }
