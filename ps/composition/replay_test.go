package composition_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestDecisionReplay (issue 10, decision replay in evidence verify):
// every runtime_decision the decision point writes keeps the input
// Evaluate read, so the offline verifier re-runs Evaluate and finds what
// was recorded — an issue, a budget refusal, a stage gate, a request
// outside the set. A chain rewritten consistently (a refusal turned into
// an issue, every later link recomputed, no signed head to betray it)
// passes the hash links but fails the replay, naming that record. Both
// databases.
func TestDecisionReplay(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, pt, m := raceMission(t, b.NewMigratedURL(t))
			actor := authority.Actor{Agent: "aauth:a@ap.example"}
			book := func(total string) authority.Request {
				return authority.Request{Resource: "https://flights.example", PerCall: true, Parameters: json.RawMessage(`{"total":` + total + `}`),
					Operations: []authority.Operation{{Vocabulary: "urn:aauth:vocabulary:openapi", Op: json.RawMessage(`{"operationId":"bookFlight"}`)}}}
			}
			want := []authority.Outcome{}
			for _, r := range []authority.Request{book("300"), book("300"),
				{Resource: "https://ir.example", Scopes: []string{"publish"}}, {Resource: "https://hr.example", Scopes: []string{"read"}}} {
				err := st.InTx(ctx, func(tx *store.Store) error {
					res, err := pt.Decide(ctx, tx, composition.Query{S256: m.S256, Point: authority.PointToken, Mode: authority.ThreeParty,
						Actor: actor, Request: r, ResourceTokenJTI: "jti-1"})
					if err == nil {
						want = append(want, res.Decision.Outcome)
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := strings.Join([]string{string(want[0]), string(want[1]), string(want[2]), string(want[3])}, " "); got != "issue deny deny deny" {
				t.Fatalf("decisions: %s", got)
			}
			chain, err := st.Evidence(ctx, m.S256)
			if err != nil || len(chain) != 4 {
				t.Fatalf("evidence: %d %v", len(chain), err)
			}
			c := m.Composition
			bundle := evidence.NewBundle(evidence.MissionRef{Origin: "https://ps.example", ID: m.S256}, m.Blob, c.Proposal, c.ConsentRendering, chain)
			if rep := evidence.Verify(bundle, nil); !rep.OK || rep.Replayed != 4 || rep.NotReplayed != 0 {
				t.Fatalf("untampered: %+v", rep)
			}

			// Rewrite record 1 (the budget refusal) as an issue and relink.
			tampered := bundle
			tampered.Records = append([]json.RawMessage(nil), bundle.Records...)
			relink(t, tampered.Records, 1, func(body map[string]any) {
				out := body["outcome"].(map[string]any)
				out["kind"], out["status"], out["reason"] = "issue", 200, "permit"
				delete(out, "error")
			})
			rep := evidence.Verify(tampered, nil)
			if rep.OK || rep.FirstBad != 1 || !strings.Contains(rep.Problem, "replayed differs") || !strings.Contains(rep.Problem, "outcome") {
				t.Fatalf("a rewritten decision: %+v, want record 1 named by the replay", rep)
			}

			// A record without its input (written before replay) is counted, not failed.
			legacy := bundle
			legacy.Records = append([]json.RawMessage(nil), bundle.Records...)
			relink(t, legacy.Records, 2, func(body map[string]any) { delete(body, "input") })
			if rep := evidence.Verify(legacy, nil); !rep.OK || rep.Replayed != 3 || rep.NotReplayed != 1 {
				t.Fatalf("a record without input: %+v", rep)
			}
		})
	}
}

// relink edits record i's body with edit, then recomputes the prev link
// of every later record, as a forger without the PS key would.
func relink(t *testing.T, recs []json.RawMessage, i int, edit func(body map[string]any)) {
	t.Helper()
	for k := i; k < len(recs); k++ {
		var r map[string]any
		if err := json.Unmarshal(recs[k], &r); err != nil {
			t.Fatal(err)
		}
		if k == i {
			edit(r["body"].(map[string]any))
		} else {
			h, err := anchor.OfJSON(recs[k-1])
			if err != nil {
				t.Fatal(err)
			}
			r["prev"] = h
		}
		raw, err := anchor.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		recs[k] = raw
	}
}
