package authority

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzEvaluate: Evaluate never panics, and never issues on malformed
// input — a set that fails the semantic checks, a set whose stored hash
// does not match, an unknown point, an auth-token request of unknown mode
// or asking for nothing. What it does issue is within what was asked and never an
// excluded item.
func FuzzEvaluate(f *testing.F) {
	a := string(readExample(f, "authority-set-a.json"))
	f.Add(a, "token", "three-party", finance, "ledger.read", `{}`, false, byte(0))
	f.Add(a, "token", "four-party", treasury, "cash_position.read payments.create", `{}`, false, byte(1))
	f.Add(a, "token", "three-party", ir, "", `{"audience":"board-of-directors"}`, true, byte(2))
	f.Add(a, "person_token", "three-party", hr, "", ``, false, byte(3))
	f.Add(a, "permission", "three-party", "", "", `{"checkpoint":"cfo_release_approval"}`, false, byte(4))
	f.Add(string(readExample(f, "authority-set-b.json")), "token", "three-party", "https://flights.example", "", `{"total":{"minor":1}}`, true, byte(5))
	f.Add(`{"object":"aauth-mm/authority-set/v1","entries":[{"id":"a","target":"resource","resource":{"id":"https://x"},"scopes_any":true,"requires":["nope"]}]}`,
		"token", "three-party", "https://x", "s", ``, false, byte(6))
	f.Fuzz(func(t *testing.T, setJSON, point, mode, resource, scopes, params string, perCall bool, flags byte) {
		var set Set
		if json.Unmarshal([]byte(setJSON), &set) != nil {
			return
		}
		hash, err := set.Hash()
		if err != nil {
			return
		}
		stored := hash
		if flags&0x80 != 0 {
			stored = "tampered" + hash[8:]
		}
		in := Input{
			Point: Point(point), Mode: Mode(mode), Now: now, Catalog: boardCatalog(), PersonReachable: flags&1 != 0,
			Request: Request{Resource: resource, Scopes: strings.Fields(scopes), PerCall: perCall, Parameters: json.RawMessage(params)},
			Actor:   Actor{Agent: "aauth:a@agents.example"},
			Mission: Snapshot{Lifecycle: Lifecycle{State: StateActive}, Set: &set, EffectiveHash: stored,
				Checkpoints: map[string]CheckpointRecord{}, Grants: map[string]int64{}, Spent: map[string]int64{}},
		}
		if flags&2 != 0 {
			in.Request.Operations = []Operation{publish}
		}
		if flags&4 != 0 {
			in.Request.Action = "RenderDeck"
		}
		if flags&8 != 0 {
			in.Actor.Parent = "aauth:p@agents.example"
		}
		if flags&16 != 0 {
			in.Actor.Chain = &Chain{Intermediary: docs, UpstreamDepth: int(flags >> 5), UpstreamIndexed: true}
		}
		if flags&64 != 0 {
			in.Mission.Checkpoints["cfo_release_approval"] = CheckpointRecord{RecordedAt: now}
			in.Mission.Checkpoints["numbers_reconciled"] = CheckpointRecord{RecordedAt: now}
		}
		d := Evaluate(in)
		replaysOnRecordedCatalog(t, in, d)
		if d.Outcome != Issue {
			return
		}
		malformed := set.Check() != nil || stored != hash ||
			!slices.Contains([]Point{PointToken, PointPersonToken, PointPermission}, in.Point) ||
			(in.Point == PointToken && in.Mode != ThreeParty && in.Mode != FourParty) ||
			(in.Point == PointToken && len(in.Request.Scopes) == 0 && len(in.Request.Operations) == 0)
		if malformed {
			t.Fatalf("issued on malformed input: %+v", d)
		}
		if d.Grant == nil {
			t.Fatal("issued without a grant")
		}
		for _, s := range d.Grant.Scopes {
			if !slices.Contains(in.Request.Scopes, s) {
				t.Fatalf("granted scope %q that was not asked for", s)
			}
		}
		for _, o := range d.Items {
			if o.Status.permits() && o.Exclusion != "" {
				t.Fatalf("permitted an excluded item: %+v", o)
			}
		}
		if _, err := time.ParseDuration(d.Grant.Lifetime.String()); err != nil || d.Grant.Lifetime > time.Hour || d.Grant.Lifetime <= 0 {
			t.Fatalf("lifetime %s out of bounds", d.Grant.Lifetime)
		}
	})
}
