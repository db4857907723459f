package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// sendAs signs and sends a POST of body to path with Content-Type ct, the
// header covered by the signature as usual (so only the media type is at
// fault), at the PS's time.
func (w *world) sendAs(t *testing.T, s *conformance.Signer, path, ct, body string) result {
	t.Helper()
	req := conformance.NewRequest(http.MethodPost, w.ps.URL(path), []byte(body))
	req.Header.Set("Content-Type", ct)
	if _, err := s.Sign(req, []byte(body), conformance.WithCreatedOffset(w.clock.Offset())); err != nil {
		t.Fatal(err)
	}
	return w.do(t, req)
}

// TestJSONMediaTypeOnly: PS-049. Every endpoint that reads a JSON
// body (the agent's E3, E4, permission, mission proposal and mission URL,
// interaction, audit and pending-URL POSTs, and the servers' revocation
// endpoint) refuses a Content-Type other than application/json with 400
// invalid_request and writes nothing: text/plain and form encoding, the
// header covered by a valid signature. application/json with a parameter
// (charset=utf-8) is read like application/json: each body below then
// gets the endpoint's own answer, which shows it was interpreted.
func TestJSONMediaTypeOnly(t *testing.T) {
	t.Parallel()
	w, _, _ := authWorld(t)
	exp := w.clock.Now().Add(time.Hour).Unix()
	agent, ap := w.agent.Signer(), apSigner(w.ap)
	for _, tc := range []struct {
		path   string
		signer *conformance.Signer
		body   string
		status int
		code   string // "" for a success
	}{
		{"/person", agent, `{"resource":"https://rs.test","prompt":"none"}`, http.StatusForbidden, aauth.ErrUserUnreachable},
		{"/token", agent, `{"resource_token":"x","presented_token":"y"}`, http.StatusBadRequest, aauth.ErrInvalidResourceToken},
		{"/permission", agent, `{"action":"SendEmail"}`, http.StatusForbidden, aauth.ErrUserUnreachable},
		{"/mission", agent, `{"description":"# Plan a trip"}`, http.StatusForbidden, aauth.ErrUserUnreachable},
		{"/mission/" + randomS256(), agent, `{"action":"update","description":"x"}`, http.StatusNotFound, aauth.ErrMissionNotFound},
		{"/interaction", agent, `{"type":"question","question":"?"}`, http.StatusForbidden, aauth.ErrUserUnreachable},
		{"/audit", agent, `{"mission_s256":"` + randomS256() + `","action":"WebSearch"}`, http.StatusNotFound, aauth.ErrMissionNotFound},
		{"/pending/no-such-request", agent, `{}`, http.StatusNotFound, aauth.ErrNotFound},
		{"/revoke", ap, authBody(t, map[string]any{"jti": "media-type-test", "exp": exp}), http.StatusOK, ""},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "application/jsonx", "application/problem+json"} {
				before := w.ps.TableCounts(t)
				r := w.sendAs(t, tc.signer, tc.path, ct, tc.body)
				if r.header.Get(aauth.HeaderSignatureError) != "" {
					t.Fatalf("%s: the signature was refused: %v", ct, r.header)
				}
				expectProblem(t, r, http.StatusBadRequest, aauth.ErrInvalidRequest)
				writesNothing(t, w.ps, before)
			}
			for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON;charset=UTF-8", "application/json"} {
				r := w.sendAs(t, tc.signer, tc.path, ct, tc.body)
				if tc.code == "" {
					if r.status != tc.status {
						t.Fatalf("%s: %d %s, want %d", ct, r.status, r.raw, tc.status)
					}
					continue
				}
				expectProblem(t, r, tc.status, tc.code)
			}
		})
	}
}
