package pending_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestEngine runs the engine suite on SQLite and PostgreSQL, each subtest
// on a new database.
func TestEngine(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store)
	}{
		{"UniqueLocations", testUniqueLocations},
		{"Interaction202", testInteraction202},
		{"Approval202AndPolls", testApproval202AndPolls},
		{"NoRequirement202", testNoRequirement202},
		{"NotFoundIsIdentical", testNotFoundIsIdentical},
		{"TerminalDeliveredOnce", testTerminalDeliveredOnce},
		{"CompleteVariants", testCompleteVariants},
		{"Answer", testAnswer},
		{"FailCodes", testFailCodes},
		{"Lifetime", testLifetime},
		{"OwnDeadline", testOwnDeadline},
		{"SlowDown", testSlowDown},
		{"LongPollTimesOut", testLongPollTimesOut},
		{"LongPollWakesOnChange", testLongPollWakesOnChange},
		{"LongPollAnswersNewsAtOnce", testLongPollAnswersNewsAtOnce},
		{"LongPollCappedAndBoundedByLifetime", testLongPollCapped},
		{"RespondWait", testRespondWait},
		{"CodeConsumption", testCodeConsumption},
		{"CodeAttemptsExhausted", testCodeAttemptsExhausted},
		{"CodeAfterExpiry", testCodeAfterExpiry},
		{"CodeOutOfBand", testCodeOutOfBand},
		{"CodeStoredOnlyAsHash", testCodeStoredOnlyAsHash},
		{"Clarification", testClarification},
		{"ExtensionMembers", testExtensionMembers},
		{"ClarificationCapability", testClarificationCapability},
		{"ClarificationRoundLimit", testClarificationRoundLimit},
		{"ClarificationTimeout", testClarificationTimeout},
		{"PostActions", testPostActions},
		{"UpdatedRequest", testUpdatedRequest},
		{"Delete", testDelete},
		{"Update", testUpdate},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ForPersonAndRequester", testForPersonAndRequester},
		{"ExpireDueAndPurge", testExpireDueAndPurge},
		{"CreateValidation", testCreateValidation},
		{"Limits", testLimits},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, tc.fn)
		})
	}
}

// PS-147: 100 Locations, distinct, ≥ 128 bits, on the issuer's origin.
func testUniqueLocations(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s, func(o *pending.Options) { o.Limits.PerAgent, o.Limits.PerProvider = -1, -1 })
	seen := map[string]bool{}
	for range 100 {
		r, _ := create(t, e, pending.RequirementApproval)
		loc := e.Respond(r).Header.Get("Location")
		require.True(t, strings.HasPrefix(loc, issuer+"/pending/"), loc)
		id := strings.TrimPrefix(loc, issuer+"/pending/")
		require.Equal(t, r.ID, id)
		b, err := base64.RawURLEncoding.DecodeString(id)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(b)*8, 128)
		require.False(t, seen[id])
		seen[id] = true
	}
}

// PS-146, PS-159, PS-160: the interaction 202.
func testInteraction202(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	r, code := create(t, e, pending.RequirementInteraction)
	require.Regexp(t, pending.CodeFormat, code)
	require.Equal(t, code, r.Code())

	resp := e.Respond(r)
	body := require202(t, e, resp, r.ID, 2)
	assert.Equal(t, map[string]any{"status": "pending"}, body)
	it := requirement(t, resp)
	require.NotNil(t, it)
	assert.Equal(t, httpsfv.Token("interaction"), it.Value)
	assert.Equal(t, issuer+"/interact/"+r.ID, param(t, it, "url"))
	assert.Equal(t, code, param(t, it, "code"))
	assert.Equal(t, []string{"url", "code"}, it.Params.Names())
	assert.Equal(t, fmt.Sprintf(`requirement=interaction;url="%s/interact/%s";code="%s"`, issuer, r.ID, code),
		resp.Header.Get("AAuth-Requirement"))

	// Later polls: the same header set, code included, until the person
	// uses the code (PS-150, PS-159).
	got, err := e.Get(ctxOf(t), r.ID)
	require.NoError(t, err)
	assert.Equal(t, code, got.Code())
	p := poll(t, e, r.ID)
	require202(t, e, p, r.ID, 2)
	assert.Equal(t, resp.Header.Get("AAuth-Requirement"), p.Header.Get("AAuth-Requirement"))

	// Once used, the code is gone from storage and from the 202s.
	_, err = e.ConsumeCode(ctxOf(t), r.ID, code)
	require.NoError(t, err)
	got, err = e.Get(ctxOf(t), r.ID)
	require.NoError(t, err)
	assert.Empty(t, got.Code())
}

// approval advises 5 s; the requirement stays on every poll.
func testApprovalAndPolls(t *testing.T, s *store.Store, q pending.Requirement, want string, retry int) {
	e, c := newEngine(t, s)
	r, code := create(t, e, q)
	assert.Empty(t, code)
	resp := e.Respond(r)
	require202(t, e, resp, r.ID, retry)
	assert.Equal(t, want, resp.Header.Get("AAuth-Requirement"))
	for range 3 {
		c.Advance(time.Duration(retry) * time.Second)
		p := poll(t, e, r.ID)
		require202(t, e, p, r.ID, retry)
		assert.Equal(t, want, p.Header.Get("AAuth-Requirement"))
		assert.Equal(t, `{"status":"pending"}`, string(p.Body))
	}
}

func testApproval202AndPolls(t *testing.T, s *store.Store) {
	testApprovalAndPolls(t, s, pending.RequirementApproval, "requirement=approval", 5)
}

func testNoRequirement202(t *testing.T, s *store.Store) {
	testApprovalAndPolls(t, s, pending.RequirementNone, "", 5)
}

// A-08, PS-149, A-58: unknown id, another agent, the same agent under
// another scheme: one identical 404.
func testNotFoundIsIdentical(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	r, _ := create(t, e, pending.RequirementApproval)
	ctx := ctxOf(t)
	unknown, err := e.Poll(ctx, "AAAAAAAAAAAAAAAAAAAAAA", agentA1, 0)
	require.NoError(t, err)
	requireProblem(t, unknown, http.StatusNotFound, "not_found")

	others := []pending.Requester{
		agentA3,
		{Scheme: "jwt", Issuer: "https://other-ap.example", Subject: agentA1.Subject},
		{Scheme: "jwks_uri", Issuer: agentA1.Issuer, Subject: agentA1.Subject},
		{},
	}
	for _, who := range others {
		for _, call := range []func() (pending.Response, error){
			func() (pending.Response, error) { return e.Poll(ctx, r.ID, who, 0) },
			func() (pending.Response, error) { return e.Poll(ctx, r.ID, who, time.Second) },
			func() (pending.Response, error) { return e.Post(ctx, r.ID, who, []byte(`{"action":"cancel"}`)) },
			func() (pending.Response, error) { return e.Delete(ctx, r.ID, who) },
		} {
			got, err := call()
			require.NoError(t, err)
			require.True(t, reflect.DeepEqual(unknown, got), "%+v vs %+v", unknown, got)
		}
	}
	for _, id := range []string{"", strings.Repeat("x", 500), "../etc", "AAAAAAAAAAAAAAAAAAAAA\x00", "AAAAAAAAAAAAAAAAAAAAA\xff", r.ID + "="} {
		got, err := e.Poll(ctx, id, agentA1, 0)
		require.NoError(t, err)
		require.True(t, reflect.DeepEqual(unknown, got))
	}
	// None of that touched the request; the owner still gets a 202.
	require202(t, e, poll(t, e, r.ID), r.ID, 5)
}

// PS-151, PS-152: 200 once, then 410 for GET, POST and DELETE.
func testTerminalDeliveredOnce(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	r, _ := create(t, e, pending.RequirementApproval)
	body := map[string]any{"token": "eyJ…", "expires_in": 3600}
	require.NoError(t, e.Complete(ctxOf(t), r.ID, http.StatusOK, body))
	require.ErrorIs(t, e.Complete(ctxOf(t), r.ID, http.StatusOK, body), pending.ErrClosed)

	resp := poll(t, e, r.ID)
	require.Equal(t, http.StatusOK, resp.Status)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.JSONEq(t, `{"token":"eyJ…","expires_in":3600}`, string(resp.Body))

	requireGone(t, poll(t, e, r.ID))
	requireGone(t, poll(t, e, r.ID))
	requireGone(t, post(t, e, r.ID, `{"action":"clarification_response","clarification_response":"x"}`))
	del, err := e.Delete(ctxOf(t), r.ID, agentA1)
	require.NoError(t, err)
	requireGone(t, del)
	// Exact body of the 410, in the renderer's problem shape.
	assert.JSONEq(t, `{"error":"invalid_request","status":410,"title":"Gone","detail":"pending request is no longer available"}`,
		string(poll(t, e, r.ID).Body))

	got, err := e.Get(ctxOf(t), r.ID)
	require.NoError(t, err)
	assert.Equal(t, pending.StateCompleted, got.State)
	assert.True(t, got.ResultDelivered)
	assert.Equal(t, http.StatusOK, got.ResultStatus)

	// A terminal answer that a POST is the first to see is delivered to it.
	r2, _ := create(t, e, pending.RequirementApproval)
	require.NoError(t, e.Fail(ctxOf(t), r2.ID, http.StatusForbidden, aauth.ErrDenied, "The user declined the request."))
	requireProblem(t, post(t, e, r2.ID, `{"action":"cancel"}`), http.StatusForbidden, "denied")
	requireGone(t, poll(t, e, r2.ID))
}

func testCompleteVariants(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	ctx := ctxOf(t)
	// Empty body (the revocation 200): no Content-Type.
	r, _ := create(t, e, pending.RequirementNone, func(n *pending.NewRequest) { n.Kind = aauth.PendingRevocation })
	require.NoError(t, e.Complete(ctx, r.ID, http.StatusOK, nil))
	resp := poll(t, e, r.ID)
	assert.Equal(t, http.StatusOK, resp.Status)
	assert.Empty(t, resp.Body)
	assert.Empty(t, resp.Header.Get("Content-Type"))

	// Raw JSON passes through byte for byte.
	r, _ = create(t, e, pending.RequirementNone)
	raw := json.RawMessage(`{"b":1,  "a":[2]}`)
	require.NoError(t, e.Complete(ctx, r.ID, http.StatusOK, raw))
	assert.Equal(t, string(raw), string(poll(t, e, r.ID).Body))

	// An error status stored by Complete (a relayed AS error) is problem+json.
	r, _ = create(t, e, pending.RequirementNone)
	require.NoError(t, e.Complete(ctx, r.ID, http.StatusBadGateway,
		map[string]any{"error": "as_unreachable", "detail": "the AS did not answer"}))
	got, _ := e.Get(ctx, r.ID)
	assert.Equal(t, pending.StateFailed, got.State)
	requireProblem(t, poll(t, e, r.ID), http.StatusBadGateway, "as_unreachable")

	r, _ = create(t, e, pending.RequirementNone)
	require.NoError(t, e.Complete(ctx, r.ID, http.StatusForbidden, map[string]any{"error": "denied"}))
	got, _ = e.Get(ctx, r.ID)
	assert.Equal(t, pending.StateDenied, got.State)

	for _, st := range []int{0, 100, 202, 302, 404, 600} {
		assert.Error(t, e.Complete(ctx, r.ID, st, nil), "status %d", st)
	}
	r, _ = create(t, e, pending.RequirementNone)
	assert.Error(t, e.Complete(ctx, r.ID, http.StatusOK, json.RawMessage(`{"a":`)))
	assert.Error(t, e.Complete(ctx, r.ID, http.StatusOK, func() {}))
	assert.ErrorIs(t, e.Complete(ctx, "nope", http.StatusOK, nil), pending.ErrNotFound)
}

// Answer ends a request with a decision's outcome: a protocol error is the
// agent's answer, any other error writes nothing, success is 200.
func testAnswer(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	ctx := ctxOf(t)
	r, _ := create(t, e, pending.RequirementNone)
	require.NoError(t, e.Answer(ctx, r.ID, map[string]any{"ignored": true},
		aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "no")))
	got, _ := e.Get(ctx, r.ID)
	assert.Equal(t, pending.StateDenied, got.State)
	requireProblem(t, poll(t, e, r.ID), http.StatusForbidden, "denied")

	r, _ = create(t, e, pending.RequirementNone)
	boom := errors.New("database down")
	assert.ErrorIs(t, e.Answer(ctx, r.ID, nil, boom), boom)
	got, _ = e.Get(ctx, r.ID)
	assert.Equal(t, pending.StatePending, got.State, "a failed decision leaves the request open")

	require.NoError(t, e.Answer(ctx, r.ID, map[string]any{"token": "t"}, nil))
	resp := poll(t, e, r.ID)
	assert.Equal(t, http.StatusOK, resp.Status)
	assert.JSONEq(t, `{"token":"t"}`, string(resp.Body))
}

// Polling error codes: denied, abandoned, revoked,
// mission_terminated (PS-158), expired.
func testFailCodes(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	ctx := ctxOf(t)
	for _, tc := range []struct {
		status int
		code   string
		state  pending.State
		detail string
	}{
		{403, aauth.ErrDenied, pending.StateDenied, "The user declined the request."},
		{403, aauth.ErrAbandoned, pending.StateAbandoned, ""},
		{403, aauth.ErrRevoked, pending.StateFailed, "agent token revoked"},
		{403, aauth.ErrMissionTerminated, pending.StateFailed, ""},
		{408, aauth.ErrExpired, pending.StateExpired, ""},
		{500, aauth.ErrServerError, pending.StateFailed, ""},
	} {
		r, _ := create(t, e, pending.RequirementApproval)
		require.NoError(t, e.Fail(ctx, r.ID, tc.status, tc.code, tc.detail))
		got, _ := e.Get(ctx, r.ID)
		assert.Equal(t, tc.state, got.State, tc.code)
		m := requireProblem(t, poll(t, e, r.ID), tc.status, tc.code)
		if tc.detail != "" {
			assert.Equal(t, tc.detail, m["detail"])
		} else {
			assert.NotContains(t, m, "detail")
		}
		requireGone(t, poll(t, e, r.ID))
		assert.ErrorIs(t, e.Fail(ctx, r.ID, 403, aauth.ErrDenied, ""), pending.ErrClosed)
	}
	r, _ := create(t, e, pending.RequirementApproval)
	assert.Error(t, e.Fail(ctx, r.ID, 200, "x", ""))
	assert.Error(t, e.Fail(ctx, r.ID, 403, "", ""))
}

// PS-155: past the lifetime, 408 expired and then 410.
func testLifetime(t *testing.T, s *store.Store) {
	e, c := newEngine(t, s)
	r, _ := create(t, e, pending.RequirementApproval)
	assert.Equal(t, r.CreatedAt.Add(10*time.Minute), r.ExpiresAt)
	c.Advance(10*time.Minute - time.Second)
	require202(t, e, poll(t, e, r.ID), r.ID, 5)
	c.Advance(time.Second)
	requireProblem(t, poll(t, e, r.ID), http.StatusRequestTimeout, "expired")
	requireGone(t, poll(t, e, r.ID))
	got, _ := e.Get(ctxOf(t), r.ID)
	assert.Equal(t, pending.StateExpired, got.State)

	// Lifetime override; an expired request also refuses POST and DELETE.
	r, _ = create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Lifetime = 5 * time.Second })
	c.Advance(5 * time.Second)
	del, err := e.Delete(ctxOf(t), r.ID, agentA1)
	require.NoError(t, err)
	requireProblem(t, del, http.StatusRequestTimeout, "expired")
	requireGone(t, post(t, e, r.ID, `{"action":"cancel"}`))
	assert.ErrorIs(t, e.Complete(ctxOf(t), r.ID, 200, nil), pending.ErrClosed)

	// A decision that arrives after the lifetime is too late: the expiry is
	// recorded and the poll gets 408, not the late result.
	for _, late := range []func(id string) error{
		func(id string) error { return e.Complete(ctxOf(t), id, 200, map[string]any{"token": "t"}) },
		func(id string) error { return e.Fail(ctxOf(t), id, 403, aauth.ErrDenied, "") },
		func(id string) error {
			_, err := e.Update(ctxOf(t), id, func(x *pending.Request) error { x.Stage = "late"; return nil })
			return err
		},
	} {
		r, _ = create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Lifetime = time.Second })
		c.Advance(time.Second)
		assert.ErrorIs(t, late(r.ID), pending.ErrExpired)
		got, _ := e.Get(ctxOf(t), r.ID)
		assert.Equal(t, pending.StateExpired, got.State)
		requireProblem(t, poll(t, e, r.ID), http.StatusRequestTimeout, "expired")
	}
}

// PS-155 (issue 10, a request held by a mission's suspension): Until is
// the request's own deadline, past the engine's lifetime when later; it
// is capped at MaxUntil, and one not in the future is refused.
func testOwnDeadline(t *testing.T, s *store.Store) {
	e, c := newEngine(t, s)
	until := c.Now().Add(16 * time.Minute)
	r, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Until = until })
	assert.Equal(t, until, r.ExpiresAt)
	c.Advance(11 * time.Minute) // past the engine's 10 min
	require202(t, e, poll(t, e, r.ID), r.ID, 5)
	c.Advance(5 * time.Minute)
	requireProblem(t, poll(t, e, r.ID), http.StatusRequestTimeout, "expired")

	r, _ = create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Until = c.Now().Add(48 * time.Hour) })
	assert.Equal(t, r.CreatedAt.Add(pending.MaxUntil), r.ExpiresAt)
	_, _, err := e.Create(ctxOf(t), pending.NewRequest{Kind: "test", Requester: agentA1, Requirement: pending.RequirementApproval, Until: c.Now()})
	assert.Error(t, err)
}

// PS-153, A-45: slow_down.
func testSlowDown(t *testing.T, s *store.Store) {
	e, c := newEngine(t, s)
	r, _ := create(t, e, pending.RequirementInteraction) // advised 2 s
	require202(t, e, poll(t, e, r.ID), r.ID, 2)          // the first poll is never too soon
	c.Advance(200 * time.Millisecond)
	slow := poll(t, e, r.ID)
	requireProblem(t, slow, http.StatusTooManyRequests, "slow_down")
	assert.Equal(t, "7", slow.Header.Get("Retry-After"), "advised + 5")
	// Exactly 1 s sooner than advised is tolerated.
	c.Advance(time.Second)
	require202(t, e, poll(t, e, r.ID), r.ID, 2)
	c.Advance(999 * time.Millisecond)
	requireProblem(t, poll(t, e, r.ID), http.StatusTooManyRequests, "slow_down")
	c.Advance(2 * time.Second)
	require202(t, e, poll(t, e, r.ID), r.ID, 2)

	// Approval: advised 5, so Retry-After 10 on a 429; 4 s is fine.
	a, _ := create(t, e, pending.RequirementApproval)
	require202(t, e, poll(t, e, a.ID), a.ID, 5)
	c.Advance(3 * time.Second)
	assert.Equal(t, "10", poll(t, e, a.ID).Header.Get("Retry-After"))
	c.Advance(4 * time.Second)
	require202(t, e, poll(t, e, a.ID), a.ID, 5)

	// A poll with Prefer: wait is a long-poll: never slow_down.
	c.Advance(100 * time.Millisecond)
	resp2, err := e.Poll(ctxOf(t), a.ID, agentA1, time.Second)
	require.NoError(t, err)
	require202(t, e, resp2, a.ID, 5)

	// While a long-poll is outstanding, a quick plain poll is not penalised.
	b, _ := create(t, e, pending.RequirementApproval)
	require202(t, e, poll(t, e, b.ID), b.ID, 5)
	done := make(chan pending.Response)
	go func() {
		resp, err := e.Poll(context.Background(), b.ID, agentA1, 2*time.Second)
		assert.NoError(t, err)
		done <- resp
	}()
	waitForLongPoll(t, e, b.ID)
	require202(t, e, poll(t, e, b.ID), b.ID, 5)
	require.NoError(t, e.Complete(ctxOf(t), b.ID, 200, map[string]any{"ok": true}))
	<-done
}

// waitForLongPoll blocks until a long-poll of id is recorded.
func waitForLongPoll(t *testing.T, e *pending.Engine, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		l, err := e.LoadRecord(context.Background(), id)
		return err == nil && l != nil && l.LongPollUntilMS != nil
	}, 2*time.Second, 5*time.Millisecond)
}

// longPollDuring runs a long poll of id by agentA1 and, once the poll is
// recorded as waiting, change; it returns the poll's answer.
func longPollDuring(t *testing.T, e *pending.Engine, id string, wait time.Duration, change func()) pending.Response {
	t.Helper()
	done := make(chan pending.Response, 1)
	go func() {
		resp, err := e.Poll(context.Background(), id, agentA1, wait)
		assert.NoError(t, err)
		done <- resp
	}()
	waitForLongPoll(t, e, id)
	change()
	return <-done
}

// Issue 15 item 7: a long poll answers at once whenever the request
// differs from what the agent was last shown, not only on changes made
// while it waits. A question asked between two polls reaches the agent on
// the next long poll within milliseconds, not after the 30 s wait (the
// bounding context fails the test long before that).
func testLongPollAnswersNewsAtOnce(t *testing.T, s *store.Store) {
	e, c := newEngine(t, s)
	ctx := ctxOf(t)
	r, _ := create(t, e, pending.RequirementApproval)
	c.Advance(5 * time.Second)
	require202(t, e, poll(t, e, r.ID), r.ID, 5) // the agent is shown: pending, approval
	require.NoError(t, e.Ask(ctx, r.ID, "Which calendar?", nil, 0))

	bounded, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := e.Poll(bounded, r.ID, agentA1, 30*time.Second)
	require.NoError(t, err, "the long poll held back a question the agent had not seen")
	assert.Less(t, time.Since(start), 1500*time.Millisecond, "answered at once, not at the end of its wait (bounded at 2 s above)")
	body := require202(t, e, resp, r.ID, 2)
	assert.Equal(t, "Which calendar?", body["clarification"])
	assert.Equal(t, "wait=30", resp.Header.Get("Preference-Applied"))

	// Told once: with nothing new, the next long poll waits.
	quick, cancelQuick := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelQuick()
	_, err = e.Poll(quick, r.ID, agentA1, 30*time.Second)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// The same for a change made before the agent's first poll: the person
	// used the code after the 202 of the initial request.
	ir, code := create(t, e, pending.RequirementInteraction)
	_, err = e.ConsumeCode(ctx, ir.ID, code)
	require.NoError(t, err)
	bounded2, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	resp, err = e.Poll(bounded2, ir.ID, agentA1, 30*time.Second)
	require.NoError(t, err, "the long poll held back the interacting status")
	assert.Equal(t, "interacting", require202(t, e, resp, ir.ID, 2)["status"])

	// A change the agent cannot see (the stage) is no news.
	require.NoError(t, func() error {
		_, err := e.Update(ctx, ir.ID, func(x *pending.Request) error { x.Stage = "approval"; return nil })
		return err
	}())
	quick2, cancelQuick2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelQuick2()
	_, err = e.Poll(quick2, ir.ID, agentA1, 30*time.Second)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// PS-154: Prefer: wait=1 on an unchanged request holds about 1 s, then 202
// with Preference-Applied.
func testLongPollTimesOut(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	r, _ := create(t, e, pending.RequirementApproval)
	start := time.Now()
	resp, err := e.Poll(ctxOf(t), r.ID, agentA1, time.Second)
	require.NoError(t, err)
	elapsed := time.Since(start)
	require202(t, e, resp, r.ID, 5)
	assert.Equal(t, "wait=1", resp.Header.Get("Preference-Applied"))
	assert.GreaterOrEqual(t, elapsed, 950*time.Millisecond)
	assert.Less(t, elapsed, 4*time.Second, "ended by its one-second wait (margin for -race on a busy machine)")
	// The long-poll mark is cleared afterwards.
	l, err := e.LoadRecord(ctxOf(t), r.ID)
	require.NoError(t, err)
	assert.Nil(t, l.LongPollUntilMS)
	assert.NotNil(t, l.LastPollMS)
}

// A long-poll returns as soon as the request changes: a completion gives
// the result, a status change the new 202.
func testLongPollWakesOnChange(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	ctx := ctxOf(t)
	r, _ := create(t, e, pending.RequirementInteraction)
	// Each change is made once the poll is recorded as waiting, which it is
	// only after it read the request and found nothing new: from then on
	// only a wake-up can end it well before its wait (the bound leaves room
	// for a loaded machine under -race).
	const wait = 10 * time.Second
	start := time.Now()
	resp := longPollDuring(t, e, r.ID, wait, func() {
		assert.NoError(t, e.MarkInteracting(context.Background(), r.ID))
	})
	assert.Less(t, time.Since(start), wait/2)
	body := require202(t, e, resp, r.ID, 2)
	assert.Equal(t, "interacting", body["status"])
	assert.Equal(t, "wait=10", resp.Header.Get("Preference-Applied"))

	start = time.Now()
	resp = longPollDuring(t, e, r.ID, wait, func() {
		assert.NoError(t, e.Complete(context.Background(), r.ID, http.StatusOK, map[string]any{"token": "t"}))
	})
	assert.Less(t, time.Since(start), wait/2)
	assert.Equal(t, http.StatusOK, resp.Status)
	assert.JSONEq(t, `{"token":"t"}`, string(resp.Body))
	assert.Empty(t, resp.Header.Get("Preference-Applied"))

	// A poll that gives up (client gone) returns the context error.
	r2, _ := create(t, e, pending.RequirementApproval)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := e.Poll(cctx, r2.ID, agentA1, 2*time.Second)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, pending.NotifierOf(e).(*pending.MemoryNotifier).Subscribers(), "subscriptions are released")
}

// MaxWait caps Prefer: wait; the wait also ends at the request's expiry.
func testLongPollCapped(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s, func(o *pending.Options) { o.MaxWait = time.Second })
	r, _ := create(t, e, pending.RequirementApproval)
	start := time.Now()
	resp, err := e.Poll(ctxOf(t), r.ID, agentA1, 30*time.Second)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 10*time.Second, "the 30 s asked for were capped at 1 s")
	assert.Equal(t, "wait=1", resp.Header.Get("Preference-Applied"))

	// Expired while waiting (by the engine clock): 408 without a long wait.
	e2, c2 := newEngine(t, s)
	r2, _ := create(t, e2, pending.RequirementApproval, func(n *pending.NewRequest) { n.Lifetime = time.Second })
	c2.Advance(time.Second)
	start = time.Now()
	resp, err = e2.Poll(ctxOf(t), r2.ID, agentA1, 30*time.Second)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second)
	requireProblem(t, resp, http.StatusRequestTimeout, "expired")
}

// The originating endpoint honouring Prefer: wait keeps the code on its
// 202 and delivers a quick result itself.
func testRespondWait(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	r, code := create(t, e, pending.RequirementInteraction)
	resp, err := e.RespondWait(ctxOf(t), r, 0)
	require.NoError(t, err)
	assert.Equal(t, e.Respond(r), resp)

	resp, err = e.RespondWait(ctxOf(t), r, 200*time.Millisecond)
	require.NoError(t, err)
	require202(t, e, resp, r.ID, 2)
	assert.Equal(t, code, param(t, requirement(t, resp), "code"))
	assert.Equal(t, "wait=1", resp.Header.Get("Preference-Applied"))

	a, _ := create(t, e, pending.RequirementApproval)
	done := make(chan pending.Response, 1)
	start := time.Now()
	go func() {
		resp, err := e.RespondWait(context.Background(), a, 10*time.Second)
		assert.NoError(t, err)
		done <- resp
	}()
	waitForLongPoll(t, e, a.ID)
	require.NoError(t, e.Complete(ctxOf(t), a.ID, 200, map[string]any{"ok": true}))
	assert.Equal(t, http.StatusOK, (<-done).Status)
	assert.Less(t, time.Since(start), 5*time.Second, "woken by the completion, not at the end of the wait")
	requireGone(t, poll(t, e, a.ID))
}

func fixedCode(e *pending.Engine, code string) {
	pending.SetCodeSource(e, func() string { return code })
}

// PS-161, PS-162, PS-150: normalization, single use, status interacting.
func testCodeConsumption(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	ctx := ctxOf(t)
	fixedCode(e, "0A1B0-C1D2E")
	for _, entered := range []string{"0A1B0-C1D2E", "0a1b0-c1d2e", "0A1B0C1D2E", "OA1BO-C1D2E", "0AIB0-CLD2E", "oaibo-cld2e"} {
		r, code := create(t, e, pending.RequirementInteraction)
		require.Equal(t, "0A1B0-C1D2E", code)
		got, err := e.ConsumeCode(ctx, r.ID, entered)
		require.NoError(t, err, entered)
		assert.Equal(t, pending.StateInteracting, got.State)
		assert.NotNil(t, got.CodeConsumedAt)
		body := require202(t, e, poll(t, e, r.ID), r.ID, 2)
		assert.Equal(t, "interacting", body["status"])
		// Single use.
		_, err = e.ConsumeCode(ctx, r.ID, entered)
		assert.ErrorIs(t, err, pending.ErrInvalidCode)
		_, err = e.ConsumeCode(ctx, r.ID, "0A1B0-C1D2E")
		assert.ErrorIs(t, err, pending.ErrInvalidCode)
	}
	// Four wrong codes, then the right one, still works.
	r, _ := create(t, e, pending.RequirementInteraction)
	for range 4 {
		_, err := e.ConsumeCode(ctx, r.ID, "ZZZZZ-ZZZZZ")
		assert.ErrorIs(t, err, pending.ErrInvalidCode)
	}
	_, err := e.ConsumeCode(ctx, r.ID, "0a1b0c1d2e")
	require.NoError(t, err)

	// No code, unknown request.
	a, _ := create(t, e, pending.RequirementApproval)
	_, err = e.ConsumeCode(ctx, a.ID, "0A1B0-C1D2E")
	assert.ErrorIs(t, err, pending.ErrInvalidCode)
	_, err = e.ConsumeCode(ctx, "unknown", "0A1B0-C1D2E")
	assert.ErrorIs(t, err, pending.ErrNotFound)
}

// PS-163, A-15: five wrong codes end the request 410 invalid_code; the
// right code fails afterwards.
func testCodeAttemptsExhausted(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	ctx := ctxOf(t)
	r, code := create(t, e, pending.RequirementInteraction)
	for i := range 5 {
		_, err := e.ConsumeCode(ctx, r.ID, "not a code at all "+fmt.Sprint(i))
		assert.ErrorIs(t, err, pending.ErrInvalidCode)
	}
	got, _ := e.Get(ctx, r.ID)
	assert.Equal(t, pending.StateFailed, got.State)
	assert.Equal(t, 5, got.CodeAttempts)
	_, err := e.ConsumeCode(ctx, r.ID, code)
	assert.ErrorIs(t, err, pending.ErrInvalidCode)
	requireProblem(t, poll(t, e, r.ID), http.StatusGone, "invalid_code")
	requireGone(t, poll(t, e, r.ID))
	_, err = e.ConsumeCode(ctx, r.ID, code)
	assert.ErrorIs(t, err, pending.ErrInvalidCode)

	// Concurrent wrong attempts are each counted once; no more than the
	// maximum is ever accepted.
	r2, code2 := create(t, e, pending.RequirementInteraction)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := e.ConsumeCode(context.Background(), r2.ID, "ZZZZZ-ZZZZZ")
			assert.ErrorIs(t, err, pending.ErrInvalidCode)
		})
	}
	wg.Wait()
	got, _ = e.Get(ctx, r2.ID)
	assert.Equal(t, pending.StateFailed, got.State)
	_, err = e.ConsumeCode(ctx, r2.ID, code2)
	assert.ErrorIs(t, err, pending.ErrInvalidCode)
}

// PS-162: a code presented after expiry fails with expired; the poll gets 408.
func testCodeAfterExpiry(t *testing.T, s *store.Store) {
	e, c := newEngine(t, s)
	ctx := ctxOf(t)
	r, code := create(t, e, pending.RequirementInteraction)
	c.Advance(10 * time.Minute)
	_, err := e.ConsumeCode(ctx, r.ID, code)
	assert.ErrorIs(t, err, pending.ErrExpired)
	_, err = e.ConsumeCode(ctx, r.ID, code)
	assert.ErrorIs(t, err, pending.ErrExpired, "still expired once recorded")
	assert.ErrorIs(t, e.MarkInteracting(ctx, r.ID), pending.ErrExpired)
	requireProblem(t, poll(t, e, r.ID), http.StatusRequestTimeout, "expired")

	r2, _ := create(t, e, pending.RequirementInteraction)
	c.Advance(10 * time.Minute)
	assert.ErrorIs(t, e.MarkInteracting(ctx, r2.ID), pending.ErrExpired)
	requireProblem(t, poll(t, e, r2.ID), http.StatusRequestTimeout, "expired")
}

// PS-281: out-of-band completion consumes the code.
func testCodeOutOfBand(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	ctx := ctxOf(t)
	r, code := create(t, e, pending.RequirementInteraction)
	require.NoError(t, e.MarkInteracting(ctx, r.ID))
	require.NoError(t, e.MarkInteracting(ctx, r.ID), "idempotent")
	_, err := e.ConsumeCode(ctx, r.ID, code)
	assert.ErrorIs(t, err, pending.ErrInvalidCode)
	require.NoError(t, e.Complete(ctx, r.ID, 200, map[string]any{"token": "t"}))
	assert.Equal(t, http.StatusOK, poll(t, e, r.ID).Status)
	_, err = e.ConsumeCode(ctx, r.ID, code)
	assert.ErrorIs(t, err, pending.ErrInvalidCode)
	assert.ErrorIs(t, e.MarkInteracting(ctx, r.ID), pending.ErrClosed)

	// ConsumeOutOfBand: the code is used up, the status unchanged.
	r3, code3 := create(t, e, pending.RequirementInteraction)
	require.NoError(t, e.ConsumeOutOfBand(ctx, r3.ID))
	require.NoError(t, e.ConsumeOutOfBand(ctx, r3.ID), "idempotent")
	got, _ := e.Get(ctx, r3.ID)
	assert.Equal(t, pending.StatePending, got.State)
	assert.NotNil(t, got.CodeConsumedAt)
	_, err = e.ConsumeCode(ctx, r3.ID, code3)
	assert.ErrorIs(t, err, pending.ErrInvalidCode)
	require.NoError(t, e.Fail(ctx, r3.ID, 403, aauth.ErrDenied, ""))
	assert.ErrorIs(t, e.ConsumeOutOfBand(ctx, r3.ID), pending.ErrClosed)
	a, _ := create(t, e, pending.RequirementApproval)
	require.NoError(t, e.ConsumeOutOfBand(ctx, a.ID), "no code: nothing to do")
	assert.ErrorIs(t, e.ConsumeOutOfBand(ctx, "nope"), pending.ErrNotFound)

	r2, code2 := create(t, e, pending.RequirementInteraction)
	require.NoError(t, e.Complete(ctx, r2.ID, 200, map[string]any{}))
	_, err = e.ConsumeCode(ctx, r2.ID, code2)
	assert.ErrorIs(t, err, pending.ErrInvalidCode)
}

func testCodeStoredOnlyAsHash(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	r, code := create(t, e, pending.RequirementInteraction)
	// The display form is kept only while the code is unused (PS-150);
	// after use only the hash remains.
	_, err := e.ConsumeCode(ctxOf(t), r.ID, code)
	require.NoError(t, err)
	// Every column of the row, as the store reads it (the record holds
	// each one of them, bookkeeping included).
	rec, err := s.PendingRequest(ctxOf(t), r.ID)
	require.NoError(t, err)
	stored := fmt.Sprintf("%+v %+v %s", *rec, *rec.Request, rec.CodeHash)
	norm, _ := pending.NormalizeCode(code)
	assert.NotContains(t, stored, norm)
	assert.NotContains(t, stored, code)
	l, err := e.LoadRecord(ctxOf(t), r.ID)
	require.NoError(t, err)
	assert.Len(t, l.CodeHash, 32)
}

// PS-174, PS-175: a question, the 202s that carry it, the answer, and the
// return to the previous requirement.
func testClarification(t *testing.T, s *store.Store) {
	e, c := newEngine(t, s)
	ctx := ctxOf(t)
	r, _ := create(t, e, pending.RequirementApproval)
	q := "Why do you need **write** access to my calendar?"
	require.NoError(t, e.Ask(ctx, r.ID, q, []string{"read", "write"}, 120*time.Second))
	require.ErrorIs(t, e.Ask(ctx, r.ID, "again?", nil, 0), pending.ErrQuestionOutstanding)
	c.Advance(20 * time.Second)

	resp := poll(t, e, r.ID)
	body := require202(t, e, resp, r.ID, 2)
	assert.Equal(t, "requirement=clarification", resp.Header.Get("AAuth-Requirement"))
	assert.Equal(t, map[string]any{"status": "pending", "clarification": q, "timeout": float64(100),
		"options": []any{"read", "write"}}, body)

	// The answer.
	answer := "I need to create a meeting invite\nfor the participants you listed."
	c.Advance(2 * time.Second)
	pr := post(t, e, r.ID, `{"action":"clarification_response","clarification_response":`+mustJSON(answer)+`}`)
	body = require202(t, e, pr, r.ID, 5)
	assert.Equal(t, map[string]any{"status": "pending"}, body)
	assert.Equal(t, "requirement=approval", pr.Header.Get("AAuth-Requirement"))
	got, _ := e.Get(ctx, r.ID)
	assert.Nil(t, got.Question)
	assert.Equal(t, 1, got.Rounds)
	require.Len(t, got.Answers, 1)
	assert.Equal(t, q, got.Answers[0].Question)
	assert.Equal(t, answer, got.Answers[0].Answer)
	assert.Equal(t, []string{"read", "write"}, got.Answers[0].Options)
	assert.Equal(t, aauth.ActionClarificationResponse, got.Answers[0].Action)
	assert.Equal(t, c.Now().Add(-22*time.Second), got.Answers[0].AskedAt)
	assert.Equal(t, c.Now(), got.Answers[0].AnsweredAt)

	// Back to approval; a second answer is unsolicited.
	c.Advance(5 * time.Second)
	p := poll(t, e, r.ID)
	require202(t, e, p, r.ID, 5)
	assert.Equal(t, "requirement=approval", p.Header.Get("AAuth-Requirement"))
	requireProblem(t, post(t, e, r.ID, `{"action":"clarification_response","clarification_response":"more"}`),
		http.StatusBadRequest, "invalid_request")

	// Interaction request: while interacting, the clarification 202 says so;
	// the outstanding question without options has no options member.
	ir, _ := create(t, e, pending.RequirementInteraction)
	require.NoError(t, e.MarkInteracting(ctx, ir.ID))
	require.NoError(t, e.Ask(ctx, ir.ID, "Which calendar?", nil, 0))
	b := require202(t, e, poll(t, e, ir.ID), ir.ID, 2)
	assert.Equal(t, map[string]any{"status": "interacting", "clarification": "Which calendar?", "timeout": float64(300)}, b)
	// Bad answers.
	for _, bad := range []string{
		`{"action":"clarification_response"}`,
		`{"action":"clarification_response","clarification_response":42}`,
		`{"action":"clarification_response","clarification_response":""}`,
		`{"action":"clarification_response","clarification_response":"` + strings.Repeat("x", pending.MaxMarkdown+1) + `"}`,
		`{"action":"clarification_response","clarification_response":"nul \u0000 byte"}`,
	} {
		requireProblem(t, post(t, e, ir.ID, bad), http.StatusBadRequest, "invalid_request")
	}
	ok := `{"action":"clarification_response","clarification_response":"` + strings.Repeat("x", pending.MaxMarkdown) + `"}`
	require202(t, e, post(t, e, ir.ID, ok), ir.ID, 2)
	// Timeout reported is bounded by the request's own expiry.
	s2, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Lifetime = 30 * time.Second })
	require.NoError(t, e.Ask(ctx, s2.ID, "q", nil, time.Hour))
	assert.Equal(t, float64(30), jsonBody(t, poll(t, e, s2.ID))["timeout"])

	// Ask validation.
	assert.Error(t, e.Ask(ctx, s2.ID, "", nil, 0))
	assert.Error(t, e.Ask(ctx, s2.ID, strings.Repeat("q", pending.MaxMarkdown+1), nil, 0))
	assert.Error(t, e.Ask(ctx, s2.ID, "q", []string{""}, 0))
	assert.ErrorIs(t, e.Ask(ctx, "nope", "q", nil, 0), pending.ErrNotFound)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// PS-173: only agents that declared clarification are asked.
func testClarificationCapability(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	r, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Capabilities = []string{aauth.CapabilityInteraction} })
	require.ErrorIs(t, e.Ask(ctxOf(t), r.ID, "Why?", nil, 0), pending.ErrNoClarificationCapability)
	resp := poll(t, e, r.ID)
	assert.Equal(t, "requirement=approval", resp.Header.Get("AAuth-Requirement"))
	got, _ := e.Get(ctxOf(t), r.ID)
	assert.Zero(t, got.Rounds)
}

// PS-178, A-38: five rounds; the sixth question ends the request 403 denied.
func testClarificationRoundLimit(t *testing.T, s *store.Store) {
	e, c := newEngine(t, s)
	ctx := ctxOf(t)
	r, _ := create(t, e, pending.RequirementApproval)
	for i := range 5 {
		require.NoError(t, e.Ask(ctx, r.ID, fmt.Sprintf("question %d", i+1), nil, 0))
		c.Advance(3 * time.Second)
		require202(t, e, post(t, e, r.ID, fmt.Sprintf(`{"action":"clarification_response","clarification_response":"answer %d"}`, i+1)), r.ID, 5)
	}
	require.ErrorIs(t, e.Ask(ctx, r.ID, "question 6", nil, 0), pending.ErrClarificationLimit)
	got, _ := e.Get(ctx, r.ID)
	assert.Equal(t, pending.StateDenied, got.State)
	assert.Len(t, got.Answers, 5)
	assert.Equal(t, 5, got.Rounds)
	requireProblem(t, poll(t, e, r.ID), http.StatusForbidden, "denied")
	requireGone(t, poll(t, e, r.ID))
	assert.ErrorIs(t, e.Ask(ctx, r.ID, "question 7", nil, 0), pending.ErrClosed)
}

// PS-179: an unanswered question ends the request 408 at the next poll
// (or at ExpireDue).
func testClarificationTimeout(t *testing.T, s *store.Store) {
	e, c := newEngine(t, s)
	ctx := ctxOf(t)
	r, _ := create(t, e, pending.RequirementApproval)
	require.NoError(t, e.Ask(ctx, r.ID, "Why?", nil, 3*time.Second))
	c.Advance(2 * time.Second)
	require202(t, e, poll(t, e, r.ID), r.ID, 2)
	c.Advance(time.Second)
	// A late answer does not revive it.
	m := requireProblem(t, post(t, e, r.ID, `{"action":"clarification_response","clarification_response":"late"}`),
		http.StatusRequestTimeout, "expired")
	assert.Contains(t, m["detail"], "clarification")
	requireGone(t, poll(t, e, r.ID))
	got, _ := e.Get(ctx, r.ID)
	require.Len(t, got.Answers, 1)
	assert.Equal(t, "timeout", got.Answers[0].Action)

	r2, _ := create(t, e, pending.RequirementApproval)
	require.NoError(t, e.Ask(ctx, r2.ID, "Why?", nil, 3*time.Second))
	c.Advance(3 * time.Second)
	n, err := e.ExpireDue(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	requireProblem(t, poll(t, e, r2.ID), http.StatusRequestTimeout, "expired")
}

// PS-157, A-09: the POST body and action rules.
func testPostActions(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	r, _ := create(t, e, pending.RequirementApproval)
	for _, bad := range []string{
		`{}`, `{"action":"foo"}`, `{"action":42}`, `{"action":null}`, `{"action":"CANCEL"}`,
		``, `not json`, `[]`, `"cancel"`, `{"action":"cancel","action":"cancel"}`, `{"action":"cancel"} {}`,
		// Without action the request is refused, however clear the other
		// members make it (P§agent-response-to-clarification, PS-157).
		`{"clarification_response":"x","resource_token":"y"}`, `{"clarification_response":"x"}`,
		`{"resource_token":"rt2","presented_token":"pt"}`,
		"{\"action\":\"cancel\",\"x\":\"\xff\"}",
	} {
		m := requireProblem(t, post(t, e, r.ID, bad), http.StatusBadRequest, "invalid_request")
		assert.NotEmpty(t, m["detail"], bad)
	}
	// A clarification_response still needs an outstanding question; one
	// without action is refused even then, and leaves it outstanding.
	requireProblem(t, post(t, e, r.ID, `{"action":"clarification_response","clarification_response":"x"}`), http.StatusBadRequest, "invalid_request")
	require.NoError(t, e.Ask(ctxOf(t), r.ID, "Why?", nil, 0))
	requireProblem(t, post(t, e, r.ID, `{"clarification_response":"because"}`), http.StatusBadRequest, "invalid_request")
	if got, _ := e.Get(ctxOf(t), r.ID); got.Question == nil || len(got.Answers) != 0 {
		t.Fatalf("a POST without action changed the request: question %v, answers %v", got.Question, got.Answers)
	}
	require202(t, e, post(t, e, r.ID, `{"action":"clarification_response","clarification_response":"because"}`), r.ID, 5)
	// Unknown members are ignored.
	require.NoError(t, e.Ask(ctxOf(t), r.ID, "Why?", nil, 0))
	require202(t, e, post(t, e, r.ID, `{"action":"clarification_response","clarification_response":"b","x":1}`), r.ID, 5)
	// cancel.
	del := post(t, e, r.ID, `{"action":"cancel"}`)
	assert.Equal(t, http.StatusNoContent, del.Status)
	assert.Empty(t, del.Body)
	requireGone(t, poll(t, e, r.ID))

	// A revocation pending URL takes no POST.
	rv, _ := create(t, e, pending.RequirementNone, func(n *pending.NewRequest) {
		n.Kind = aauth.PendingRevocation
		n.Requester = pending.Requester{Scheme: "jwks_uri", Issuer: "https://ap.example"}
	})
	resp, err := e.Post(ctxOf(t), rv.ID, pending.Requester{Scheme: "jwks_uri", Issuer: "https://ap.example"}, []byte(`{"action":"cancel"}`))
	require.NoError(t, err)
	requireProblem(t, resp, http.StatusBadRequest, "invalid_request")
}

// PS-176, A-12: updated_request (the POST plumbing; the verification of
// the new resource token is the hook's, not tested here).
func testUpdatedRequest(t *testing.T, s *store.Store) {
	var calls int
	hook := func(_ context.Context, r *pending.Request, body map[string]any) (json.RawMessage, error) {
		calls++
		if body["resource_token"] == "bad" {
			return nil, aauth.NewProblem(http.StatusBadRequest, "invalid_resource_token", "different iss")
		}
		if body["resource_token"] == "boom" {
			return nil, errors.New("verifier down")
		}
		return json.RawMessage(`{"resource_token":` + mustJSON(body["resource_token"]) + `}`), nil
	}
	e, _ := newEngine(t, s, func(o *pending.Options) { o.OnUpdatedRequest = hook })
	ctx := ctxOf(t)

	// Not a token request.
	m, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Kind = "mission" })
	requireProblem(t, post(t, e, m.ID, `{"action":"updated_request","resource_token":"a","presented_token":"b"}`),
		http.StatusBadRequest, "invalid_request")

	r, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Kind = aauth.PendingAuthToken })
	require.NoError(t, e.Ask(ctx, r.ID, "Why write?", nil, 0))
	for _, bad := range []string{
		`{"action":"updated_request","resource_token":"rt2"}`,
		`{"action":"updated_request","presented_token":"pt"}`,
		`{"action":"updated_request","resource_token":1,"presented_token":"pt"}`,
		`{"action":"updated_request","resource_token":"rt2","presented_token":"pt","justification":7}`,
	} {
		requireProblem(t, post(t, e, r.ID, bad), http.StatusBadRequest, "invalid_request")
	}
	assert.Zero(t, calls, "the hook only sees well-formed bodies")
	p := requireProblem(t, post(t, e, r.ID, `{"action":"updated_request","resource_token":"bad","presented_token":"pt"}`),
		http.StatusBadRequest, "invalid_resource_token")
	assert.Equal(t, "different iss", p["detail"])
	_, err := e.Post(ctx, r.ID, agentA1, []byte(`{"action":"updated_request","resource_token":"boom","presented_token":"pt"}`))
	assert.ErrorContains(t, err, "verifier down")

	// Without action it is refused and nothing changes (PS-157).
	before := calls
	requireProblem(t, post(t, e, r.ID, `{"resource_token":"rt2","presented_token":"pt"}`), http.StatusBadRequest, "invalid_request")
	assert.Equal(t, before, calls, "a POST without action never reaches the hook")
	// Accepted: the payload is replaced and the outstanding question
	// counts as answered.
	resp := post(t, e, r.ID, `{"action":"updated_request","resource_token":"rt2","presented_token":"pt","justification":"read-only now"}`)
	require202(t, e, resp, r.ID, 5)
	assert.Equal(t, "requirement=approval", resp.Header.Get("AAuth-Requirement"))
	got, _ := e.Get(ctx, r.ID)
	assert.JSONEq(t, `{"resource_token":"rt2"}`, string(got.Payload))
	assert.Nil(t, got.Question)
	require.Len(t, got.Answers, 1)
	assert.Equal(t, aauth.ActionUpdatedRequest, got.Answers[0].Action)
	assert.Equal(t, "read-only now", got.Answers[0].Answer)

	// Without a hook the action is refused.
	e2, _ := newEngine(t, s)
	r2, _ := create(t, e2, pending.RequirementApproval, func(n *pending.NewRequest) { n.Kind = aauth.PendingPersonToken })
	requireProblem(t, post(t, e2, r2.ID, `{"action":"updated_request","resource_token":"a","presented_token":"b"}`),
		http.StatusBadRequest, "invalid_request")
}

// PS-156: DELETE cancels; later requests get 410; the UI sees cancelled.
func testDelete(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	ctx := ctxOf(t)
	r, _ := create(t, e, pending.RequirementInteraction)
	resp, err := e.Delete(ctx, r.ID, agentA1)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, resp.Status)
	assert.Empty(t, resp.Body)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	got, _ := e.Get(ctx, r.ID)
	assert.Equal(t, pending.StateCancelled, got.State)
	assert.True(t, got.ResultDelivered)
	requireGone(t, poll(t, e, r.ID))
	requireGone(t, post(t, e, r.ID, `{"action":"cancel"}`))
	resp, err = e.Delete(ctx, r.ID, agentA1)
	require.NoError(t, err)
	requireGone(t, resp)
	assert.ErrorIs(t, e.Complete(ctx, r.ID, 200, nil), pending.ErrClosed)
	_, err = e.Update(ctx, r.ID, func(r *pending.Request) error { r.Stage = "x"; return nil })
	assert.ErrorIs(t, err, pending.ErrClosed)
}

func testUpdate(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	ctx := ctxOf(t)
	r, _ := create(t, e, pending.RequirementApproval)
	got, err := e.Update(ctx, r.ID, func(x *pending.Request) error {
		x.Stage, x.PersonID = "binding", "person-1"
		x.Payload = json.RawMessage(`{"v":2}`)
		x.Callback = "https://agent.example/cb"
		x.Capabilities = []string{"payment"}
		x.Requirement = pending.RequirementNone
		x.Kind, x.Requester, x.Rounds, x.ResultStatus = "other", agentA3, 9, 200 // ignored
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, r.Version+1, got.Version)
	got, _ = e.Get(ctx, r.ID)
	assert.Equal(t, "binding", got.Stage)
	assert.Equal(t, "person-1", got.PersonID)
	assert.JSONEq(t, `{"v":2}`, string(got.Payload))
	assert.Equal(t, "https://agent.example/cb", got.Callback)
	assert.Equal(t, []string{"payment"}, got.Capabilities)
	assert.Equal(t, pending.RequirementNone, got.Requirement)
	assert.Equal(t, aauth.PendingPersonToken, got.Kind)
	assert.Equal(t, agentA1, got.Requester)
	assert.Zero(t, got.Rounds)
	assert.Equal(t, pending.StatePending, got.State)

	boom := errors.New("boom")
	_, err = e.Update(ctx, r.ID, func(*pending.Request) error { return boom })
	assert.ErrorIs(t, err, boom)
	for _, bad := range []func(*pending.Request){
		func(x *pending.Request) { x.State = pending.StateCompleted },
		func(x *pending.Request) { x.Requirement = pending.RequirementClarification },
		func(x *pending.Request) { x.Requirement = "bogus" },
		func(x *pending.Request) { x.Requirement = pending.RequirementInteraction }, // no code was issued
		func(x *pending.Request) { x.Payload = json.RawMessage(`{`) },
	} {
		_, err = e.Update(ctx, r.ID, func(x *pending.Request) error { bad(x); return nil })
		assert.Error(t, err)
	}
	after, _ := e.Get(ctx, r.ID)
	assert.Equal(t, got.Version, after.Version, "refused updates write nothing")
	_, err = e.Update(ctx, "nope", func(*pending.Request) error { return nil })
	assert.ErrorIs(t, err, pending.ErrNotFound)
}

// Concurrent Update calls (optimistic concurrency) lose no write.
func testConcurrentUpdates(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	r, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Payload = json.RawMessage(`[]`) })
	const workers, each = 8, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				_, err := e.Update(context.Background(), r.ID, func(x *pending.Request) error {
					var list []string
					if err := json.Unmarshal(x.Payload, &list); err != nil {
						return err
					}
					x.Payload, _ = json.Marshal(append(list, fmt.Sprintf("%d-%d", w, i)))
					return nil
				})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	got, err := e.Get(ctxOf(t), r.ID)
	require.NoError(t, err)
	var list []string
	require.NoError(t, json.Unmarshal(got.Payload, &list))
	assert.Len(t, list, workers*each)
	assert.Equal(t, r.Version+workers*each, got.Version)
}

func testForPersonAndRequester(t *testing.T, s *store.Store) {
	e, c := newEngine(t, s)
	ctx := ctxOf(t)
	a, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.PersonID = "p1" })
	c.Advance(time.Second)
	b, _ := create(t, e, pending.RequirementInteraction, func(n *pending.NewRequest) { n.PersonID = "p1"; n.Requester = agentA3 })
	done, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.PersonID = "p1" })
	require.NoError(t, e.Fail(ctx, done.ID, 403, aauth.ErrDenied, ""))
	_, _ = create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.PersonID = "p1"; n.Lifetime = time.Second }) // expires below
	_, _ = create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.PersonID = "p2" })
	c.Advance(time.Second)

	list, err := e.ForPerson(ctx, "p1")
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, a.ID, list[0].ID)
	assert.Equal(t, b.ID, list[1].ID)
	list, err = e.ForPerson(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, list)

	list, err = e.ForRequester(ctx, agentA3)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, b.ID, list[0].ID)
}

func testExpireDueAndPurge(t *testing.T, s *store.Store) {
	e, c := newEngine(t, s)
	ctx := ctxOf(t)
	a, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Lifetime = time.Minute })
	b, _ := create(t, e, pending.RequirementApproval)
	done, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Lifetime = time.Minute })
	require.NoError(t, e.Complete(ctx, done.ID, 200, nil))

	ch, cancel := pending.NotifierOf(e).Subscribe(a.ID)
	defer cancel()
	c.Advance(time.Minute)
	n, err := e.ExpireDue(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	select {
	case <-ch:
	default:
		t.Fatal("ExpireDue did not wake the request's polls")
	}
	got, _ := e.Get(ctx, a.ID)
	assert.Equal(t, pending.StateExpired, got.State)
	got, _ = e.Get(ctx, b.ID)
	assert.Equal(t, pending.StatePending, got.State)
	n, err = e.ExpireDue(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)

	// Kept for Retention past expiry (410), then purged (404).
	requireProblem(t, poll(t, e, a.ID), http.StatusRequestTimeout, "expired")
	c.Advance(24 * time.Hour)
	purged, err := e.Purge(ctx)
	require.NoError(t, err)
	assert.Zero(t, purged)
	requireGone(t, poll(t, e, a.ID))
	c.Advance(time.Second)
	purged, err = e.Purge(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, purged) // a and done; b expires later
	assert.Equal(t, pending.NotFound(), poll(t, e, a.ID))
}

func testCreateValidation(t *testing.T, s *store.Store) {
	e, _ := newEngine(t, s)
	ctx := ctxOf(t)
	ok := pending.NewRequest{Kind: "k", Requester: agentA1}
	for _, bad := range []func(*pending.NewRequest){
		func(n *pending.NewRequest) { n.Kind = "" },
		func(n *pending.NewRequest) { n.Requester = pending.Requester{} },
		func(n *pending.NewRequest) { n.Requester.Subject = "" },
		func(n *pending.NewRequest) { n.Requirement = "bogus" },
		func(n *pending.NewRequest) { n.Requirement = pending.RequirementClarification },
		func(n *pending.NewRequest) { n.Payload = json.RawMessage(`{"a":`) },
		func(n *pending.NewRequest) { n.Payload = json.RawMessage("\"\xff\"") },
		func(n *pending.NewRequest) { n.Stage = "a\x00b" },
		func(n *pending.NewRequest) { n.Requester.Subject = "\xff" },
		func(n *pending.NewRequest) { n.Capabilities = []string{"\x00"} },
	} {
		n := ok
		bad(&n)
		_, _, err := e.Create(ctx, n)
		assert.Error(t, err)
	}
	// Capabilities are de-duplicated; a server requester needs no subject.
	r, code, err := e.Create(ctx, pending.NewRequest{Kind: aauth.PendingRevocation,
		Requester:    pending.Requester{Scheme: "jwks_uri", Issuer: "https://ap.example"},
		Capabilities: []string{"interaction", "interaction", "payment"}})
	require.NoError(t, err)
	assert.Empty(t, code)
	assert.Equal(t, []string{"interaction", "payment"}, r.Capabilities)
	got, _ := e.Get(ctx, r.ID)
	assert.Equal(t, r.Capabilities, got.Capabilities)
	assert.Nil(t, got.Payload)
	_, err = e.Get(ctx, "nope")
	assert.ErrorIs(t, err, pending.ErrNotFound)
}

// Issue 15 item 2: the bounds on what requesters make the PS store. Each
// refusal is 429 rate_limited with a Retry-After (413 for size), is
// logged as a security event without the payload, and stores nothing.
func testLimits(t *testing.T, s *store.Store) {
	var logs bytes.Buffer
	e, c := newEngine(t, s, func(o *pending.Options) {
		o.Limits = pending.Limits{PerAgent: 2, PerProvider: 3, PerClient: 4, FirstContactsPerMinute: 2, MaxBytes: 1024}
		o.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	ctx := ctxOf(t)
	secret := `{"resource_token":"SECRET-PAYLOAD"}`
	newReq := func(sub, addr string) pending.NewRequest {
		n := pending.NewRequest{Kind: aauth.PendingPersonToken, Requirement: pending.RequirementApproval,
			Requester: pending.Requester{Scheme: "jwt", Issuer: "https://ap.example", Subject: sub},
			Payload:   json.RawMessage(secret)}
		if addr != "" {
			n.ClientAddr = netip.MustParseAddr(addr)
		}
		return n
	}
	refused := func(n pending.NewRequest, status int, code string, retry int) {
		t.Helper()
		before, _ := e.ForRequester(ctx, n.Requester)
		_, _, err := e.Create(ctx, n)
		p, ok := aauth.AsProblem(err)
		require.True(t, ok, "want a problem, got %v", err)
		assert.Equal(t, status, p.Status)
		assert.Equal(t, code, p.Code)
		assert.Equal(t, retry, p.RetryAfter)
		after, _ := e.ForRequester(ctx, n.Requester)
		assert.Len(t, after, len(before), "a refused creation stored something")
	}

	// Per agent; Retry-After is when the oldest counted request expires.
	_, _, err := e.Create(ctx, newReq("aauth:a1@ap.example", "192.0.2.1"))
	require.NoError(t, err)
	c.Advance(time.Minute)
	_, _, err = e.Create(ctx, newReq("aauth:a1@ap.example", "192.0.2.1"))
	require.NoError(t, err)
	refused(newReq("aauth:a1@ap.example", "192.0.2.1"), http.StatusTooManyRequests, aauth.ErrRateLimited, 9*60)
	_, _, err = e.Create(ctx, newReq("aauth:a1@ap.example", "192.0.2.1"))
	var qe *pending.QuotaError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, pending.BoundPerAgent, qe.Bound)

	// Per provider: a third agent fills it; the fourth is refused.
	_, _, err = e.Create(ctx, newReq("aauth:a2@ap.example", "192.0.2.2"))
	require.NoError(t, err)
	refused(newReq("aauth:a3@ap.example", "192.0.2.3"), http.StatusTooManyRequests, aauth.ErrRateLimited, 9*60)

	// Per client network, across providers; an IPv6 /64 is one network.
	other := func(host, addr string) pending.NewRequest {
		n := newReq("aauth:x@"+host, addr)
		n.Requester.Issuer = "https://" + host
		return n
	}
	for i, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3", "2001:db8:1:2::4"} {
		_, _, err := e.Create(ctx, other(fmt.Sprintf("p%d.example", i), addr))
		require.NoError(t, err)
	}
	refused(other("p9.example", "2001:db8:1:2:abcd::9"), http.StatusTooManyRequests, aauth.ErrRateLimited, 10*60)
	_, _, err = e.Create(ctx, other("p9.example", "2001:db8:1:3::9")) // another /64
	require.NoError(t, err)
	_, _, err = e.Create(ctx, other("p8.example", "")) // no address: the PS's own request
	require.NoError(t, err)

	// First contacts per provider and minute.
	first := func(sub string) pending.NewRequest {
		n := other("new.example", "")
		n.Requester.Subject, n.FirstContact = sub, true
		return n
	}
	for _, sub := range []string{"aauth:n1@new.example", "aauth:n2@new.example"} {
		_, _, err := e.Create(ctx, first(sub))
		require.NoError(t, err)
	}
	refused(first("aauth:n3@new.example"), http.StatusTooManyRequests, aauth.ErrRateLimited, 60)
	c.Advance(time.Minute)
	_, _, err = e.Create(ctx, first("aauth:n3@new.example"))
	require.NoError(t, err, "the window moved on")

	// Stored bytes per request.
	big := other("big.example", "")
	big.Payload = json.RawMessage(`"` + strings.Repeat("x", 1024) + `"`)
	refused(big, http.StatusRequestEntityTooLarge, aauth.ErrInvalidRequest, 0)

	// Logged as security events, without the payload.
	assert.Equal(t, 6, strings.Count(logs.String(), `"msg":"security: pending request refused"`), logs.String())
	assert.Contains(t, logs.String(), `"bound":"open requests per agent provider"`)
	assert.Contains(t, logs.String(), `"client":"2001:db8:1:2::/64"`)
	assert.NotContains(t, logs.String(), "SECRET-PAYLOAD")

	// A negative limit disables its bound.
	e2, _ := newEngine(t, s, func(o *pending.Options) { o.Limits.PerAgent, o.Limits.PerProvider = -1, -1 })
	for range pending.DefaultMaxPerAgent + 1 {
		_, _, err := e2.Create(ctx, newReq("aauth:many@ap.example", ""))
		require.NoError(t, err)
	}
}

// ProblemResponse renders a problem in the one shape (aauth.Problem.Body):
// extra members, Retry-After and the problem's own header fields.
func TestProblemResponse(t *testing.T) {
	p := aauth.NewProblem(http.StatusTooManyRequests, aauth.ErrRateLimited, "later")
	p.RetryAfter, p.Extra, p.Header = 7, map[string]any{"bound": "per agent"}, http.Header{"Allow": {"GET"}}
	resp := pending.ProblemResponse(p)
	assert.Equal(t, http.StatusTooManyRequests, resp.Status)
	assert.Equal(t, "7", resp.Header.Get("Retry-After"))
	assert.Equal(t, "GET", resp.Header.Get("Allow"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Equal(t, aauth.ProblemContentType, resp.Header.Get("Content-Type"))
	want, err := json.Marshal(p.Body())
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(resp.Body))
	assert.JSONEq(t, `{"error":"rate_limited","status":429,"title":"Too Many Requests","detail":"later","bound":"per agent"}`, string(resp.Body))
}

// Issue 15 item 2: the payload of an ended request that no person holds
// (an unknown agent's binding request) is dropped by the next Purge; its
// pending URL still answers 410. A request a person holds keeps it.
func TestPurgeDropsUnheldPayloads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e, _ := newEngine(t, s)
		ctx := ctxOf(t)
		unheld, _ := create(t, e, pending.RequirementInteraction)
		held, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.PersonID = "p1" })
		open, _ := create(t, e, pending.RequirementInteraction)
		for _, id := range []string{unheld.ID, held.ID} {
			resp, err := e.Delete(ctx, id, agentA1)
			require.NoError(t, err)
			require.Equal(t, http.StatusNoContent, resp.Status)
		}
		n, err := e.Purge(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "rows stay until their retention ends")
		for id, want := range map[string]bool{unheld.ID: false, held.ID: true, open.ID: true} {
			got, err := e.Get(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, want, got.Payload != nil, id)
		}
		requireGone(t, poll(t, e, unheld.ID))
	})
}

// testExtensionMembers: Options.Members adds a caller's extension members
// to the 202 body (Respond, polls, POST answers) while keeping the draft's
// members as the engine wrote them (issue 10: a narrowing's
// mission_decision beside the clarification).
func testExtensionMembers(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	e, _ := newEngine(t, s, func(o *pending.Options) {
		o.Members = func(r *pending.Request) map[string]any {
			if r.Question == nil {
				return nil
			}
			return map[string]any{"x_extension": map[string]any{"id": r.ID}, "clarification": "replaced?", "status": "replaced?"}
		}
	})
	r, _ := create(t, e, pending.RequirementApproval)
	if b := string(e.Respond(r).Body); b != `{"status":"pending"}` {
		t.Fatalf("no extension: body %s", b)
	}
	require.NoError(t, e.Ask(ctx, r.ID, "Which calendar?", nil, 0))
	resp := poll(t, e, r.ID)
	var m map[string]any
	require.NoError(t, json.Unmarshal(resp.Body, &m))
	ext, _ := m["x_extension"].(map[string]any)
	if resp.Status != http.StatusAccepted || m["status"] != "pending" || m["clarification"] != "Which calendar?" || m["timeout"] == nil || ext["id"] != r.ID {
		t.Fatalf("the 202 with the extension: %d %s", resp.Status, resp.Body)
	}
	if b := string(post(t, e, r.ID, `{"action":"clarification_response","clarification_response":"Work."}`).Body); b != `{"status":"pending"}` {
		t.Fatalf("the answered request: body %s", b)
	}
}

// TestDeliverableRefuses: Options.Deliverable is asked inside the write
// that would end a request with a success, through the engine's store (a
// caller's transaction under WithStore). A refusal ends the request with
// the problem and returns a *RefusedError unwrapping to it: outside a
// transaction the refusal stands; inside one the caller's rollback undoes
// it with the caller's own writes, and the caller ends it afterwards
// (Refuse). A *Refusal's reason is stored with the result, not sent.
// Failures are never asked about (A-40 (c): an agent revoked meanwhile).
func TestDeliverableRefuses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxOf(t)
		refuse := &pending.Refusal{Problem: aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the person revoked this agent"),
			Reason: "agent_revoked"}
		var asked []pending.Store
		e, _ := newEngine(t, s, func(o *pending.Options) {
			o.Deliverable = func(_ context.Context, st pending.Store, r *pending.Request) error {
				asked = append(asked, st)
				if r.PersonID == "revoked" {
					return refuse
				}
				return nil
			}
		})
		ok, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.PersonID = "p1" })
		require.NoError(t, e.Complete(ctx, ok.ID, http.StatusOK, map[string]any{"answer": "yes"}))
		assert.Len(t, asked, 1)

		// Outside a transaction: ended with the refusal.
		r, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.PersonID = "revoked" })
		err := e.Complete(ctx, r.ID, http.StatusOK, map[string]any{"answer": "secret"})
		var re *pending.RefusedError
		require.ErrorAs(t, err, &re)
		p, isProblem := aauth.AsProblem(err)
		require.True(t, isProblem)
		assert.Equal(t, aauth.ErrDenied, p.Code)
		got, err := e.Get(ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, pending.StateDenied, got.State)
		assert.Equal(t, "agent_revoked", got.ResultReason)
		assert.NotContains(t, string(got.ResultBody), "secret")
		assert.NotContains(t, string(got.ResultBody), "agent_revoked", "the reason is not sent")
		m := requireProblem(t, poll(t, e, r.ID), http.StatusForbidden, aauth.ErrDenied)
		assert.Equal(t, "the person revoked this agent", m["detail"])

		// Inside a transaction: asked through it; the caller's rollback
		// keeps the request open, and a failure is not asked about.
		tx, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.PersonID = "revoked" })
		asked = nil
		err = s.InTx(ctx, func(txs *store.Store) error {
			return e.WithStore(txs).Answer(ctx, tx.ID, map[string]any{"token": "x"}, nil)
		})
		require.ErrorAs(t, err, &re)
		require.Len(t, asked, 1)
		assert.NotSame(t, s, asked[0], "asked through the transaction's store")
		got, err = e.Get(ctx, tx.ID)
		require.NoError(t, err)
		assert.True(t, got.State.Open(), "rolled back with the caller")
		assert.Equal(t, "agent_revoked", re.Reason)
		require.NoError(t, e.Refuse(ctx, tx.ID, &re.Refusal))
		assert.Len(t, asked, 1, "a failure is not asked about")
		requireProblem(t, poll(t, e, tx.ID), http.StatusForbidden, aauth.ErrDenied)
		got, err = e.Get(ctx, tx.ID)
		require.NoError(t, err)
		assert.Equal(t, "agent_revoked", got.ResultReason)
		assert.Equal(t, pending.StateDenied, got.State)
	})
}
