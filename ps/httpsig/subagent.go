package httpsig

import (
	"context"
	"errors"
	"net/http"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// VerifySubAgentToken verifies a `subagent_token` request parameter for
// parent, the verified signer (PS-REQUIREMENTS §2.2.8, P§sub-agents): the
// agent-token checks of §2.2.1 except that cnf.jwk is not compared with
// the signing key (the parent signs, A-55); then parent_agent must name
// the signer exactly and iss must be the signer's. Failures are 400
// problems with the draft's codes (invalid_, expired_, revoked_subagent_token,
// clock_skew); a transient key-discovery failure stays 503.
func (v *Verifier) VerifySubAgentToken(ctx context.Context, raw string, parent *Agent) (*Agent, error) {
	// iss and parent_agent first, unverified: a sub-agent token naming
	// another provider or parent is refused without contacting anyone.
	if t, err := jose.ParseCompact(raw); err == nil {
		iss, _ := t.ClaimString("iss")
		pa, _ := t.ClaimString("parent_agent")
		if iss != parent.Provider {
			return nil, subAgentProblem(aauth.ErrInvalidSubagentToken, "the subagent_token's iss is not the signing agent's agent provider")
		}
		if pa != parent.ID {
			return nil, subAgentProblem(aauth.ErrInvalidSubagentToken, "the subagent_token's parent_agent is not the agent that signed the request")
		}
	}
	member := httpsfv.NewItem(httpsfv.Token("jwt"))
	member.Params.Add("jwt", raw)
	sub, err := v.verifyAgentToken(ctx, v.cfg.Now(), member, revocationNow)
	if err != nil {
		return nil, subAgentError(err)
	}
	switch {
	case sub.ParentAgent == "":
		return nil, subAgentProblem(aauth.ErrInvalidSubagentToken, "the subagent_token has no parent_agent")
	case sub.ParentAgent != parent.ID:
		return nil, subAgentProblem(aauth.ErrInvalidSubagentToken, "the subagent_token's parent_agent is not the agent that signed the request")
	case sub.Provider != parent.Provider:
		return nil, subAgentProblem(aauth.ErrInvalidSubagentToken, "the subagent_token's iss is not the signing agent's agent provider")
	}
	return sub, nil
}

func subAgentProblem(code, detail string) *aauth.Problem {
	return aauth.NewProblem(http.StatusBadRequest, code, detail)
}

// subAgentError maps an agent-token failure onto the parameter's codes:
// a token carried in the body is not the request's credential, so it
// never answers 401 (P§token-endpoint-error-codes).
func subAgentError(err error) error {
	var se *aauth.SignatureError
	if !errors.As(err, &se) {
		return err // 503 or 500 stay what they are
	}
	var p *aauth.Problem
	switch se.Code {
	case aauth.SigExpiredJWT:
		p = subAgentProblem(aauth.ErrExpiredSubagentToken, "the subagent_token has expired; obtain a fresh one")
	case aauth.SigRevokedJWT:
		p = subAgentProblem(aauth.ErrRevokedSubagentToken, "the subagent_token has been revoked")
	case aauth.SigClockSkew:
		p = subAgentProblem(aauth.ErrClockSkew, "the subagent_token's iat is ahead of the server clock by more than the signature window")
	default:
		p = subAgentProblem(aauth.ErrInvalidSubagentToken, "the subagent_token is not a valid agent token: "+se.Detail)
	}
	// Not p.Cause = err: the renderer would find the SignatureError inside
	// and answer 401.
	return p
}
