package pending_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestClaimHoldsTheRequestAsShown (PS-177, P§updated-request): a
// decision's transaction claims the request as the person was shown it
// (Digest): an updated_request since makes the claim
// ErrChanged, an ended request ErrClosed, and a claim that fails writes
// nothing. On SQLite and PostgreSQL.
func TestClaimHoldsTheRequestAsShown(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		hook := func(_ context.Context, _ *pending.Request, body map[string]any) (json.RawMessage, error) {
			return json.RawMessage(`{"resource_token":` + mustJSON(body["resource_token"]) + `}`), nil
		}
		e, _ := newEngine(t, s, func(o *pending.Options) { o.OnUpdatedRequest = hook })
		ctx := ctxOf(t)
		r, _ := create(t, e, pending.RequirementApproval, func(n *pending.NewRequest) { n.Kind = aauth.PendingAuthToken })
		shown := r.Digest()
		require.NoError(t, s.InTx(ctx, func(tx *store.Store) error { return e.WithStore(tx).Claim(ctx, r.ID, shown) }))

		// The agent swaps the request: the page's digest no longer claims it.
		require202(t, e, post(t, e, r.ID, `{"action":"updated_request","resource_token":"rt2","presented_token":"pt"}`), r.ID, 5)
		after, err := e.Get(ctx, r.ID)
		require.NoError(t, err)
		assert.NotEqual(t, shown, after.Digest())
		assert.ErrorIs(t, e.Claim(ctx, r.ID, shown), pending.ErrChanged)
		again, _ := e.Get(ctx, r.ID)
		assert.Equal(t, after.Version, again.Version, "a refused claim writes nothing")
		require.NoError(t, e.Claim(ctx, r.ID, after.Digest()))

		// Ended: ErrClosed, whatever the digest.
		require.NoError(t, e.Fail(ctx, r.ID, http.StatusForbidden, aauth.ErrDenied, "no"))
		assert.ErrorIs(t, e.Claim(ctx, r.ID, after.Digest()), pending.ErrClosed)
	})
}

// Digest covers kind and payload, each delimited: moving bytes from one
// to the next changes it.
func TestDigestDelimitsItsParts(t *testing.T) {
	a := pending.Request{Kind: "ab", Payload: json.RawMessage(`"c"`)}
	b := pending.Request{Kind: "a", Payload: json.RawMessage(`b"c"`)}
	c := a
	assert.NotEqual(t, a.Digest(), b.Digest())
	assert.Equal(t, a.Digest(), c.Digest())
	assert.Len(t, a.Digest(), 22)
}
