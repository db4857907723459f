package suite

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// subAgentMoreFlow (PS §3.11, beyond the sub-agent flow): the parent's
// grant answers its sub-agent at once (PS-143), and each way a
// subagent_token can fail at E4 gets its code (PS-140).
func subAgentMoreFlow(ctx context.Context, t *Target, rec recorder) error {
	e4, err := t.need(ctx, "auth_token_endpoint")
	if err != nil {
		return err
	}
	b, err := t.bound(ctx)
	if err != nil {
		return err
	}
	// The parent's consent to the test resource and scope comes from the
	// three-party flow.
	const consented = "PS-103 a valid resource token with consent gives 200 {auth_token, expires_in}"
	if s := t.scenarioFor(ctx, "three-party", threePartyFlow); s.got[consented] != nil {
		return Skip("the parent has no grant: the three-party flow did not end with an auth token")
	} else if _, ok := s.got[consented]; !ok {
		return Skip("the parent has no grant: the three-party flow did not run to its end")
	}
	a := b.agent
	sub, s, err := t.subAgentToken(ctx, a)
	if err != nil {
		return err
	}
	spec, err := conformance.TokenFor(s, sub.Key, conformance.ResourceAPIScope)
	if err != nil {
		return err
	}
	mintRT := func() (string, error) { return t.Resource.MintResourceToken(spec) }
	send := func(subToken string) (*Response, error) {
		rt, err := mintRT()
		if err != nil {
			return nil, err
		}
		return t.agentSend(ctx, a, http.MethodPost, e4, jsonBody(map[string]any{"resource_token": rt, "presented_token": s, "subagent_token": subToken,
			"capabilities": []string{"interaction"}}), nil)
	}
	r, err := send(sub.Token)
	if err != nil {
		return err
	}
	if at, _ := r.Body["auth_token"].(string); r.Status != http.StatusOK || at == "" {
		rec("PS-143 the parent's grant answers its sub-agent's request at once", Failf(MUST, "the parent consented to %s at %s, yet the sub-agent got %s",
			conformance.ResourceAPIScope, t.Resource.Issuer(), r))
	} else {
		rec("PS-143 the parent's grant answers its sub-agent's request at once", nil)
	}

	// PS-140: the same sub-agent key and identifier, each token broken in
	// one way.
	host := apHost(t.AP)
	local := strings.TrimPrefix(a.ID[:strings.LastIndex(a.ID, "@")], "aauth:")
	mintSub := func(ap *conformance.AgentProvider, spec conformance.TokenSpec) (string, error) {
		spec.Agent = sub.Key
		if spec.Sub == "" {
			spec.Sub = sub.ID
		}
		tok, err := ap.MintAgentToken(spec)
		return tok, err
	}
	type subCase struct {
		what string
		tok  func() (string, error)
		code string
	}
	cases := []subCase{
		{"expired", func() (string, error) {
			return mintSub(t.AP, conformance.TokenSpec{ParentAgent: a.ID, IssuedAt: time.Now().Add(-2 * time.Hour), Lifetime: time.Hour})
		}, aauth.ErrExpiredSubagentToken},
		{"without parent_agent", func() (string, error) { return mintSub(t.AP, conformance.TokenSpec{}) }, aauth.ErrInvalidSubagentToken},
		{"with another agent as parent_agent", func() (string, error) {
			return mintSub(t.AP, conformance.TokenSpec{ParentAgent: "aauth:someone-else@" + host})
		}, aauth.ErrInvalidSubagentToken},
		{"with the parent's identifier in another case", func() (string, error) {
			return mintSub(t.AP, conformance.TokenSpec{ParentAgent: "aauth:" + strings.ToUpper(local) + "@" + host})
		}, aauth.ErrInvalidSubagentToken},
	}
	if in := t.Intermediary; in != nil {
		cases = append(cases, subCase{"issued by another agent provider", func() (string, error) {
			return mintSub(in.AP, conformance.TokenSpec{Sub: "aauth:" + local + "+s9@" + in.AP.Host(), ParentAgent: a.ID})
		}, aauth.ErrInvalidSubagentToken})
	}
	v := verdict{}
	for _, c := range cases {
		tok, err := c.tok()
		if err != nil {
			return err
		}
		r, err := send(tok)
		if err != nil {
			return err
		}
		v.addErr(MUST, prefixed("a subagent_token "+c.what, ExpectProblem(r, http.StatusBadRequest, c.code)))
	}
	// Revoked by its provider: a token of its own, so the sub-agent's
	// other tokens stay good.
	tok, err := mintSub(t.AP, conformance.TokenSpec{ParentAgent: a.ID})
	if err != nil {
		return err
	}
	_, c, err := conformance.DecodeJWT(tok)
	if err != nil {
		return err
	}
	jti, _ := c["jti"].(string)
	var na *outcomeError
	if err := t.revoke(ctx, t.AP.Issuer(), jti, time.Unix(tokenExp(tok), 0)); err != nil && !errors.As(err, &na) {
		return err
	} else if err == nil {
		r, err := send(tok)
		if err != nil {
			return err
		}
		v.addErr(MUST, prefixed("a subagent_token its provider revoked", ExpectProblem(r, http.StatusBadRequest, aauth.ErrRevokedSubagentToken)))
	}
	return rec("PS-140 a subagent_token expired, revoked, without or with another parent_agent, or from another provider gets its error", v.err())
}

var subAgentMoreChecks = func() []Check {
	s := stepsOf("sub-agent-more", subAgentMoreFlow)
	return []Check{
		s("PS-143", "the parent's grant answers its sub-agent's request at once", MUST),
		s("PS-140", "a subagent_token expired, revoked, without or with another parent_agent, or from another provider gets its error", MUST),
	}
}
