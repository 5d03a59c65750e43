package wsmantest

import (
	"fmt"
	"sync"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// Enumerations keeps server-side enumeration contexts for a fake: Start stores
// the items of an Enumerate, Pull hands them out page by page, Release drops a
// context. Contexts are GUID-like strings as AMT's are
// ("CA000000-0000-0000-0000-000000000000"). A bound on open contexts imitates
// AMT's small pool. The zero value is ready to use and safe for concurrent use.
type Enumerations struct {
	// MaxOpen bounds open contexts (0 = no bound); Start fails beyond it.
	MaxOpen int
	// SameContext makes Pull return the same context string every time, as
	// AMT sometimes does.
	SameContext bool

	mu       sync.Mutex
	next     uint32
	open     map[string]*enumState
	released int
}

type enumState struct {
	items []*etree.Element
	pos   int
}

// Start opens a context over items and returns its name.
func (e *Enumerations) Start(items []*etree.Element) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.open == nil {
		e.open = map[string]*enumState{}
	}
	if e.MaxOpen > 0 && len(e.open) >= e.MaxOpen {
		return "", fmt.Errorf("wsmantest: %d enumeration contexts already open", len(e.open))
	}
	e.next++
	name := fmt.Sprintf("%02X%06X-0000-0000-0000-000000000000", 0xC0+e.next%0x40, e.next)
	e.open[name] = &enumState{items: items}
	return name, nil
}

// Pull returns up to max items (max ≤ 0: all remaining) and the context for the
// next Pull, or next == "" when the sequence ended (the context is then
// closed). ok is false for an unknown context.
func (e *Enumerations) Pull(ctx string, max int) (items []*etree.Element, next string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.open[ctx]
	if !ok {
		return nil, "", false
	}
	rest := st.items[st.pos:]
	if max > 0 && len(rest) > max {
		rest = rest[:max]
	}
	st.pos += len(rest)
	if st.pos >= len(st.items) {
		delete(e.open, ctx)
		return rest, "", true
	}
	if e.SameContext {
		return rest, ctx, true
	}
	delete(e.open, ctx)
	e.next++
	n := fmt.Sprintf("%02X%06X-0000-0000-0000-000000000000", 0xC0+e.next%0x40, e.next)
	e.open[n] = st
	return rest, n, true
}

// Release closes ctx; it reports false for an unknown context.
func (e *Enumerations) Release(ctx string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.open[ctx]; !ok {
		return false
	}
	delete(e.open, ctx)
	e.released++
	return true
}

// Open returns the number of open contexts.
func (e *Enumerations) Open() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.open)
}

// Released returns how many contexts were closed by Release.
func (e *Enumerations) Released() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.released
}

// Serve answers Enumerate, Pull and Release requests for items (a helper for
// fakes): it handles optimized enumeration and MaxElements, and faults with
// InvalidEnumerationContext on an unknown context. handled is false for any
// other action.
func (e *Enumerations) Serve(req *Request, items []*etree.Element) (rep Reply, handled bool) {
	switch req.Action {
	case wsman.ActionEnumerate:
		ctx, err := e.Start(items)
		if err != nil {
			return FaultReply(InternalError(1)), true
		}
		if req.OptimizeEnumeration() {
			page, next, _ := e.Pull(ctx, req.MaxElements())
			return OptimizedEnumerateResponse(req, page, next), true
		}
		return EnumerateResponse(req, ctx), true
	case wsman.ActionPull:
		page, next, ok := e.Pull(req.EnumerationContext(), req.MaxElements())
		if !ok {
			return FaultReply(InvalidEnumerationContext()), true
		}
		return PullResponse(req, page, next), true
	case wsman.ActionRelease:
		if !e.Release(req.EnumerationContext()) {
			return FaultReply(InvalidEnumerationContext()), true
		}
		return ReleaseResponse(req), true
	}
	return Reply{}, false
}
