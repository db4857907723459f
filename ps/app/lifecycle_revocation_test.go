package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
)

// revocationEvidence is what a mission's exported chain says of its
// revocations: the lifecycle_transition's revocations and
// residual_exposure_until, and the revocation_result records in order.
type revocationEvidence struct {
	Cascade, Residual string
	Results           []revocationResultBody
}

// revocationResultBody is a revocation_result record's body.
type revocationResultBody struct {
	Iss         string `json:"iss"`
	JTI         string `json:"jti"`
	Recipient   string `json:"recipient"`
	Outcome     string `json:"outcome"`
	Confirmed   bool   `json:"confirmed"`
	Attempts    int    `json:"attempts"`
	Revocations string `json:"revocations"`
	// NextAttemptAt: when the PS attempts a failed delivery again.
	NextAttemptAt string `json:"next_attempt_at"`
	// RetriesEnded: the PS attempts it no more (its token is dead).
	RetriesEnded bool `json:"retries_ended"`
}

// settleRevocations waits until every revocation the PS started has its
// outcome (and, for a mission's, its revocation_result record).
func settleRevocations(t *testing.T, w *world) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctxT(), 15*time.Second)
	defer cancel()
	if _, ok := w.ps.App.Revocation.Settle(ctx); !ok {
		t.Fatal("the revocations did not settle")
	}
}

// revokeAndSettle revokes the mission from its page (PRG) and waits
// until every revocation the PS sends has its outcome.
func revokeAndSettle(t *testing.T, w *world, b *pstest.Browser, s256 string) {
	t.Helper()
	if pg := b.Post(t, "/missions/"+s256+"/revoke", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d\n%s", pg.Status, pg.HTML)
	}
	settleRevocations(t, w)
}

// exportRevocationEvidence exports the mission's bundle (mission control,
// the file `aauth-ps evidence export` writes), verifies it as `aauth-ps
// evidence verify` does, and reads what it says of the revocations.
func exportRevocationEvidence(t *testing.T, w *world, b *pstest.Browser, s256 string) revocationEvidence {
	t.Helper()
	bundle := exportBundle(t, w, b, s256)
	keys, err := evidence.ParseKeySet(bundle.JWKS)
	if err != nil {
		t.Fatal(err)
	}
	var out revocationEvidence
	var types []string
	for _, raw := range bundle.Records {
		var rec evidence.Record
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		types = append(types, rec.Type)
		switch rec.Type {
		case evidence.LifecycleTransition:
			if out.Cascade != "" {
				t.Fatalf("more than one transition: %v", types)
			}
			var tr struct {
				Revocations string `json:"revocations"`
				Residual    string `json:"residual_exposure_until"`
			}
			if err := json.Unmarshal(rec.Body, &tr); err != nil {
				t.Fatal(err)
			}
			out.Cascade, out.Residual = tr.Revocations, tr.Residual
		case evidence.RevocationResult:
			if out.Cascade == "" {
				t.Fatalf("a revocation_result before the transition: %v", types)
			}
			var r revocationResultBody
			if err := json.Unmarshal(rec.Body, &r); err != nil {
				t.Fatal(err)
			}
			out.Results = append(out.Results, r)
		}
	}
	if rep := evidence.Verify(bundle, keys); !rep.OK {
		t.Fatalf("the bundle does not verify: %+v %v", rep, types)
	}
	return out
}

// expTime is a token's exp.
func expTime(t *testing.T, token string) time.Time {
	t.Helper()
	_, c, err := conformance.DecodeJWT(token)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := c["exp"].(json.Number).Int64()
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(exp, 0)
}

// expOf is a token's exp as the evidence writes it (RFC 3339, UTC).
func expOf(t *testing.T, token string) string {
	return expTime(t, token).UTC().Format(time.RFC3339)
}

// missionTokens are the person tokens outstanding under mission m: the
// one its approval delivered and pt; latest is the one whose exp is
// latest.
func missionTokens(t *testing.T, m approved, pt string) (tokens []string, latest string) {
	t.Helper()
	approved := m.res.body["person_tokens"].(map[string]any)["https://rs.test"].(string)
	latest = pt
	if expTime(t, approved).After(expTime(t, pt)) {
		latest = approved
	}
	return []string{approved, pt}, latest
}

// resultsByJTI indexes the revocation_result records by token.
func resultsByJTI(rs []revocationResultBody) map[string][]revocationResultBody {
	out := map[string][]revocationResultBody{}
	for _, r := range rs {
		out[r.JTI] = append(out[r.JTI], r)
	}
	return out
}

// TestMissionRevocationResultEvidenced (design §5 "Revocation
// propagation": "outcomes are evidenced and the transition records
// residual_exposure_until (latest unconfirmed exp)"; §7
// lifecycle_transition, revocation_result; PS-212, PS-286, PS-292): the
// person revokes a mission with outstanding person tokens (the one its
// approval delivered and one requested under it); its
// lifecycle_transition names the cascade and residual_exposure_until =
// the latest of their exps; the resource (a real revocation_endpoint over
// loopback HTTPS) confirms each of the PS's signed revocations, and one
// revocation_result record per token follows on the mission's chain (iss
// = the PS, the token's jti, the resource, outcome revoked, confirmed,
// one attempt, the cascade); the exported bundle verifies. On both
// databases.
func TestMissionRevocationResultEvidenced(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, b, rs := authWorldWith(t, opt)
		m := w.approveMission(t, w.agent, b, `{"description":"# Revoke me","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
		pt := personToken(t, w, b, rs, missionBody("https://rs.test", m.s256))
		toks, latest := missionTokens(t, m, pt)

		revokeAndSettle(t, w, b, m.s256)
		ev := exportRevocationEvidence(t, w, b, m.s256)
		if ev.Cascade == "" || ev.Residual != expOf(t, latest) {
			t.Fatalf("the lifecycle_transition: revocations %q, residual_exposure_until %q; want the cascade and %s", ev.Cascade, ev.Residual, expOf(t, latest))
		}
		byJTI := resultsByJTI(ev.Results)
		if len(ev.Results) != len(toks) {
			t.Fatalf("revocation_result records: %+v; want one per token", ev.Results)
		}
		for _, tok := range toks {
			if !rs.Revoked(w.ps.Issuer, jtiOf(t, tok)) {
				t.Fatalf("the resource did not confirm the revocation: %+v", rs.Revocations())
			}
			got := byJTI[jtiOf(t, tok)]
			if len(got) != 1 {
				t.Fatalf("revocation_result records of %s: %+v; want one", jtiOf(t, tok), got)
			}
			if r := got[0]; r.Iss != w.ps.Issuer || r.Recipient != "https://rs.test" || r.Outcome != revocation.OutcomeRevoked ||
				!r.Confirmed || r.Attempts != 1 || r.Revocations != ev.Cascade {
				t.Fatalf("the revocation_result: %+v", r)
			}
		}
	})
}

// TestMissionRevocationUnavailableEvidencedOnce (design §5, §7; PS-286,
// PS-292: a recipient that does not answer, or answers 5xx, is a terminal
// revocation_unavailable): the resource's revocation endpoint answers
// 503 until the mission's tokens' exp has passed; the transition's
// residual_exposure_until is the latest exp, each token's terminal
// outcome is one revocation_result (revocation_unavailable, not
// confirmed), and nothing more is written once the exp has passed; the
// bundle verifies. On both databases.
func TestMissionRevocationUnavailableEvidencedOnce(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, b, rs := authWorldWith(t, opt)
		m := w.approveMission(t, w.agent, b, `{"description":"# Unreachable","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
		pt := personToken(t, w, b, rs, missionBody("https://rs.test", m.s256))
		toks, latest := missionTokens(t, m, pt)
		rs.SetRevocationStatus(http.StatusServiceUnavailable)

		revokeAndSettle(t, w, b, m.s256)
		w.clock.Advance(expTime(t, latest).Sub(w.clock.Now()) + time.Minute)
		ev := exportRevocationEvidence(t, w, b, m.s256)
		if ev.Residual != expOf(t, latest) {
			t.Fatalf("residual_exposure_until %q, want %s", ev.Residual, expOf(t, latest))
		}
		byJTI := resultsByJTI(ev.Results)
		if len(ev.Results) != len(toks) {
			t.Fatalf("revocation_result records: %+v; want one per token", ev.Results)
		}
		for _, tok := range toks {
			got := byJTI[jtiOf(t, tok)]
			if len(got) != 1 {
				t.Fatalf("revocation_result records of %s: %+v; want one", jtiOf(t, tok), got)
			}
			if r := got[0]; r.Outcome != revocation.OutcomeUnavailable || r.Confirmed || r.Attempts != 1 || r.Revocations != ev.Cascade {
				t.Fatalf("the revocation_result: %+v", r)
			}
			if rs.Revoked(w.ps.Issuer, jtiOf(t, tok)) {
				t.Fatal("the resource recorded a revocation while failing")
			}
		}
	})
}
