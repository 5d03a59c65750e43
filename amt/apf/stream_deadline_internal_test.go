package apf

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A context's callback that runs late — after its call ended, while a later
// call runs under a live context — changes no deadline: context.AfterFunc's
// stop does not wait for a callback already started, and such a callback
// used to cut the next write (ending the session).
func TestStreamDeadlineCallbackOfAnEndedCallChangesNothing(t *testing.T) {
	st := &StreamTransport{}
	var set []time.Time
	record := func(tm time.Time) error { set = append(set, tm); return nil }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	end := st.deadlineFrom(ctx, &st.wgen, record)
	mine := st.wgen
	end()
	next := st.deadlineFrom(context.Background(), &st.wgen, record) // the next call, no deadline
	defer next()

	st.expire(&st.wgen, mine, record) // the first call's callback, late
	assert.Equal(t, []time.Time{{}, {}}, set, "only the two calls' own deadlines (none) were set")

	// While its call runs, the callback does interrupt it.
	st.expire(&st.wgen, st.wgen, record)
	assert.Equal(t, aLongTimeAgo, set[len(set)-1])
}
