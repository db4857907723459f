package suite

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// maxExpiryWait bounds how long the suite waits for a mission to reach
// its expires_at (PS-211). The draft lets the PS, or the person at
// approval, set expires_at; a PS whose missions run longer has the check
// "not offered" (a PS under test can be configured for short missions,
// PS-REQUIREMENTS §3 fixtures).
const maxExpiryWait = 3 * time.Minute

// expiredMissionCheck (PS-211, P§mission-approval expires_at,
// P§mission-status-errors): the bound agent proposes a mission the person
// approves, asked to choose the earliest end the PS offers. Once the
// blob's expires_at has passed, with nothing else done to the mission,
// every endpoint deciding on it must answer 403 mission_terminated (with
// termination_reason expired when it gives one): E3 directly, E4 through
// a resource token naming it, permission and audit.
func expiredMissionCheck() Check {
	return boundCheck("PS-211", "a mission past its expires_at is terminated at E3, E4, permission and audit", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
		r, s256, err := t.approvedMission(ctx, b, "a mission that ends soon", "approve the mission proposal of "+b.agent.ID+", choosing the earliest end the PS offers")
		if err != nil {
			return err
		}
		e3, rs, err := t.e3Resource(ctx)
		if err != nil {
			return err
		}
		enc, _ := r.Body["mission"].(string)
		var blob struct {
			ExpiresAt string `json:"expires_at"`
		}
		raw, err := base64.RawURLEncoding.DecodeString(enc)
		if err == nil {
			err = json.Unmarshal(raw, &blob)
		}
		if err != nil {
			return Skip("the mission blob does not decode (PS-182, PS-183): %v", err)
		}
		if blob.ExpiresAt == "" {
			return NotApplicable("the approved mission has no expires_at; run against a PS whose missions end within %s", maxExpiryWait)
		}
		end, err := time.Parse(time.RFC3339, blob.ExpiresAt)
		if err != nil {
			return Failf(MUST, "expires_at %q is not an ISO 8601 time", blob.ExpiresAt)
		}
		if wait := time.Until(end); wait > maxExpiryWait {
			return NotApplicable("the mission ends at %s, %s from now; run against a PS whose missions end within %s", blob.ExpiresAt, wait.Round(time.Second), maxExpiryWait)
		}
		// A person token under the mission, for E4's resource token.
		pt, _ := r.Body["person_tokens"].(map[string]any)
		ptStr, _ := pt[rs].(string)
		if ptStr == "" {
			g, err := t.agentSend(ctx, b.agent, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "mission_s256": s256}), nil)
			if err != nil {
				return err
			}
			ptStr, _ = g.Body["person_token"].(string)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(end) + time.Second):
		}
		var v verdict
		g, err := t.agentSend(ctx, b.agent, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "mission_s256": s256}), nil)
		if err != nil {
			return err
		}
		v.addErr(MUST, prefixed("E3", expiredAnswer(g)))
		if ptStr != "" {
			g, err := t.missionAtE4(ctx, b.agent, ptStr, false)
			var oe *outcomeError
			switch {
			case g == nil && !errors.As(err, &oe):
				return err
			case g == nil:
				// No E4 to ask (not advertised, no mission_s256 in the token).
			case g.Status == http.StatusBadRequest && g.Body["error"] == aauth.ErrExpiredPresentedToken && tokenExp(ptStr) <= time.Now().Unix():
				// The person token, capped at expires_at, has expired too:
				// refusing it first is as right as naming the mission.
			default:
				v.addErr(MUST, prefixed("E4", expiredAnswer(g)))
			}
		}
		for member, body := range map[string]map[string]any{
			"permission_endpoint": {"action": "SendEmail", "mission_s256": s256},
			"audit_endpoint":      {"action": "WebSearch", "mission_s256": s256},
		} {
			ep, err := t.advertised(ctx, member)
			if err != nil || ep == "" {
				continue
			}
			g, err := t.agentSend(ctx, b.agent, http.MethodPost, ep, jsonBody(body), nil)
			if err != nil {
				return err
			}
			v.addErr(MUST, prefixed(member, expiredAnswer(g)))
		}
		return v.err()
	})
}

// expiredAnswer checks 403 mission_terminated, with termination_reason
// expired when present.
func expiredAnswer(r *Response) error {
	if err := ExpectProblem(r, http.StatusForbidden, aauth.ErrMissionTerminated); err != nil {
		return err
	}
	if reason, ok := r.Body["termination_reason"]; ok && reason != "expired" {
		return Failf(MUST, "termination_reason %v, want expired", reason)
	}
	return nil
}
