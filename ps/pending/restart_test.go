package pending_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// A restart in the middle: one Store+Engine creates, a new Store+Engine on
// the same database completes and answers the poll.
func TestRestartInTheMiddle(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		c := newClock()
		s1 := storetest.OpenURL(t, url, false)
		e1 := pending.New(s1, nil, c.Now, pending.Options{Issuer: issuer})
		r, code, err := e1.Create(t.Context(), pending.NewRequest{Kind: aauth.PendingPersonToken, Requester: agentA1,
			Requirement: pending.RequirementInteraction, Capabilities: []string{aauth.CapabilityClarification}})
		require.NoError(t, err)
		require202(t, e1, poll(t, e1, r.ID), r.ID, 2)
		require.NoError(t, s1.Close())

		s2 := storetest.OpenURL(t, url, false)
		e2 := pending.New(s2, nil, c.Now, pending.Options{Issuer: issuer})
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
