// Package ctxwait holds the one pause every retry loop in amtkit takes: wait for
// a duration or until the context ends, whichever comes first.
package ctxwait

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx ends; it returns ctx.Err() in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
