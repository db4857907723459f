package pending

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

func received(ch <-chan struct{}, within time.Duration) bool {
	select {
	case <-ch:
		return true
	default:
	}
	select {
	case <-ch:
		return true
	case <-time.After(within):
		return false
	}
}

func TestMemoryNotifier(t *testing.T) {
	m := NewMemoryNotifier()
	a1, cancelA1 := m.Subscribe("a")
	a2, cancelA2 := m.Subscribe("a")
	b, cancelB := m.Subscribe("b")
	defer cancelB()
	require.Equal(t, 3, m.subscribers())

	require.NoError(t, m.Publish(context.Background(), "a"))
	require.NoError(t, m.Publish(context.Background(), "a")) // coalesces, never blocks
	assert.True(t, received(a1, 0))
	assert.True(t, received(a2, 0))
	assert.False(t, received(a1, 10*time.Millisecond), "two wake-ups coalesced into one")
	assert.False(t, received(b, 10*time.Millisecond))

	cancelA1()
	cancelA1() // idempotent
	require.NoError(t, m.Publish(context.Background(), "a"))
	assert.False(t, received(a1, 10*time.Millisecond))
	assert.True(t, received(a2, 0))
	cancelA2()
	assert.Equal(t, 1, m.subscribers())
	require.NoError(t, m.Publish(context.Background(), "nobody"))

	m.wakeAll()
	assert.True(t, received(b, 0))
}

func newPGNotifier(t *testing.T, url string) *PostgresNotifier {
	t.Helper()
	n, err := NewPostgresNotifier(t.Context(), url, nil)
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
	_, err := NewPostgresNotifier(t.Context(), "postgres://user:s3cret@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
	_, err = NewPostgresNotifier(t.Context(), "postgres://user:s3cret@[::1/x", nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}

// A restart in the middle: one Store+Engine creates, a new Store+Engine on
// the same database completes and answers the poll.
func TestRestartInTheMiddle(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		c := newClock()
		s1 := storetest.OpenURL(t, url, false)
		e1 := New(s1, nil, c.Now, Options{Issuer: issuer})
		r, code, err := e1.Create(t.Context(), NewRequest{Kind: KindPersonToken, Requester: agentA1,
			Requirement: RequirementInteraction, Capabilities: []string{CapabilityClarification}})
		require.NoError(t, err)
		require202(t, e1, poll(t, e1, r.ID), r.ID, 2)
		require.NoError(t, s1.Close())

		s2 := storetest.OpenURL(t, url, false)
		e2 := New(s2, nil, c.Now, Options{Issuer: issuer})
		c.Advance(3 * time.Second)
		_, err = e2.ConsumeCode(t.Context(), r.ID, strings.ToLower(code))
		require.NoError(t, err)
		require.NoError(t, e2.Ask(t.Context(), r.ID, "Why?", nil, 0))
		c.Advance(3 * time.Second)
		body := require202(t, e2, poll(t, e2, r.ID), r.ID, 2)
		assert.Equal(t, "interacting", body["status"])
		assert.Equal(t, "Why?", body["clarification"])
		require202(t, e2, post(t, e2, r.ID, `{"action":"clarification_response","clarification_response":"because"}`), r.ID, 2)
		require.NoError(t, e2.Complete(t.Context(), r.ID, http.StatusOK, map[string]any{"token": "pt"}))
		c.Advance(3 * time.Second)
		resp := poll(t, e2, r.ID)
		assert.Equal(t, http.StatusOK, resp.Status)
		assert.JSONEq(t, `{"token":"pt"}`, string(resp.Body))
		requireGone(t, poll(t, e2, r.ID))
	})
}

// Two replicas on one PostgreSQL database: a long-poll on B wakes within
// about 100 ms when A completes the request, and the terminal answer is
// delivered exactly once across both.
func TestTwoReplicas(t *testing.T) {
	url := storetest.NewPostgresURL(t)
	storetest.OpenURL(t, url, true) // migrate
	c := newClock()
	sA, sB := storetest.OpenURL(t, url, false), storetest.OpenURL(t, url, false)
	nA, nB := newPGNotifier(t, url), newPGNotifier(t, url)
	eA := New(sA, nA, c.Now, Options{Issuer: issuer})
	eB := New(sB, nB, c.Now, Options{Issuer: issuer})

	r, _, err := eA.Create(t.Context(), NewRequest{Kind: KindAuthToken, Requester: agentA1, Requirement: RequirementApproval})
	require.NoError(t, err)

	type result struct {
		resp Response
		at   time.Time
	}
	got := make(chan result, 1)
	go func() {
		resp, err := eB.Poll(context.Background(), r.ID, agentA1, 2*time.Second)
		assert.NoError(t, err)
		got <- result{resp, time.Now()}
	}()
	waitForLongPoll(t, eA, r.ID)
	time.Sleep(50 * time.Millisecond) // B is now asleep on its notifier
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
	r2, _, err := eB.Create(t.Context(), NewRequest{Kind: KindAuthToken, Requester: agentA1, Requirement: RequirementApproval})
	require.NoError(t, err)
	var wg sync.WaitGroup
	statuses := make(chan int, 2)
	for _, e := range []*Engine{eA, eB} {
		wg.Go(func() {
			resp, err := e.Poll(context.Background(), r2.ID, agentA1, 2*time.Second)
			assert.NoError(t, err)
			statuses <- resp.Status
		})
	}
	waitForLongPoll(t, eA, r2.ID)
	time.Sleep(50 * time.Millisecond)
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
