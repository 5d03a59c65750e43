package wsman

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Item is one result of an enumeration. In the default mode Object is set; with
// [EnumerateEPRs] only EPR; with [EnumerateObjectsAndEPRs] both.
//
// Items from [Client.Enumerate] and [Client.EnumerateAll] are copies that
// stand alone (their namespace declarations included, as [Detach] makes them)
// and share no memory with the response they came in, so keeping items does
// not keep their pages. Items of a [PullResult] ([Client.Pull],
// [Client.OpenEnumeration]) are inside the page's response document.
type Item struct {
	Object *etree.Element
	EPR    *EPR
}

// PullResult is one page of an enumeration: from [Client.OpenEnumeration] (only
// with [OptimizeEnumeration] does it hold items) or [Client.Pull].
type PullResult struct {
	Items []Item
	// Context is the enumeration context to pass to the next Pull ("" when the
	// server sent none).
	Context string
	// EndOfSequence reports that no more items follow; the context is then
	// closed on the server and needs no Release.
	EndOfSequence bool
	Response      *Response
}

// releaseTimeout bounds the Release sent after the caller's context ended.
const releaseTimeout = 5 * time.Second

// Enumerate lists the instances of resourceURI: an Enumerate, then Pulls until
// EndOfSequence, yielding items one at a time. If the loop stops early (break,
// or the context ends) the enumeration context is released so that the
// server's limited pool of contexts is not exhausted; after the caller's
// context ended, Release is sent under a detached context bounded to 5 s.
// Errors are yielded once, as the last element. Options: [MaxElements],
// [OptimizeEnumeration], [Mode], [MaxPulls] and the header options.
//
// A server cannot make an enumeration endless or unbounded in memory: it
// stops with [ErrTooManyPulls] after [MaxPulls] Pulls (default
// [DefaultMaxPulls]) and with [ErrEnumerationTooLarge] past
// [MaxEnumerationItems] items or [MaxEnumerationBytes] bytes of kept items
// (defaults [DefaultMaxEnumerationItems], [DefaultMaxEnumerationBytes]),
// releasing the context in both cases. Items are copied out of each page
// ([Item]) before they are yielded, and the page is dropped before the next
// Pull, so what an enumeration holds is its items, not its responses.
//
// The iterator holds no lock between items: the loop body may make other calls
// on the same client.
func (c *Client) Enumerate(ctx context.Context, resourceURI string, opts ...CallOption) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		cc := callConfig{}
		cc.apply(c.defaults)
		cc.apply(opts)
		maxPulls := cc.maxPulls
		if maxPulls <= 0 {
			maxPulls = DefaultMaxPulls
		}
		maxItems := cc.maxItems
		if maxItems <= 0 {
			maxItems = DefaultMaxEnumerationItems
		}
		maxBytes := cc.maxEnumBytes
		if maxBytes <= 0 {
			maxBytes = DefaultMaxEnumerationBytes
		}
		page, err := c.OpenEnumeration(ctx, resourceURI, opts...)
		if err != nil {
			yield(Item{}, err)
			return
		}
		var count int
		var size int64
		for pulls := 0; ; pulls++ {
			// Copy the page's items out and let the page go before yielding
			// (the loop body may take long) and before the next Pull.
			enumCtx, end := page.Context, page.EndOfSequence
			kept := make([]Item, 0, len(page.Items))
			var over error
			for _, it := range page.Items {
				k, n := keepItem(it)
				count++
				size += n
				if count > maxItems {
					over = fmt.Errorf("%w: more than %d items", ErrEnumerationTooLarge, maxItems)
					break
				}
				if size > maxBytes {
					over = fmt.Errorf("%w: items of more than %d bytes", ErrEnumerationTooLarge, maxBytes)
					break
				}
				kept = append(kept, k)
			}
			page = nil
			for _, it := range kept {
				if !yield(it, nil) {
					if !end {
						c.releaseQuietly(ctx, resourceURI, enumCtx, opts)
					}
					return
				}
			}
			if over != nil {
				if !end {
					c.releaseQuietly(ctx, resourceURI, enumCtx, opts)
				}
				yield(Item{}, over)
				return
			}
			if end {
				return
			}
			if enumCtx == "" {
				yield(Item{}, fmt.Errorf("%w: enumeration response without EnumerationContext or EndOfSequence", ErrMalformed))
				return
			}
			if err := ctx.Err(); err != nil {
				c.releaseQuietly(ctx, resourceURI, enumCtx, opts)
				yield(Item{}, err)
				return
			}
			if pulls >= maxPulls {
				c.releaseQuietly(ctx, resourceURI, enumCtx, opts)
				yield(Item{}, fmt.Errorf("%w (%d pulls)", ErrTooManyPulls, maxPulls))
				return
			}
			next, err := c.Pull(ctx, resourceURI, enumCtx, opts...)
			if err != nil {
				if ctx.Err() != nil {
					c.releaseQuietly(ctx, resourceURI, enumCtx, opts)
				}
				yield(Item{}, err)
				return
			}
			page = next
		}
	}
}

// keepItem returns a copy of it that shares no memory with its response
// document, and an estimate of the copy's size in memory.
func keepItem(it Item) (Item, int64) {
	var out Item
	var size int64
	if it.Object != nil {
		out.Object, size = detach(it.Object, true)
	}
	if it.EPR != nil {
		epr, n := cloneEPR(*it.EPR)
		out.EPR = &epr
		size += n
	}
	return out, size
}

// cloneEPR copies an EPR's strings (a parsed EPR's are slices of its response
// body).
func cloneEPR(e EPR) (EPR, int64) {
	out := EPR{Address: strings.Clone(e.Address), ResourceURI: strings.Clone(e.ResourceURI)}
	size := int64(elementCost + len(e.Address) + len(e.ResourceURI))
	if e.Selectors != nil {
		out.Selectors = make(SelectorSet, len(e.Selectors))
	}
	for i, s := range e.Selectors {
		out.Selectors[i] = Selector{Name: strings.Clone(s.Name), Value: strings.Clone(s.Value)}
		size += attrCost + int64(len(s.Name)+len(s.Value))
		if s.EPR != nil {
			inner, n := cloneEPR(*s.EPR)
			out.Selectors[i].EPR = &inner
			size += n
		}
	}
	return out, size
}

// EnumerateAll collects [Client.Enumerate] into a slice.
func (c *Client) EnumerateAll(ctx context.Context, resourceURI string, opts ...CallOption) ([]Item, error) {
	var out []Item
	for it, err := range c.Enumerate(ctx, resourceURI, opts...) {
		if err != nil {
			return out, err
		}
		out = append(out, it)
	}
	return out, nil
}

func (c *Client) releaseQuietly(ctx context.Context, resourceURI, enumCtx string, opts []CallOption) {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
	}
	if err := c.Release(ctx, resourceURI, enumCtx, opts...); err != nil && c.logger != nil {
		c.logger.LogAttrs(ctx, slog.LevelDebug, "wsman release failed", slog.String("resource", resourceURI), slog.String("error", err.Error()))
	}
}

// OpenEnumeration sends Enumerate and returns the enumeration context (and, with
// [OptimizeEnumeration], the first items). Most callers use [Client.Enumerate].
func (c *Client) OpenEnumeration(ctx context.Context, resourceURI string, opts ...CallOption) (*PullResult, error) {
	cc := callConfig{}
	cc.apply(c.defaults)
	cc.apply(opts)
	body := etree.NewElement(pfxEnum + ":Enumerate")
	body.CreateAttr("xmlns:"+pfxEnum, NSEnumeration)
	if cc.optimize {
		body.CreateElement(pfxWSMan + ":OptimizeEnumeration")
		body.CreateElement(pfxWSMan + ":MaxElements").SetText(strconv.Itoa(maxElements(&cc)))
	}
	if m := cc.mode.String(); m != "" {
		body.CreateElement(pfxWSMan + ":EnumerationMode").SetText(m)
	}
	resp, err := c.Do(ctx, Request{Action: ActionEnumerate, ResourceURI: resourceURI, Body: body}, opts...)
	if err != nil {
		return nil, err
	}
	el := Child(resp.Body, NSEnumeration, "EnumerateResponse")
	if el == nil {
		return nil, fmt.Errorf("%w: expected wsen:EnumerateResponse, got %s", ErrMalformed, describe(resp.Content()))
	}
	return readPage(resp, el, NSWSMan)
}

func maxElements(cc *callConfig) int {
	if cc.maxElements > 0 {
		return cc.maxElements
	}
	return DefaultMaxElements
}

// Pull fetches the next page of an enumeration.
func (c *Client) Pull(ctx context.Context, resourceURI, enumContext string, opts ...CallOption) (*PullResult, error) {
	cc := callConfig{}
	cc.apply(c.defaults)
	cc.apply(opts)
	body := etree.NewElement(pfxEnum + ":Pull")
	body.CreateAttr("xmlns:"+pfxEnum, NSEnumeration)
	body.CreateElement(pfxEnum + ":EnumerationContext").SetText(enumContext)
	body.CreateElement(pfxEnum + ":MaxElements").SetText(strconv.Itoa(maxElements(&cc)))
	if cc.maxChars > 0 {
		body.CreateElement(pfxEnum + ":MaxCharacters").SetText(strconv.Itoa(cc.maxChars))
	}
	resp, err := c.Do(ctx, Request{Action: ActionPull, ResourceURI: resourceURI, Body: body}, opts...)
	if err != nil {
		return nil, err
	}
	el := Child(resp.Body, NSEnumeration, "PullResponse")
	if el == nil {
		return nil, fmt.Errorf("%w: expected wsen:PullResponse, got %s", ErrMalformed, describe(resp.Content()))
	}
	return readPage(resp, el, NSEnumeration)
}

// Release closes an enumeration context before its end.
func (c *Client) Release(ctx context.Context, resourceURI, enumContext string, opts ...CallOption) error {
	body := etree.NewElement(pfxEnum + ":Release")
	body.CreateAttr("xmlns:"+pfxEnum, NSEnumeration)
	body.CreateElement(pfxEnum + ":EnumerationContext").SetText(enumContext)
	_, err := c.Do(ctx, Request{Action: ActionRelease, ResourceURI: resourceURI, Body: body}, opts...)
	return err
}

// readPage reads EnumerationContext, Items and EndOfSequence from an
// EnumerateResponse (items in the wsman namespace) or PullResponse (wsen).
func readPage(resp *Response, el *etree.Element, itemsNS string) (*PullResult, error) {
	pr := &PullResult{Response: resp}
	pr.Context, _ = ChildText(el, NSEnumeration, "EnumerationContext")
	pr.EndOfSequence = Child(el, itemsNS, "EndOfSequence") != nil || Child(el, NSEnumeration, "EndOfSequence") != nil
	items := Child(el, itemsNS, "Items")
	if items == nil {
		items = Child(el, NSEnumeration, "Items")
	}
	if items == nil {
		items = Child(el, NSWSMan, "Items")
	}
	var err error
	pr.Items, err = ReadItems(items)
	if err != nil {
		return nil, err
	}
	return pr, nil
}

// ReadItems reads the children of an Items element: instances, wsa:EndpointReference
// (EPR mode) or wsman:Item pairs (object-and-EPR mode), whichever each child is.
func ReadItems(items *etree.Element) ([]Item, error) {
	if items == nil {
		return nil, nil
	}
	var out []Item
	for _, t := range items.Child {
		e, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		switch {
		case Is(e, NSAddressing, "EndpointReference"):
			epr, err := ParseEPR(e)
			if err != nil {
				return nil, err
			}
			out = append(out, Item{EPR: &epr})
		case Is(e, NSWSMan, "Item"):
			var it Item
			for _, t2 := range e.Child {
				c, ok := t2.(*etree.Element)
				if !ok {
					continue
				}
				if Is(c, NSAddressing, "EndpointReference") {
					epr, err := ParseEPR(c)
					if err != nil {
						return nil, err
					}
					it.EPR = &epr
				} else if it.Object == nil {
					it.Object = c
				}
			}
			if it.Object == nil && it.EPR == nil {
				return nil, fmt.Errorf("%w: empty wsman:Item", ErrMalformed)
			}
			out = append(out, it)
		default:
			out = append(out, Item{Object: e})
		}
	}
	return out, nil
}
