package authority

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// The board-packet scenario (design Example A) with the catalog the
// design names: finance → finance.ledger, ir → release.board, hr →
// hr.records. The fake clock is fixed: the mission was approved at
// 2026-06-22T17:00:00Z and expires a week later.
var (
	expiresAt = time.Date(2026, 6, 29, 17, 0, 0, 0, time.UTC)
	now       = time.Date(2026, 6, 24, 15, 2, 11, 0, time.UTC)
)

const (
	docs     = "https://docs.acme.example"
	finance  = "https://finance.acme.example"
	sheets   = "https://sheets.acme.example"
	treasury = "https://treasury.acme.example"
	ir       = "https://ir.acme.example"
	hr       = "https://hr.acme.example"
	saas     = "https://crm.saas.example"
	openapi  = "urn:aauth:vocabulary:openapi"
)

func boardCatalog() *Catalog {
	return &Catalog{Version: "cat-17", Resources: map[string]CatalogResource{
		docs:     {Name: "Acme Docs", ScopeActions: map[string]string{"docs.read": "read", "docs.write": "write"}},
		finance:  {Name: "Acme Finance", Class: "finance.ledger", ScopeActions: map[string]string{"ledger.read": "read", "ledger.write": "write"}},
		sheets:   {Name: "Acme Sheets", ScopeActions: map[string]string{"sheets.read": "read"}},
		treasury: {Name: "Acme Treasury", Class: "finance.treasury", ScopeActions: map[string]string{"cash_position.read": "read", "payments.create": "pay"}},
		ir:       {Name: "the board portal", Class: "release.board"},
		hr:       {Name: "Acme HR", Class: "hr.records"},
	}}
}

func loadSet(t testing.TB, name string) *Parsed {
	t.Helper()
	p, err := Parse(readExample(t, name), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// boardInput is a three-party auth-token request under Example A.
func boardInput(t testing.TB) Input {
	p := loadSet(t, "authority-set-a.json")
	exp := expiresAt
	return Input{
		Point: PointToken, Mode: ThreeParty, Now: now, Catalog: boardCatalog(), PersonReachable: true,
		Actor: Actor{Agent: "aauth:boardpack.7f3c@agents.acme.example", Capabilities: []string{"interaction"}},
		Mission: Snapshot{
			Lifecycle: Lifecycle{State: StateActive, ExpiresAt: &exp},
			Set:       p.Set, EffectiveHash: p.Hash, Version: 9,
			Checkpoints: map[string]CheckpointRecord{}, Grants: map[string]int64{}, Spent: map[string]int64{},
		},
	}
}

var publish = Operation{Vocabulary: openapi, Op: json.RawMessage(`{"operationId":"publishPresentation"}`)}

func reconciled(in *Input) {
	in.Mission.Checkpoints["numbers_reconciled"] = CheckpointRecord{RecordedAt: now.Add(-time.Hour), AgentAsserted: true}
}

func cfoApproved(in *Input) {
	in.Mission.Checkpoints["cfo_release_approval"] = CheckpointRecord{RecordedAt: now.Add(-time.Minute)}
}

func releaseCall(audience string) func(*Input) {
	return func(in *Input) {
		in.Request = Request{Resource: ir, Operations: []Operation{publish}, PerCall: true,
			Parameters: json.RawMessage(`{"audience":"` + audience + `","deck":{"s256":"aBcD"}}`)}
	}
}

type want struct {
	outcome     Outcome
	status      int
	err         string
	requirement string
	reason      string
	entry       string
	exclusion   string
	missing     []string
	scopes      []string
	lifetime    time.Duration
	fx          *Effects
}

// TestDecisionTable is the design's decision table (§3, Example A,
// three-party unless noted) with a fake clock, one row per case; rows 17
// and 18 are lifecycle (PS-211: expiry on every decision path), 19 the
// four-party delivery check, 20 Example B's money.
func TestDecisionTable(t *testing.T) {
	rows := []struct {
		n     int
		name  string
		setup []func(*Input)
		want  want
	}{
		{1, "finance ledger.read is permitted", []func(*Input){req(finance, "ledger.read")},
			want{outcome: Issue, status: 200, reason: "permit", scopes: []string{"ledger.read"}, lifetime: 900 * time.Second,
				fx: &Effects{CountGrants: []string{"fin-read"}}}},
		{2, "ledger.write is outside, so the person is asked", []func(*Input){req(finance, "ledger.read", "ledger.write")},
			want{outcome: Defer, status: 202, requirement: "approval", reason: "approval_required"}},
		{2, "ledger.write refused by the person narrows to ledger.read", []func(*Input){req(finance, "ledger.read", "ledger.write"), answer("scope:ledger.write", false)},
			want{outcome: Issue, status: 200, reason: "narrowed", scopes: []string{"ledger.read"}}},
		{2, "ledger.write allowed by the person is remembered", []func(*Input){req(finance, "ledger.read", "ledger.write"), answer("scope:ledger.write", true)},
			want{outcome: Issue, status: 200, reason: "permit", scopes: []string{"ledger.read", "ledger.write"},
				fx: &Effects{RememberConsent: []string{"default_outside|" + finance + "|scope:ledger.write"}, CountGrants: []string{"fin-read"}}}},
		{3, "person token for HR is excluded", []func(*Input){personToken(hr)},
			want{outcome: Deny, status: 403, err: "denied", reason: "excluded", exclusion: "no-hr"}},
		{4, "treasury read is approved each time", []func(*Input){req(treasury, "cash_position.read")},
			want{outcome: Defer, status: 202, requirement: "approval", reason: "approval_required", entry: "treasury-cash"}},
		{4, "treasury read approved", []func(*Input){req(treasury, "cash_position.read"), answer("scope:cash_position.read", true)},
			want{outcome: Issue, status: 200, reason: "permit", scopes: []string{"cash_position.read"}, fx: &Effects{CountGrants: []string{"treasury-cash"}}}},
		{5, "treasury read plus payments: payments excluded, read asked", []func(*Input){req(treasury, "cash_position.read", "payments.create")},
			want{outcome: Defer, status: 202, requirement: "approval", entry: "treasury-cash", reason: "approval_required"}},
		{5, "approved: read only", []func(*Input){req(treasury, "cash_position.read", "payments.create"), answer("scope:cash_position.read", true)},
			want{outcome: Issue, status: 200, reason: "narrowed", exclusion: "no-treasury-movement", scopes: []string{"cash_position.read"}}},
		{6, "as 5, four-party: clarification", []func(*Input){req(treasury, "cash_position.read", "payments.create"), fourParty, caps("clarification")},
			want{outcome: Defer, status: 202, requirement: "clarification", reason: "narrowed", exclusion: "no-treasury-movement"}},
		{6, "as 5, four-party, no clarification capability: denied", []func(*Input){req(treasury, "cash_position.read", "payments.create"), fourParty},
			want{outcome: Deny, status: 403, err: "denied", reason: "narrowed", exclusion: "no-treasury-movement"}},
		{7, "release before the reconciliation audit: stage gate", []func(*Input){releaseCall("board-of-directors")},
			want{outcome: Deny, status: 403, err: "denied", reason: "stage_gate", entry: "release-board", missing: []string{"cfo_release_approval"}}},
		{8, "release, board, reconciled: needs the CFO checkpoint inline", []func(*Input){releaseCall("board-of-directors"), reconciled},
			want{outcome: Defer, status: 202, requirement: "approval", reason: "stage_gate", entry: "release-board", missing: []string{"cfo_release_approval"}}},
		{8, "approved inline: 300 s token, checkpoint recorded and consumed", []func(*Input){releaseCall("board-of-directors"), reconciled,
			answer(`r3:`+openapi+`:{"operationId":"publishPresentation"}`, true)},
			want{outcome: Issue, status: 200, reason: "permit", lifetime: 300 * time.Second,
				fx: &Effects{RecordCheckpoints: []string{"cfo_release_approval"}, ConsumeCheckpoints: []string{"cfo_release_approval"}, CountGrants: []string{"release-board"}}}},
		{8, "recorded by call-back: permitted and consumed", []func(*Input){releaseCall("board-of-directors"), reconciled, cfoApproved},
			want{outcome: Issue, status: 200, reason: "permit", lifetime: 300 * time.Second,
				fx: &Effects{ConsumeCheckpoints: []string{"cfo_release_approval"}, CountGrants: []string{"release-board"}}}},
		{8, "a consumed checkpoint is asked again", []func(*Input){releaseCall("board-of-directors"), reconciled, cfoApproved, consumed("cfo_release_approval")},
			want{outcome: Defer, status: 202, requirement: "approval", reason: "stage_gate", missing: []string{"cfo_release_approval"}}},
		{9, "permission mission.checkpoint: the person is asked", []func(*Input){checkpointCallBack("cfo_release_approval"), reconciled},
			want{outcome: Defer, status: 202, requirement: "approval", reason: "stage_gate", missing: []string{"cfo_release_approval"}}},
		{9, "permission mission.checkpoint granted: recorded", []func(*Input){checkpointCallBack("cfo_release_approval"), reconciled, answer("tool:mission.checkpoint:cfo_release_approval", true)},
			want{outcome: Issue, status: 200, reason: "permit", fx: &Effects{RecordCheckpoints: []string{"cfo_release_approval"}}}},
		{9, "permission mission.checkpoint before reconciliation: refused", []func(*Input){checkpointCallBack("cfo_release_approval")},
			want{outcome: Deny, status: 403, err: "denied", reason: "stage_gate", missing: []string{"cfo_release_approval"}}},
		{9, "an attestation cannot be recorded by call-back", []func(*Input){checkpointCallBack("numbers_reconciled")},
			want{outcome: Deny, status: 403, err: "denied", reason: "stage_gate"}},
		{10, "4th release: max_grants, even with the checkpoint recorded (§10.5)", []func(*Input){releaseCall("board-of-directors"), reconciled, cfoApproved, granted("release-board", 3)},
			want{outcome: Deny, status: 403, err: "denied", reason: "constraint_violation", entry: "release-board"}},
		{11, "release to the public: params fail", []func(*Input){releaseCall("public"), reconciled, cfoApproved},
			want{outcome: Deny, status: 403, err: "denied", reason: "constraint_violation", entry: "release-board"}},
		{11, "release at class level is granted per call", []func(*Input){func(in *Input) { in.Request = Request{Resource: ir, Operations: []Operation{publish}} }},
			want{outcome: Issue, status: 200, reason: "permit", lifetime: 300 * time.Second, fx: &Effects{}}},
		{12, "sub-agent ledger.read", []func(*Input){req(finance, "ledger.read"), subagent},
			want{outcome: Issue, status: 200, reason: "permit", scopes: []string{"ledger.read"}}},
		{13, "sub-agent treasury: subagents false", []func(*Input){req(treasury, "cash_position.read"), subagent},
			want{outcome: Deny, status: 403, err: "denied", reason: "delegation_denied", entry: "treasury-cash"}},
		{14, "chain docs → sheets, depth 1", []func(*Input){req(sheets, "sheets.read"), chain(docs, 0)},
			want{outcome: Issue, status: 200, reason: "permit", scopes: []string{"sheets.read"}}},
		{15, "chain finance → sheets: not via", []func(*Input){req(sheets, "sheets.read"), chain(finance, 0)},
			want{outcome: Deny, status: 403, err: "denied", reason: "delegation_denied", entry: "sheets-reconcile"}},
		{15, "chain depth 2", []func(*Input){req(sheets, "sheets.read"), chain(docs, 1)},
			want{outcome: Deny, status: 403, err: "denied", reason: "delegation_denied", entry: "sheets-reconcile"}},
		{16, "person token, unlisted SaaS: the person is asked", []func(*Input){personToken(saas)},
			want{outcome: Defer, status: 202, requirement: "approval", reason: "approval_required"}},
		{16, "unreachable person, agent can interact", []func(*Input){personToken(saas), unreachable},
			want{outcome: Defer, status: 202, requirement: "interaction"}},
		{16, "unreachable person, no interaction capability", []func(*Input){personToken(saas), unreachable, caps()},
			want{outcome: Deny, status: 403, err: "user_unreachable"}},
		{17, "suspended: held", []func(*Input){req(finance, "ledger.read"), suspended(now.Add(time.Minute))},
			want{outcome: Defer, status: 202, requirement: "approval", reason: "mission_suspended"}},
		{17, "suspended past the hold timeout: terminated", []func(*Input){req(finance, "ledger.read"), suspended(now)},
			want{outcome: Deny, status: 403, err: "mission_terminated", reason: "mission_terminated", fx: &Effects{Terminate: "administrative"}}},
		{18, "after expires_at: terminated(expired)", []func(*Input){req(finance, "ledger.read"), at(expiresAt)},
			want{outcome: Deny, status: 403, err: "mission_terminated", reason: "mission_terminated", fx: &Effects{Terminate: "expired"}}},
		{18, "terminated stays terminated", []func(*Input){req(finance, "ledger.read"), terminated("revoked")},
			want{outcome: Deny, status: 403, err: "mission_terminated", reason: "mission_terminated", fx: &Effects{}}},
		{0, "person token for finance", []func(*Input){personToken(finance)},
			want{outcome: Issue, status: 200, reason: "permit", fx: &Effects{}}},
		{0, "permission for an approved tool", []func(*Input){permission("RenderDeck")},
			want{outcome: Issue, status: 200, reason: "permit", fx: &Effects{CountGrants: []string{"local-tools"}}}},
		{0, "press is excluded", []func(*Input){req("https://newswire.example", "post")},
			want{outcome: Deny, status: 403, err: "denied", reason: "excluded", exclusion: "no-press"}},
		{0, "a tampered set fails its integrity check", []func(*Input){req(finance, "ledger.read"), tamper},
			want{outcome: Deny, status: 500, err: "server_error", reason: "integrity_failure"}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			in := boardInput(t)
			for _, f := range r.setup {
				f(&in)
			}
			d := Evaluate(in)
			check(t, d, r.want)
			if again := Evaluate(in); !sameDecision(d, again) {
				t.Error("Evaluate is not deterministic")
			}
			replaysOnRecordedCatalog(t, in, d)
		})
	}
}

// TestDecisionTableRow19: a four-party grant beyond the permitted subset
// is withheld (as_grant_exceeds_mission).
func TestDecisionTableRow19(t *testing.T) {
	in := boardInput(t)
	req(finance, "ledger.read")(&in)
	fourParty(&in)
	d := Evaluate(in)
	check(t, d, want{outcome: Issue, status: 200, reason: "permit", scopes: []string{"ledger.read"}})
	if err := DeliveryCheck(d.Grant, []string{"ledger.read"}, nil, now.Add(time.Minute), &expiresAt); err != nil {
		t.Errorf("a fitting grant was refused: %v", err)
	}
	for name, bad := range map[string]func() error{
		"scope": func() error {
			return DeliveryCheck(d.Grant, []string{"ledger.read", "ledger.write"}, nil, now, &expiresAt)
		},
		"operation": func() error { return DeliveryCheck(d.Grant, nil, []Operation{publish}, now, &expiresAt) },
		"exp":       func() error { return DeliveryCheck(d.Grant, nil, nil, expiresAt.Add(time.Second), &expiresAt) },
	} {
		if err := bad(); err == nil {
			t.Errorf("%s beyond the mission was delivered", name)
		}
	}
}

// TestDecisionTableRow20: Example B — a flight of 300000 (> 250000 per
// call) needs approval; approved, it reserves 300000 against `trip`; the
// budget then refuses (asks again for) a hotel that would pass 500000.
func TestDecisionTableRow20(t *testing.T) {
	p := loadSet(t, "authority-set-b.json")
	bnow := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	base := func(params string, resource, op string) Input {
		return Input{Point: PointToken, Mode: ThreeParty, Now: bnow, PersonReachable: true,
			Request: Request{Resource: resource, PerCall: true, Parameters: json.RawMessage(params),
				Operations: []Operation{{Vocabulary: openapi, Op: json.RawMessage(`{"operationId":"` + op + `"}`)}}},
			Mission: Snapshot{Lifecycle: Lifecycle{State: StateActive}, Set: p.Set, EffectiveHash: p.Hash,
				Checkpoints: map[string]CheckpointRecord{"itinerary_approved": {RecordedAt: bnow.Add(-time.Hour)}}, Spent: map[string]int64{}}}
	}
	flight := `{"total":{"minor":300000,"currency":"USD"},"refundable":true}`
	in := base(flight, "https://flights.example", "bookFlight")
	check(t, Evaluate(in), want{outcome: Defer, status: 202, requirement: "approval", entry: "book-flight", reason: "approval_required"})
	in.Answers = map[string]bool{`r3:` + openapi + `:{"operationId":"bookFlight"}`: true}
	check(t, Evaluate(in), want{outcome: Issue, status: 200, reason: "permit",
		fx: &Effects{CountGrants: []string{"book-flight"}, Reserve: []Reservation{{Key: "budget:trip", Amount: 300000, Currency: "USD"}}}})

	cheap := base(`{"total":{"minor":100000,"currency":"USD"},"refundable":true}`, "https://flights.example", "bookFlight")
	check(t, Evaluate(cheap), want{outcome: Issue, status: 200, reason: "permit",
		fx: &Effects{CountGrants: []string{"book-flight"}, Reserve: []Reservation{{Key: "budget:trip", Amount: 100000, Currency: "USD"}}}})
	for name, params := range map[string]string{
		"wrong currency": `{"total":{"minor":100000,"currency":"EUR"},"refundable":true}`,
		"not refundable": `{"total":{"minor":100000,"currency":"USD"},"refundable":false}`,
		"digest amount":  `{"total":{"minor":{"s256":"x"},"currency":"USD"},"refundable":true}`,
		"no parameters":  ``,
	} {
		if d := Evaluate(base(params, "https://flights.example", "bookFlight")); d.Outcome != Defer {
			t.Errorf("%s: %s, want the person asked (on_violation approval)", name, d.Outcome)
		}
	}
	hotel := base(`{"total":{"minor":250000}}`, "https://hotels.example", "reserveRoom")
	hotel.Mission.Spent["budget:trip"] = 300000
	d := Evaluate(hotel)
	check(t, d, want{outcome: Defer, status: 202, requirement: "approval", entry: "book-hotel", reason: "approval_required"})
	hotel.Mission.Spent["budget:trip"] = 200000
	check(t, Evaluate(hotel), want{outcome: Issue, status: 200, reason: "permit",
		fx: &Effects{CountGrants: []string{"book-hotel"}, Reserve: []Reservation{{Key: "budget:trip", Amount: 250000, Currency: "USD"}}}})
	late := base(flight, "https://flights.example", "bookFlight")
	late.Now = time.Date(2026, 5, 31, 0, 0, 0, 0, time.UTC)
	late.Request.Parameters = json.RawMessage(`{"total":{"minor":1,"currency":"USD"},"refundable":true}`)
	if d := Evaluate(late); d.Outcome != Defer {
		t.Errorf("past the time window: %s, want approval", d.Outcome)
	}
}

func check(t *testing.T, d Decision, w want) {
	t.Helper()
	if d.Outcome != w.outcome || d.Status != w.status || d.Error != w.err || (w.requirement != "" && d.Requirement != w.requirement) ||
		(w.reason != "" && d.Reason != w.reason) {
		t.Fatalf("decision %s %d %q req=%q reason=%q; want %s %d %q req=%q reason=%q\n%s",
			d.Outcome, d.Status, d.Error, d.Requirement, d.Reason, w.outcome, w.status, w.err, w.requirement, w.reason, d.Explanation)
	}
	if d.Entry != w.entry && w.entry != "" || d.Exclusion != w.exclusion && w.exclusion != "" {
		t.Errorf("decided by entry %q exclusion %q; want %q %q", d.Entry, d.Exclusion, w.entry, w.exclusion)
	}
	if w.missing != nil && !slices.Equal(d.MissingCheckpoints, w.missing) {
		t.Errorf("missing checkpoints %v, want %v", d.MissingCheckpoints, w.missing)
	}
	if w.scopes != nil && (d.Grant == nil || !slices.Equal(d.Grant.Scopes, w.scopes)) {
		t.Errorf("grant %+v, want scopes %v", d.Grant, w.scopes)
	}
	if w.lifetime != 0 && (d.Grant == nil || d.Grant.Lifetime != w.lifetime) {
		t.Errorf("grant %+v, want lifetime %s", d.Grant, w.lifetime)
	}
	if w.fx != nil {
		got, _ := json.Marshal(d.Effects)
		exp, _ := json.Marshal(w.fx)
		if string(got) != string(exp) {
			t.Errorf("effects %s, want %s", got, exp)
		}
	}
	if d.Explanation == "" {
		t.Error("the decision explains nothing")
	}
	if d.Outcome != Issue && (d.Effects.CountGrants != nil || d.Effects.ConsumeCheckpoints != nil || d.Effects.Reserve != nil) {
		t.Errorf("a %s decision has effects %+v", d.Outcome, d.Effects)
	}
}

// replaysOnRecordedCatalog (issue 12): a decision record keeps only the
// catalog's part for the request's resource; Evaluate on it (the replay)
// decides d again.
func replaysOnRecordedCatalog(t testing.TB, in Input, d Decision) {
	t.Helper()
	kept := RecordInput(in, nil).Catalog
	if kept == nil || len(kept.Resources) > 1 || kept.Version != in.Catalog.Version {
		t.Fatalf("the record keeps the catalog %+v", kept)
	}
	in.Catalog = kept
	if !sameDecision(d, Evaluate(in)) {
		t.Fatal("Evaluate on the catalog a decision record keeps decides otherwise")
	}
}

func sameDecision(a, b Decision) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func req(resource string, scopes ...string) func(*Input) {
	return func(in *Input) { in.Request = Request{Resource: resource, Scopes: scopes} }
}
func personToken(resource string) func(*Input) {
	return func(in *Input) { in.Point, in.Request = PointPersonToken, Request{Resource: resource} }
}
func permission(action string) func(*Input) {
	return func(in *Input) { in.Point, in.Request = PointPermission, Request{Action: action} }
}
func checkpointCallBack(id string) func(*Input) {
	return func(in *Input) {
		in.Point, in.Request = PointPermission, Request{Action: "mission.checkpoint", Parameters: json.RawMessage(`{"checkpoint":"` + id + `"}`)}
	}
}
func answer(key string, yes bool) func(*Input) {
	return func(in *Input) { in.Answers = map[string]bool{key: yes} }
}
func caps(c ...string) func(*Input) { return func(in *Input) { in.Actor.Capabilities = c } }
func fourParty(in *Input)           { in.Mode = FourParty }
func subagent(in *Input) {
	in.Actor.Parent = in.Actor.Agent
	in.Actor.Agent = "aauth:sub.1@agents.acme.example"
}
func unreachable(in *Input) { in.PersonReachable = false }
func chain(intermediary string, upstreamDepth int) func(*Input) {
	return func(in *Input) {
		in.Actor.Chain = &Chain{Intermediary: intermediary, UpstreamDepth: upstreamDepth, UpstreamIndexed: true}
	}
}
func granted(entry string, n int64) func(*Input) {
	return func(in *Input) { in.Mission.Grants[entry] = n }
}
func consumed(id string) func(*Input) {
	return func(in *Input) { r := in.Mission.Checkpoints[id]; r.Consumed = true; in.Mission.Checkpoints[id] = r }
}
func suspended(holdUntil time.Time) func(*Input) {
	return func(in *Input) {
		in.Mission.Lifecycle.State, in.Mission.Lifecycle.HoldUntil = StateSuspended, &holdUntil
	}
}
func terminated(reason string) func(*Input) {
	return func(in *Input) { in.Mission.Lifecycle.State, in.Mission.Lifecycle.Reason = StateTerminated, reason }
}
func at(t time.Time) func(*Input) { return func(in *Input) { in.Now = t } }
func tamper(in *Input) {
	in.Mission.Set.Entries[0].Scopes = append(in.Mission.Set.Entries[0].Scopes, "docs.admin")
}

// TestNarrowingMissionDecision: the mission_decision of a four-party
// narrowing (design row 6; issue 10) names what refused which item and
// the permitted subset the agent may ask again for, the same member
// with and without the clarification capability; a plain refusal names
// no permitted subset.
func TestNarrowingMissionDecision(t *testing.T) {
	for _, withCaps := range []bool{true, false} {
		in := boardInput(t)
		req(treasury, "cash_position.read", "payments.create")(&in)
		fourParty(&in)
		if withCaps {
			caps("clarification")(&in)
		}
		d := Evaluate(in)
		md := d.Problem("dec_x")
		if md.ID != "dec_x" || md.Reason != "narrowed" || md.Exclusion != "no-treasury-movement" || len(md.Items) != 2 {
			t.Fatalf("clarification %v: %+v", withCaps, md)
		}
		if len(md.Permitted) != 1 || md.Permitted[0].Key() != (Item{Kind: ItemScope, Scope: "cash_position.read"}).Key() {
			t.Fatalf("clarification %v: permitted %+v, want cash_position.read only", withCaps, md.Permitted)
		}
		if md.Items[1].Status != Excluded || md.Items[1].Exclusion != "no-treasury-movement" {
			t.Fatalf("the refused item: %+v", md.Items[1])
		}
	}
	in := boardInput(t)
	personToken(hr)(&in)
	d := Evaluate(in)
	if md := d.Problem("dec_y"); md.Reason != "excluded" || md.Permitted != nil {
		t.Fatalf("a refusal names a permitted subset: %+v", md)
	}
}

// cfoRole makes Example A's cfo_release_approval a role checkpoint
// (approver {"role":"cfo"}), the effective hash recomputed.
func cfoRole(t *testing.T) func(*Input) {
	return func(in *Input) {
		in.Mission.Set.Checkpoint("cfo_release_approval").Approver = &Approver{Role: "cfo"}
		h, err := in.Mission.Set.Hash()
		if err != nil {
			t.Fatal(err)
		}
		in.Mission.EffectiveHash = h
	}
}

// TestRoleCheckpointNotRecordedByPerson (issue 10): a checkpoint whose
// approver is a role is never recorded by the mission's person answering
// a deferred request — inline (rows 8) or by the permission call-back
// (rows 9): the item stays deferred (202 approval, stage_gate) naming the
// role, nothing is recorded, until a role holder records it (then the
// same request is permitted). The person may still refuse. The person
// approver rows of TestDecisionTable (8, 9) are unchanged.
func TestRoleCheckpointNotRecordedByPerson(t *testing.T) {
	publishKey := `r3:` + openapi + `:{"operationId":"publishPresentation"}`
	callBackKey := "tool:mission.checkpoint:cfo_release_approval"
	missing := []string{"cfo_release_approval"}
	deferred := want{outcome: Defer, status: 202, requirement: "approval", reason: "stage_gate", missing: missing, fx: &Effects{}}
	rows := []struct {
		name  string
		setup []func(*Input)
		want  want
		role  bool // the explanation names the role
	}{
		{"inline: waits for the role", []func(*Input){releaseCall("board-of-directors"), reconciled}, deferred, true},
		{"inline: the person's yes records nothing", []func(*Input){releaseCall("board-of-directors"), reconciled, answer(publishKey, true)}, deferred, true},
		{"inline: the person's yes, person unreachable: the PS reaches the role", []func(*Input){releaseCall("board-of-directors"), reconciled,
			answer(publishKey, true), unreachable, caps()}, deferred, true},
		{"inline: the person may refuse", []func(*Input){releaseCall("board-of-directors"), reconciled, answer(publishKey, false)},
			want{outcome: Deny, status: 403, err: "denied", reason: "user_denied", fx: &Effects{}}, false},
		{"inline: recorded by the role holder: permitted and consumed", []func(*Input){releaseCall("board-of-directors"), reconciled, cfoApproved, answer(publishKey, true)},
			want{outcome: Issue, status: 200, reason: "permit", lifetime: 300 * time.Second,
				fx: &Effects{ConsumeCheckpoints: missing, CountGrants: []string{"release-board"}}}, false},
		{"call-back: waits for the role", []func(*Input){checkpointCallBack("cfo_release_approval"), reconciled}, deferred, true},
		{"call-back: the person's yes records nothing", []func(*Input){checkpointCallBack("cfo_release_approval"), reconciled, answer(callBackKey, true)}, deferred, true},
		{"call-back: person unreachable, no interaction: still the role", []func(*Input){checkpointCallBack("cfo_release_approval"), reconciled,
			answer(callBackKey, true), unreachable, caps()}, deferred, true},
		{"call-back: the person may refuse", []func(*Input){checkpointCallBack("cfo_release_approval"), reconciled, answer(callBackKey, false)},
			want{outcome: Deny, status: 403, err: "denied", reason: "user_denied", fx: &Effects{}}, false},
		{"call-back: recorded by the role holder", []func(*Input){checkpointCallBack("cfo_release_approval"), reconciled, cfoApproved, answer(callBackKey, true)},
			want{outcome: Issue, status: 200, reason: "permit", fx: &Effects{}}, false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			in := boardInput(t)
			cfoRole(t)(&in)
			for _, f := range r.setup {
				f(&in)
			}
			d := Evaluate(in)
			check(t, d, r.want)
			if r.role && !strings.Contains(d.Explanation, "someone with the role cfo") {
				t.Errorf("the explanation does not name the role: %s", d.Explanation)
			}
			if again := Evaluate(in); !sameDecision(d, again) {
				t.Error("Evaluate is not deterministic")
			}
			replaysOnRecordedCatalog(t, in, d)
			// A deferral waits for the role's step alone (the request is
			// decided again when it is recorded); nothing else waits.
			steps, onlyRoles := d.Waits(in.Mission.Set, in.Answers)
			if deferredRow := r.want.outcome == Defer; onlyRoles != deferredRow || !slices.Equal(steps, map[bool][]string{true: missing}[deferredRow]) {
				t.Errorf("Waits = %v, roles only %v", steps, onlyRoles)
			}
		})
	}
}

// TestDecisionWaits: a deferral names the checkpoints it waits for, and
// whether only roles are missing — not when the step is the person's.
func TestDecisionWaits(t *testing.T) {
	in := boardInput(t)
	releaseCall("board-of-directors")(&in)
	reconciled(&in)
	d := Evaluate(in)
	if steps, onlyRoles := d.Waits(in.Mission.Set, in.Answers); d.Outcome != Defer || !slices.Equal(steps, []string{"cfo_release_approval"}) || onlyRoles {
		t.Fatalf("the person's step: %s, Waits = %v, roles only %v", d.Outcome, steps, onlyRoles)
	}
	cfoRole(t)(&in)
	d = Evaluate(in)
	if steps, onlyRoles := d.Waits(in.Mission.Set, in.Answers); d.Outcome != Defer || !slices.Equal(steps, []string{"cfo_release_approval"}) || !onlyRoles {
		t.Fatalf("the role's step: %s, Waits = %v, roles only %v", d.Outcome, steps, onlyRoles)
	}
	// Asked every time as well: the person's yes settles that, and the
	// request then waits for the role alone.
	in.Mission.Set.Entry("release-board").Grant = GrantApproveEach
	h, err := in.Mission.Set.Hash()
	if err != nil {
		t.Fatal(err)
	}
	in.Mission.EffectiveHash = h
	d = Evaluate(in)
	if _, onlyRoles := d.Waits(in.Mission.Set, in.Answers); d.Outcome != Defer || onlyRoles {
		t.Fatalf("the role's step and the person's approval: %s, roles only %v", d.Outcome, onlyRoles)
	}
	answer(`r3:`+openapi+`:{"operationId":"publishPresentation"}`, true)(&in)
	d = Evaluate(in)
	if steps, onlyRoles := d.Waits(in.Mission.Set, in.Answers); d.Outcome != Defer || !slices.Equal(steps, []string{"cfo_release_approval"}) || !onlyRoles {
		t.Fatalf("the person said yes, the role's step is missing: %s, Waits = %v, roles only %v", d.Outcome, steps, onlyRoles)
	}
}
