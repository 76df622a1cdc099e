package testbed

import (
	"context"
	"testing"
	"time"
)

// WaitFor polls cond every 250 ms until it reports true, and fails the test
// naming what it waited for, with cond's last error, when ctx ends first.
func WaitFor(ctx context.Context, t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	for ctx.Err() == nil {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error %v)", what, last)
}
