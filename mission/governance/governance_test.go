package governance

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
)

var (
	t0      = time.Date(2026, 6, 24, 15, 0, 0, 0, time.UTC)
	expires = time.Date(2026, 6, 29, 17, 0, 0, 0, time.UTC)
	agent   = "aauth:boardpack.7f3c@agents.acme.example"
	person  = Actor{Kind: ByPerson, ID: "p1"}
	admin   = Actor{Kind: ByAdmin, ID: "ops"}
	risk    = Actor{Kind: ByRiskPolicy}
)

func boardRecord(t *testing.T) Record {
	t.Helper()
	raw, err := os.ReadFile("testdata/authority-set-a.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := authority.Parse(raw, authority.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp := expires
	return Record{ID: "n1-rRqgqgTygvTAOsLDIyS6fF6tzx3QIeQvC56Xi0CM", Owner: agent, State: authority.StateActive,
		ExpiresAt: &exp, Authority: p.Set, AuthorityHash: p.Hash, SuspendRevokes: true}
}

// TestSuspendHoldsResumeReleases: a suspended mission is `active` on the
// wire and Evaluate holds its requests (202 approval); resume releases
// them; the suspension's transition revokes outstanding tokens.
func TestSuspendHoldsResumeReleases(t *testing.T) {
	r := boardRecord(t)
	s, tr, err := Suspend(r, person, t0, 0)
	if err != nil || tr.To != authority.StateSuspended || !tr.RevokeTokens || !s.Hold.Until.Equal(t0.Add(DefaultHoldTimeout)) {
		t.Fatalf("suspend: %+v %+v %v", s.Hold, tr, err)
	}
	if st, _ := s.Wire(t0.Add(time.Minute)); st != "active" {
		t.Errorf("a suspended mission is %q on the wire, want active", st)
	}
	d := authority.Evaluate(evalInput(s, t0.Add(time.Minute)))
	if d.Outcome != authority.Defer || d.Status != 202 || d.Requirement != "approval" || d.Reason != "mission_suspended" {
		t.Fatalf("held request: %+v", d)
	}
	back, tr, err := Resume(s, person, t0.Add(2*time.Minute))
	if err != nil || back.State != authority.StateActive || !tr.ReleaseHeld || back.Version != r.Version+2 {
		t.Fatalf("resume: %+v %v", tr, err)
	}
	if d := authority.Evaluate(evalInput(back, t0.Add(2*time.Minute))); d.Outcome != authority.Issue {
		t.Fatalf("released request: %+v", d)
	}
}

// TestHoldTimeoutTerminates: a hold not resumed in time ends the mission
// terminated(administrative), lazily on the next path; Evaluate says so
// and asks for the termination to be recorded.
func TestHoldTimeoutTerminates(t *testing.T) {
	s, _, _ := Suspend(boardRecord(t), admin, t0, 48*time.Hour)
	if !s.Hold.Until.Equal(t0.Add(MaxHoldTimeout)) {
		t.Fatalf("hold timeout not clamped to 24 h: %s", s.Hold.Until)
	}
	late := t0.Add(MaxHoldTimeout)
	if st, reason := s.Wire(late); st != "terminated" || reason != mission.ReasonAdministrative {
		t.Fatalf("wire after the hold: %s %s", st, reason)
	}
	settled, tr := Settle(s, late)
	if settled.State != authority.StateTerminated || tr == nil || !tr.RevokeTokens || tr.Actor.ID != "hold_timeout" {
		t.Fatalf("settle: %+v %+v", settled, tr)
	}
	d := authority.Evaluate(evalInput(s, late))
	if d.Error != "mission_terminated" || d.TerminationReason != "administrative" || d.Effects.Terminate != "administrative" {
		t.Fatalf("evaluate after the hold: %+v", d)
	}
	if _, _, err := Resume(s, admin, late); !errors.Is(err, ErrTransition) {
		t.Error("a timed-out hold was resumed")
	}
}

// TestWhoMayTransition is the design's transition table (PS-206: a
// terminated mission never becomes active again; PS-211 expiry).
func TestWhoMayTransition(t *testing.T) {
	r := boardRecord(t)
	if _, _, err := Suspend(r, Actor{Kind: ByAgent, ID: agent}, t0, 0); !errors.Is(err, ErrTransition) {
		t.Error("an agent suspended a mission")
	}
	byAdmin, _, _ := Suspend(r, admin, t0, 0)
	if _, _, err := Resume(byAdmin, person, t0); !errors.Is(err, ErrTransition) {
		t.Error("the person resumed an admin's suspension")
	}
	byRisk, _, _ := Suspend(r, risk, t0, 0)
	if _, _, err := Resume(byRisk, risk, t0); !errors.Is(err, ErrTransition) {
		t.Error("the risk policy resumed a mission")
	}
	if _, _, err := Resume(byRisk, person, t0); err != nil {
		t.Errorf("the person could not resume a risk suspension: %v", err)
	}
	if _, _, err := Terminate(r, mission.ReasonRevoked, Actor{Kind: ByAgent, ID: "aauth:other@agents.example"}, t0); !errors.Is(err, ErrTransition) {
		t.Error("another agent withdrew the mission")
	}
	if _, _, err := Terminate(r, mission.ReasonCompleted, Actor{Kind: ByAgent, ID: agent}, t0); !errors.Is(err, ErrTransition) {
		t.Error("the agent completed the mission by itself (PS-205)")
	}
	w, tr, err := Terminate(r, mission.ReasonRevoked, Actor{Kind: ByAgent, ID: agent}, t0)
	if err != nil || !tr.RevokeTokens || w.Reason != mission.ReasonRevoked {
		t.Fatalf("withdraw: %+v %v", tr, err)
	}
	for name, f := range map[string]func() error{
		"suspend": func() error { _, _, err := Suspend(w, person, t0, 0); return err },
		"resume":  func() error { _, _, err := Resume(w, person, t0); return err },
		"again":   func() error { _, _, err := Terminate(w, mission.ReasonRevoked, person, t0); return err },
	} {
		if err := f(); !errors.Is(err, ErrTransition) {
			t.Errorf("%s after termination: %v", name, err)
		}
	}
	settled, tr := Settle(r, expires)
	if settled.Reason != mission.ReasonExpired || tr == nil || tr.RevokeTokens {
		t.Errorf("expiry: %+v %+v (expired tokens are capped, nothing to revoke)", settled, tr)
	}
}

// TestNarrowingOverlay: an accepted narrowing changes the effective set
// and its hash, never the approved one; the effective set refuses what
// was removed; anything that widens is refused whole.
func TestNarrowingOverlay(t *testing.T) {
	r := boardRecord(t)
	one := int64(1)
	o := Overlay{UpdateS256: "upd1", By: Actor{Kind: ByAgent, ID: agent}, At: t0, Narrowing: authority.Narrowing{
		RemoveEntries: []string{"treasury-cash"},
		AddExclusions: []authority.Exclusion{{ID: "no-sheets-write", Resource: &authority.ResourceRef{ID: "https://sheets.acme.example"}, Scopes: []string{"sheets.write"}}},
		Lower:         []authority.Lowering{{Entry: "release-board", MaxGrants: &one}},
	}}
	n, set, hash, err := AcceptNarrowing(r, o, authority.ParseOptions{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if hash == r.AuthorityHash || set.Entry("treasury-cash") != nil || *set.Entry("release-board").Constraints.MaxGrants != 1 {
		t.Fatalf("narrowing not applied: %s", hash)
	}
	if h, _ := r.Authority.Hash(); h != r.AuthorityHash {
		t.Fatal("the approved set changed")
	}
	if _, again, _ := n.Effective(authority.ParseOptions{}); again != hash {
		t.Fatal("the effective hash is not reproducible from the overlays")
	}
	in := evalInput(n, t0)
	in.Mission.Set, in.Mission.EffectiveHash = set, hash
	in.Request = authority.Request{Resource: "https://sheets.acme.example", Scopes: []string{"sheets.write"}}
	if d := authority.Evaluate(in); d.Reason != "excluded" || d.Exclusion != "no-sheets-write" {
		t.Fatalf("after narrowing: %+v", d)
	}
	three := int64(5)
	for name, bad := range map[string]authority.Narrowing{
		"raise":         {Lower: []authority.Lowering{{Entry: "release-board", MaxGrants: &three}}},
		"open outside":  {DefaultOutside: "consent"},
		"unknown entry": {RemoveEntries: []string{"nope"}},
		"bad exclusion": {AddExclusions: []authority.Exclusion{{ID: "BAD ID", ResourceClass: "hr.*"}}},
		"clashing id":   {AddExclusions: []authority.Exclusion{{ID: "fin-read", ResourceClass: "hr.*"}}},
		"longer tokens": {Lower: []authority.Lowering{{Entry: "release-board", MaxTokenLifetime: ptr(900)}}},
	} {
		if _, _, _, err := AcceptNarrowing(r, Overlay{Narrowing: bad, By: person}, authority.ParseOptions{}, t0); err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
}

func ptr(v int64) *int64 { return &v }

// TestSuccessor: a successor continues the lineage, carries only the
// checkpoints it names and defines, and shows the diff.
func TestSuccessor(t *testing.T) {
	pred := boardRecord(t)
	succ, _ := authority.Narrow(pred.Authority, authority.Narrowing{RemoveEntries: []string{"docs-assemble"}}, authority.ParseOptions{})
	succ.Entries = append(succ.Entries, authority.Entry{ID: "crm-read", Target: authority.TargetResource,
		Resource: &authority.ResourceRef{ID: "https://crm.acme.example"}, Scopes: []string{"crm.read"}})
	cps := map[string]authority.CheckpointRecord{"numbers_reconciled": {RecordedAt: t0}, "cfo_release_approval": {RecordedAt: t0}}
	plan, err := PlanSuccessor(pred, cps, agent, succ, []string{"numbers_reconciled", "unknown"}, authority.ParseOptions{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if plan.LineageRoot != pred.ID || plan.Supersedes != pred.ID || len(plan.Carried) != 1 {
		t.Fatalf("plan: %+v", plan)
	}
	if len(plan.Diff.AddedEntries) != 1 || plan.Diff.AddedEntries[0] != "crm-read" || len(plan.Diff.RemovedEntries) != 1 {
		t.Fatalf("diff: %+v", plan.Diff)
	}
	lines := plan.Diff.Lines(pred.Authority, succ, nil)
	if len(lines) != 2 || !strings.HasPrefix(lines[0].Text, "New: Use (crm.read) at https://crm.acme.example") ||
		lines[1].Ref != "docs-assemble" || !strings.HasPrefix(lines[1].Text, "No longer: ") {
		t.Fatalf("diff lines %+v", lines)
	}
	if _, err := PlanSuccessor(pred, cps, "aauth:other@agents.example", succ, nil, authority.ParseOptions{}, t0); err == nil {
		t.Error("another agent proposed a successor")
	}
	ended, tr, err := Terminate(pred, mission.ReasonSuperseded, person, t0)
	if err != nil || ended.Reason != mission.ReasonSuperseded || !tr.RevokeTokens {
		t.Fatalf("supersede: %v", err)
	}
}

func evalInput(r Record, now time.Time) authority.Input {
	set, hash, _ := r.Effective(authority.ParseOptions{})
	cat := &authority.Catalog{Resources: map[string]authority.CatalogResource{"https://finance.acme.example": {Class: "finance.ledger"}}}
	return authority.Input{Point: authority.PointToken, Mode: authority.ThreeParty, Now: now, PersonReachable: true, Catalog: cat,
		Request: authority.Request{Resource: "https://finance.acme.example", Scopes: []string{"ledger.read"}},
		Mission: authority.Snapshot{Lifecycle: r.Lifecycle(), Set: set, EffectiveHash: hash, Version: r.Version}}
}
