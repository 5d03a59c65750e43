package provisioning

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// order returns the list front to back, checking the back links on the way.
func (cl *connList) order(t *testing.T) []*trackedConn {
	var out []*trackedConn
	var prev *trackedConn
	for tc := cl.head; tc != nil; tc = tc.next {
		assert.Same(t, prev, tc.prev)
		assert.True(t, tc.listed)
		out = append(out, tc)
		prev = tc
	}
	assert.Same(t, prev, cl.tail)
	assert.Len(t, out, cl.n)
	return out
}

func TestConnListKeepsAcceptOrder(t *testing.T) {
	a, b, c, d := &trackedConn{}, &trackedConn{}, &trackedConn{}, &trackedConn{}
	var cl connList
	assert.Empty(t, cl.order(t))
	for _, tc := range []*trackedConn{a, b, c} {
		cl.pushBack(tc)
	}
	assert.Equal(t, []*trackedConn{a, b, c}, cl.order(t))

	cl.remove(b) // a connection that finished in the middle
	assert.Equal(t, []*trackedConn{a, c}, cl.order(t))
	assert.False(t, b.listed)
	cl.remove(b) // removing twice (evicted, then untracked) changes nothing
	assert.Equal(t, []*trackedConn{a, c}, cl.order(t))

	cl.pushBack(d)
	assert.Same(t, a, cl.head, "the oldest is evicted first")
	cl.remove(cl.head)
	assert.Equal(t, []*trackedConn{c, d}, cl.order(t))
	cl.remove(d)
	cl.remove(c)
	assert.Empty(t, cl.order(t))
	assert.Nil(t, cl.head)
	assert.Nil(t, cl.tail)
}
