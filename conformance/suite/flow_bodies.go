package suite

import (
	"context"
	"net/http"
	"strings"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// The request-body checks (PS-048, PS-052 to PS-054) speak as the agent
// the bind flow connected, so the answer is about the body and not about
// an unknown agent: a PS may look at the binding before the body.

// boundCheck is a check run as the connected agent.
func boundCheck(id, name, level string, run func(ctx context.Context, t *Target, b *boundAgent) error, also ...string) Check {
	return Check{ID: id, Name: name, Level: level, Group: GroupFlow, Also: also, Run: func(ctx context.Context, t *Target) error {
		b, err := t.bound(ctx)
		if err != nil {
			return err
		}
		return run(ctx, t, b)
	}}
}

// refusedBodies sends each body to the advertised endpoint member as b's
// agent and expects 400 code for every one.
func (t *Target) refusedBodies(ctx context.Context, b *boundAgent, member, code string, bodies ...string) error {
	ep, err := t.need(ctx, member)
	if err != nil {
		return err
	}
	var v verdict
	for _, body := range bodies {
		r, err := t.agentSend(ctx, b.agent, http.MethodPost, ep, []byte(body), nil)
		if err != nil {
			return err
		}
		if len(body) > 60 {
			body = body[:60] + "…"
		}
		v.addErr(MUST, prefixed(member+" "+body, ExpectProblem(r, http.StatusBadRequest, code)))
	}
	return v.err()
}

func bodyChecks() []Check {
	notJSON := []string{`{"resource":`, `[]`, `"x"`, `42`, `null`}
	return []Check{
		boundCheck("PS-048", "E3: a body that is no JSON object gets 400 invalid_request as problem+json", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
			return t.refusedBodies(ctx, b, "person_token_endpoint", aauth.ErrInvalidRequest, notJSON...)
		}, "PS-054"),
		boundCheck("PS-048", "E4: a body that is no JSON object gets 400 invalid_request as problem+json", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
			return t.refusedBodies(ctx, b, "auth_token_endpoint", aauth.ErrInvalidRequest, notJSON...)
		}, "PS-054"),
		boundCheck("PS-052", "E3: known members of the wrong JSON type get 400 invalid_request", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
			rs := b.pt.str("aud")
			return t.refusedBodies(ctx, b, "person_token_endpoint", aauth.ErrInvalidRequest,
				`{"resource":5}`, `{"resource":["`+rs+`"]}`, `{"resource":"`+rs+`","capabilities":"interaction"}`,
				`{"resource":"`+rs+`","capabilities":[5]}`, `{"resource":"`+rs+`","justification":5}`,
				`{"resource":"`+rs+`","mission_s256":5}`, `{"resource":"`+rs+`","upstream_token":5}`)
		}, "PS-054"),
		boundCheck("PS-052", "E4: known members of the wrong JSON type get 400 invalid_request", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
			return t.refusedBodies(ctx, b, "auth_token_endpoint", aauth.ErrInvalidRequest,
				`{"resource_token":5,"presented_token":"`+b.pt.raw+`"}`, `{"resource_token":{},"presented_token":"`+b.pt.raw+`"}`)
		}, "PS-054"),
		boundCheck("PS-049", "E3: a body typed other than application/json gets 400 invalid_request; a charset parameter is allowed", IMPL, func(ctx context.Context, t *Target, b *boundAgent) error {
			return t.typedBodies(ctx, b)
		}),
		boundCheck("PS-053", "E3: unknown members are ignored", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
			ep, err := t.need(ctx, "person_token_endpoint")
			if err != nil {
				return err
			}
			r, err := t.agentSend(ctx, b.agent, http.MethodPost, ep, jsonBody(map[string]any{"resource": b.pt.str("aud"),
				"x": 1, "cf_extension": map[string]any{"nested": []any{true, nil}}}), nil)
			if err != nil {
				return err
			}
			if s, _ := r.Body["person_token"].(string); r.Status != http.StatusOK || s == "" {
				return Failf(MUST, "a request that succeeds without the unknown members: %s", r)
			}
			return nil
		}),
	}
}

// typedBodies sends a valid person token request under other media types,
// each covered by the signature as the kit always signs Content-Type: the
// refused ones must get 400 invalid_request, the JSON one with a charset
// its token (PS-049).
func (t *Target) typedBodies(ctx context.Context, b *boundAgent) error {
	ep, err := t.need(ctx, "person_token_endpoint")
	if err != nil {
		return err
	}
	body := jsonBody(map[string]any{"resource": b.pt.str("aud")})
	var v verdict
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8"} {
		req, err := newRequest(http.MethodPost, ep, body)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", ct)
		if _, err := b.agent.Sign(req, body); err != nil {
			return err
		}
		r, err := t.Do(ctx, req)
		if err != nil {
			return err
		}
		if strings.HasPrefix(ct, "application/json") {
			if s, _ := r.Body["person_token"].(string); r.Status != http.StatusOK || s == "" {
				v.add(IMPL, "%s: a valid request was not answered with its token: %s", ct, r)
			}
			continue
		}
		v.addErr(IMPL, prefixed(ct, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	return v.err()
}
