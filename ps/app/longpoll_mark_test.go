package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestLongPollLeftMidMarkLeavesNoMark: the agent leaves a long poll while
// the PS is still writing its long-poll mark on PostgreSQL (a trigger
// holds the statement and finishes it even when cancelled). pgx gives a
// cancelled statement up at once while the server may still commit it; a
// mark written after the poll gave up would never be ended and would stand
// for the whole wait, turning the slow_down rule off for that request
// . The mark is seen through and then ended. PS-153, PS-154.
func TestLongPollLeftMidMarkLeavesNoMark(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewPostgresURL(t)
	w := newWorld(t, pstest.Options{DatabaseURL: dbURL})
	w.person(t, "alice", false)
	s := w.ask(t, w.agent, "Leaving early?", "interaction")

	db := storetest.OpenURL(t, dbURL, false)
	marking := lateCommit(t, db, "slow_mark", "UPDATE OF long_poll_until_ms ON pending_requests",
		"NEW.long_poll_until_ms IS NOT NULL", "UPDATE pending_requests SET long_poll_until_ms = $1")

	pollCtx, leave := context.WithCancel(ctxT())
	defer leave()
	req := w.agent.NewRequest(http.MethodGet, s.loc, nil)
	req.Header.Set("Prefer", "wait=10")
	if _, err := w.agent.Sign(req, nil, conformance.WithCreatedOffset(w.clock.Offset())); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		res, err := w.env.Client.Do(req.WithContext(pollCtx))
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	awaitCount(t, marking, true, 20*time.Second, "the long poll has not written its mark")
	leave()
	if err := <-done; err == nil {
		t.Fatal("the long poll answered before the agent left")
	}
	awaitCount(t, marking, false, 20*time.Second, "the mark statement still runs after the agent left")
	// The mark's end, if any, follows the statement at once.
	marks := func() int64 {
		n, err := db.CountRows(ctxT(), "pending_requests", "long_poll_until_ms IS NOT NULL")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	awaitCount(t, marks, false, 5*time.Second, "a long-poll mark stands after the agent left, want none")
}
