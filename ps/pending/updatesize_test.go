package pending_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestUpdateKeepsMaxBytes: Limits.MaxBytes bounds a request for its whole
// life, not only at Create: an Update that would store more (a payload
// grown by an AS's question, say; review finding 11) is Create's 413
// invalid_request and writes nothing; one at the bound is stored. On both
// databases.
func TestUpdateKeepsMaxBytes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e, _ := newEngine(t, s, func(o *pending.Options) { o.Limits.MaxBytes = 2048 })
		ctx := ctxOf(t)
		r, _ := create(t, e, pending.RequirementApproval)
		payload := func(extra int) json.RawMessage {
			// What Create counts besides the payload stays as it was.
			rest := len(r.Kind) + len(r.Stage) + len(r.Requester.Scheme) + len(r.Requester.Issuer) +
				len(r.Requester.Subject) + len(r.PersonID) + len(r.Callback) + len(strings.Join(r.Capabilities, ""))
			return json.RawMessage(`"` + strings.Repeat("q", 2048-rest-2+extra) + `"`)
		}
		_, err := e.Update(ctx, r.ID, func(x *pending.Request) error { x.Payload = payload(1); x.Stage = "growing"; return nil }) // as long as "consent"
		p, ok := aauth.AsProblem(err)
		require.True(t, ok, "want a problem, got %v", err)
		assert.Equal(t, http.StatusRequestEntityTooLarge, p.Status)
		assert.Equal(t, aauth.ErrInvalidRequest, p.Code)
		got, err := e.Get(ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, r.Stage, got.Stage, "a refused update changed the stage")
		assert.JSONEq(t, string(r.Payload), string(got.Payload), "a refused update changed the payload")

		_, err = e.Update(ctx, r.ID, func(x *pending.Request) error { x.Payload = payload(0); return nil })
		require.NoError(t, err, "an update at the bound")
	})
}
