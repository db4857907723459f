package pgnotify

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

const issuer = "https://ps.example"

var agentA1 = pending.Requester{Scheme: "jwt", Issuer: "https://ap.example", Subject: "aauth:a1@ap.example"}

func received(ch <-chan struct{}, within time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(within):
		return false
	}
}

// clock is a fixed engine clock: these tests measure real wake-up times,
// the engine's own notion of time does not move.
type clock struct{ t time.Time }

func newClock() *clock          { return &clock{t: time.Unix(1_800_000_000, 0).UTC()} }
func (c *clock) Now() time.Time { return c.t }

func poll(t *testing.T, e *pending.Engine, id string) pending.Response {
	t.Helper()
	resp, err := e.Poll(t.Context(), id, agentA1, 0)
	require.NoError(t, err)
	return resp
}

func requireGone(t *testing.T, resp pending.Response) {
	t.Helper()
	require.Equal(t, http.StatusGone, resp.Status, "body %s", resp.Body)
	assert.JSONEq(t, `{"error":"invalid_request","status":410,"title":"Gone","detail":"pending request is no longer available"}`, string(resp.Body))
}

// waitForLongPoll blocks until a long poll of id is recorded: the poller
// has read the request and is waiting for a wake-up.
func waitForLongPoll(t *testing.T, st *store.Store, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		rec, err := st.PendingRequest(context.Background(), id)
		return err == nil && rec.LongPollUntilMS != nil
	}, 2*time.Second, 5*time.Millisecond)
}

func newPGNotifier(t *testing.T, url string) *Notifier {
	t.Helper()
	n, err := New(t.Context(), url, nil)
	require.NoError(t, err)
	t.Cleanup(n.Close)
	return n
}

// Notifications cross processes (two notifiers = two replicas), and the
// listener survives losing its connection.
func TestPostgresNotifier(t *testing.T) {
	url := storetest.NewPostgresURL(t)
	a, b := newPGNotifier(t, url), newPGNotifier(t, url)

	ch, cancel := b.Subscribe("req-1")
	defer cancel()
	other, cancelOther := b.Subscribe("req-2")
	defer cancelOther()
	local, cancelLocal := a.Subscribe("req-1")
	defer cancelLocal()

	require.NoError(t, a.Publish(t.Context(), "req-1"))
	assert.True(t, received(ch, 2*time.Second), "replica B is woken")
	assert.True(t, received(local, 2*time.Second), "replica A's own subscriber is woken")
	assert.False(t, received(other, 50*time.Millisecond), "other ids are not woken")

	// Kill B's listener connection from outside; it reconnects, wakes every
	// local subscriber (notifications may have been lost), and hears again.
	oldPID := b.listenerPID()
	admin, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer admin.Close(context.Background())
	_, err = admin.Exec(t.Context(), "SELECT pg_terminate_backend($1)", int32(oldPID))
	require.NoError(t, err)
	assert.True(t, received(other, 5*time.Second), "woken after the reconnect")
	require.Eventually(t, func() bool { return b.listenerPID() != oldPID }, 5*time.Second, 10*time.Millisecond)
	drain(ch)
	require.NoError(t, a.Publish(t.Context(), "req-1"))
	assert.True(t, received(ch, 2*time.Second), "notifications flow after the reconnect")

	b.Close()
	b.Close() // idempotent
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestPostgresNotifierBadURL(t *testing.T) {
	_, err := New(t.Context(), "postgres://user:s3cret@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
	_, err = New(t.Context(), "postgres://user:s3cret@[::1/x", nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}

// Two replicas on one PostgreSQL database: a long-poll on B wakes within
// about 100 ms when A completes the request, and the terminal answer is
// delivered exactly once across both.
func TestTwoReplicas(t *testing.T) {
	url := storetest.NewMigratedPostgresURL(t)
	c := newClock()
	sA, sB := storetest.OpenURL(t, url, false), storetest.OpenURL(t, url, false)
	nA, nB := newPGNotifier(t, url), newPGNotifier(t, url)
	eA := pending.New(sA, nA, c.Now, pending.Options{Issuer: issuer})
	eB := pending.New(sB, nB, c.Now, pending.Options{Issuer: issuer})

	r, _, err := eA.Create(t.Context(), pending.NewRequest{Kind: aauth.PendingAuthToken, Requester: agentA1, Requirement: pending.RequirementApproval})
	require.NoError(t, err)

	type result struct {
		resp pending.Response
		at   time.Time
	}
	got := make(chan result, 1)
	go func() {
		resp, err := eB.Poll(context.Background(), r.ID, agentA1, 2*time.Second)
		assert.NoError(t, err)
		got <- result{resp, time.Now()}
	}()
	// The mark is written once B has read the request and found nothing
	// new: from then on only a wake-up ends its wait.
	waitForLongPoll(t, sA, r.ID)
	require.NoError(t, eA.Complete(t.Context(), r.ID, http.StatusOK, map[string]any{"token": "at"}))
	completed := time.Now()
	res := <-got
	latency := res.at.Sub(completed)
	t.Logf("cross-replica wake-up latency: %v", latency)
	assert.Less(t, latency, 300*time.Millisecond, "B must be woken, not wait out the 2 s")
	assert.Equal(t, http.StatusOK, res.resp.Status)
	assert.JSONEq(t, `{"token":"at"}`, string(res.resp.Body))
	requireGone(t, poll(t, eA, r.ID))
	requireGone(t, poll(t, eB, r.ID))

	// Two long-polls, one on each replica, race for one result.
	r2, _, err := eB.Create(t.Context(), pending.NewRequest{Kind: aauth.PendingAuthToken, Requester: agentA1, Requirement: pending.RequirementApproval})
	require.NoError(t, err)
	var wg sync.WaitGroup
	statuses := make(chan int, 2)
	for _, e := range []*pending.Engine{eA, eB} {
		wg.Go(func() {
			resp, err := e.Poll(context.Background(), r2.ID, agentA1, 2*time.Second)
			assert.NoError(t, err)
			statuses <- resp.Status
		})
	}
	// Both polls are subscribed (each then reads the request before it
	// sleeps, so none can miss the decision).
	require.Eventually(t, func() bool { return nA.local.Subscribers()+nB.local.Subscribers() == 2 },
		2*time.Second, 5*time.Millisecond)
	start := time.Now()
	require.NoError(t, eB.Fail(t.Context(), r2.ID, http.StatusForbidden, "denied", ""))
	wg.Wait()
	assert.Less(t, time.Since(start), time.Second)
	close(statuses)
	var all []int
	for s := range statuses {
		all = append(all, s)
	}
	assert.ElementsMatch(t, []int{http.StatusForbidden, http.StatusGone}, all)
}
