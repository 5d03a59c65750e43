package wsman_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func instanceIDs(t *testing.T, items []wsman.Item) []string {
	var out []string
	for _, it := range items {
		require.NotNil(t, it.Object)
		out = append(out, wsman.Fields(it.Object)["InstanceID"][0])
	}
	return out
}

func countActions(f *fake, action string) int {
	n := 0
	for _, r := range f.requests() {
		if r.Action == action {
			n++
		}
	}
	return n
}

func TestEnumerateMultiPage(t *testing.T) {
	f := newFake(t, nil, withItems(certItems(5)...))
	items, err := f.client().EnumerateAll(bg, pkcURI, wsman.MaxElements(2))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"Intel(r) AMT Certificate: Handle: 0", "Intel(r) AMT Certificate: Handle: 1", "Intel(r) AMT Certificate: Handle: 2",
		"Intel(r) AMT Certificate: Handle: 3", "Intel(r) AMT Certificate: Handle: 4",
	}, instanceIDs(t, items))
	assert.Equal(t, 1, countActions(f, wsman.ActionEnumerate))
	assert.Equal(t, 3, countActions(f, wsman.ActionPull), "2+2+1")
	assert.Equal(t, 0, countActions(f, wsman.ActionRelease), "drained: no Release")
	assert.Equal(t, 0, f.enums.Open())
	for _, r := range f.requests() {
		if r.Action == wsman.ActionPull {
			assert.Equal(t, 2, r.MaxElements())
			assert.NotEmpty(t, r.EnumerationContext())
		}
	}
}

func TestEnumerateDefaultMaxElementsAndEmpty(t *testing.T) {
	f := newFake(t, nil, withItems())
	items, err := f.client().EnumerateAll(bg, pkcURI)
	require.NoError(t, err)
	assert.Empty(t, items)
	assert.Equal(t, 999, f.last().MaxElements())
}

func TestEnumerateSameContext(t *testing.T) {
	f := newFake(t, nil, withItems(certItems(4)...))
	f.enums.SameContext = true
	items, err := f.client().EnumerateAll(bg, pkcURI, wsman.MaxElements(1))
	require.NoError(t, err)
	assert.Len(t, items, 4)
	var ctxs []string
	for _, r := range f.requests() {
		if r.Action == wsman.ActionPull {
			ctxs = append(ctxs, r.EnumerationContext())
		}
	}
	require.Len(t, ctxs, 4)
	for _, c := range ctxs {
		assert.Equal(t, ctxs[0], c)
	}
}

func TestEnumerateEarlyStopReleases(t *testing.T) {
	f := newFake(t, nil, withItems(certItems(5)...))
	c := f.client()
	n := 0
	for it, err := range c.Enumerate(bg, pkcURI, wsman.MaxElements(2)) {
		require.NoError(t, err)
		require.NotNil(t, it.Object)
		n++
		if n == 3 { // in the middle of the second page
			break
		}
	}
	assert.Equal(t, 3, n)
	assert.Equal(t, 1, countActions(f, wsman.ActionRelease))
	assert.Equal(t, 1, f.enums.Released())
	assert.Equal(t, 0, f.enums.Open())
	rel := f.last()
	assert.Equal(t, wsman.ActionRelease, rel.Action)
	assert.Equal(t, pkcURI, rel.ResourceURI)
}

func TestEnumerateStopOnLastPageNoRelease(t *testing.T) {
	f := newFake(t, nil, withItems(certItems(2)...))
	for range f.client().Enumerate(bg, pkcURI) {
		break // first item of the only page, which carried EndOfSequence
	}
	assert.Equal(t, 0, countActions(f, wsman.ActionRelease))
	assert.Equal(t, 0, f.enums.Open())
}

func TestEnumerateCancelReleasesDetached(t *testing.T) {
	f := newFake(t, nil, withItems(certItems(6)...))
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var gotErr error
	n := 0
	for _, err := range f.client().Enumerate(ctx, pkcURI, wsman.MaxElements(2)) {
		if err != nil {
			gotErr = err
			break
		}
		n++
		if n == 2 {
			cancel() // the caller's context ends between pages
		}
	}
	require.ErrorIs(t, gotErr, context.Canceled)
	assert.Equal(t, 2, n)
	assert.Equal(t, 1, f.enums.Released(), "released under a detached context")
	assert.Equal(t, 0, f.enums.Open())
}

func TestEnumerateMaxPulls(t *testing.T) {
	f := newFake(t, nil, withItems(certItems(5)...))
	items, err := f.client().EnumerateAll(bg, pkcURI, wsman.MaxElements(1), wsman.MaxPulls(2))
	require.ErrorIs(t, err, wsman.ErrTooManyPulls)
	assert.Len(t, items, 2)
	assert.Equal(t, 1, f.enums.Released())
	assert.Equal(t, 0, f.enums.Open())
}

func TestEnumeratePullFault(t *testing.T) {
	f := newFake(t, nil, withItems(certItems(5)...))
	c := f.client()
	page, err := c.OpenEnumeration(bg, pkcURI)
	require.NoError(t, err)
	require.True(t, f.enums.Release(page.Context)) // the server forgets it
	_, err = c.Pull(bg, pkcURI, page.Context)
	require.ErrorIs(t, err, wsman.ErrInvalidEnumerationContext)
	require.Error(t, c.Release(bg, pkcURI, page.Context))
}

func TestEnumerateOptimized(t *testing.T) {
	f := newFake(t, nil, withItems(certItems(3)...))
	c := f.client()
	items, err := c.EnumerateAll(bg, pkcURI, wsman.OptimizeEnumeration(), wsman.MaxElements(2))
	require.NoError(t, err)
	assert.Len(t, items, 3)
	reqs := f.requests()
	require.Len(t, reqs, 2, "Enumerate with 2 items, one Pull")
	assert.True(t, reqs[0].OptimizeEnumeration())
	assert.Equal(t, 2, reqs[0].MaxElements())

	f2 := newFake(t, nil, withItems(certItems(2)...))
	items, err = f2.client().EnumerateAll(bg, pkcURI, wsman.OptimizeEnumeration())
	require.NoError(t, err)
	assert.Len(t, items, 2)
	assert.Len(t, f2.requests(), 1, "everything came with the EnumerateResponse")
}

// modes: the fake answers with EPRs or object+EPR pairs as asked.
func TestEnumerationModes(t *testing.T) {
	certs := certItems(3)
	eprOf := func(i int) wsman.EPR {
		return wsman.EPR{ResourceURI: pkcURI, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", wsman.Fields(certs[i])["InstanceID"][0])}}
	}
	var enums wsmantest.Enumerations
	var mode wsman.EnumerationMode
	srv := httptest.NewServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		if r.Action == wsman.ActionEnumerate {
			mode = r.EnumerationMode()
		}
		var items []*etree.Element
		for i := range certs {
			switch mode {
			case wsman.EnumerateEPRs:
				e := etree.NewElement("a:EndpointReference")
				e.CreateAttr("xmlns:a", wsman.NSAddressing)
				eprOf(i).AppendTo(e)
				items = append(items, e)
			case wsman.EnumerateObjectsAndEPRs:
				it := etree.NewElement("w:Item")
				it.CreateAttr("xmlns:w", wsman.NSWSMan)
				it.AddChild(certs[i].Copy())
				e := it.CreateElement("a:EndpointReference")
				it.CreateAttr("xmlns:a", wsman.NSAddressing)
				eprOf(i).AppendTo(e)
				items = append(items, it)
			default:
				items = append(items, certs[i])
			}
		}
		rep, _ := enums.Serve(r, items)
		return rep
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL)
	require.NoError(t, err)

	items, err := c.EnumerateAll(bg, pkcURI, wsman.Mode(wsman.EnumerateEPRs))
	require.NoError(t, err)
	require.Len(t, items, 3)
	assert.Equal(t, wsman.EnumerateEPRs, mode)
	for i, it := range items {
		assert.Nil(t, it.Object)
		require.NotNil(t, it.EPR)
		assert.Equal(t, eprOf(i).Selectors, it.EPR.Selectors)
	}

	items, err = c.EnumerateAll(bg, pkcURI, wsman.Mode(wsman.EnumerateObjectsAndEPRs), wsman.MaxElements(2))
	require.NoError(t, err)
	require.Len(t, items, 3)
	assert.Equal(t, wsman.EnumerateObjectsAndEPRs, mode)
	for i, it := range items {
		require.NotNil(t, it.Object)
		require.NotNil(t, it.EPR)
		assert.Equal(t, wsman.Fields(certs[i])["InstanceID"], wsman.Fields(it.Object)["InstanceID"])
		assert.Equal(t, eprOf(i).Selectors, it.EPR.Selectors)
	}

	items, err = c.EnumerateAll(bg, pkcURI)
	require.NoError(t, err)
	assert.Equal(t, wsman.EnumerateObjects, mode)
	require.Len(t, items, 3)
	assert.Nil(t, items[0].EPR)
}

func TestEnumerateErrorOnOpen(t *testing.T) {
	f := newFake(t, nil)
	f.enums.MaxOpen = 1
	_, err := f.enums.Start(nil) // the pool is now full
	require.NoError(t, err)
	var got error
	for _, err := range f.client().Enumerate(bg, pkcURI) {
		got = err
	}
	require.ErrorIs(t, got, wsman.ErrInternalError)
}
