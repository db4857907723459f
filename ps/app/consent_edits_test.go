package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestConsentEditRefusals (issue 10, consent page): every edit of the
// proposed Authority Set that the page did not offer or that would widen
// is answered with a redirect back to the page (PRG) and changes nothing:
// an unknown change, an entry that does not exist, a limit of 0 or not a
// number, a raised limit, an exclusion not offered, removing the last
// entry, refusing "anything else" twice; another person cannot edit the
// proposal at all. The approval then commits exactly the accepted edits.
// Recording a step on the mission page: an unknown step, or after the
// mission ended, is refused and records nothing; another person's
// mission is not found.
func TestConsentEditRefusals(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	ctx := context.Background()
	s := w.propose(t, w.agent, `{"description":"# Calendar","resources":["https://rs.test"],"capabilities":["interaction"]}`)
	open(t, b, s)
	narrow := func(fields map[string]string) {
		t.Helper()
		if pg := b.Post(t, s.path()+"/narrow", fields); pg.Status != http.StatusSeeOther || pg.Location != s.path() {
			t.Fatalf("narrow %v: %d %q, want 303 to the page", fields, pg.Status, pg.Location)
		}
		b.Get(t, s.path()) // the page again (and its CSRF token)
	}
	narrow(map[string]string{"op": "lower", "entry": "r1", "max_grants": "2"}) // accepted
	for _, bad := range []map[string]string{
		{"op": "widen"},
		{"op": "remove", "entry": "r9"},
		{"op": "remove", "entry": "r1"}, // the only entry: refuse the mission instead
		{"op": "lower", "entry": "r1", "max_grants": "0"},
		{"op": "lower", "entry": "r1", "max_grants": "many"},
		{"op": "lower", "entry": "r1", "max_grants": "3"},
		{"op": "exclude", "exclude": "resource:https://evil.test"},
		{"op": "checkpoint", "entry": "nope"},
	} {
		narrow(bad)
	}
	narrow(map[string]string{"op": "deny_other"})
	narrow(map[string]string{"op": "deny_other"}) // refused: already so

	bob := w.person(t, "bob", false)
	bob.Get(t, "/")
	if pg := bob.Post(t, s.path()+"/narrow", map[string]string{"op": "reset"}); pg.Status == http.StatusSeeOther {
		t.Fatalf("another person's edit: %d, want a refusal page", pg.Status)
	}

	narrow(map[string]string{"op": "checkpoint", "entry": "r1"}) // accepted
	if pg := b.Post(t, s.path()+"/approve", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("approve: %d", pg.Status)
	}
	ap := decodeApproval(t, w.poll(t, w.agent, s.loc))
	rec, err := w.ps.App.Store.Mission(ctx, ap.s256)
	if err != nil || rec.Composition == nil {
		t.Fatal(err)
	}
	p, err := authority.Parse(rec.Composition.AuthoritySet, authority.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := p.Set.Entry("r1")
	if e == nil || e.Constraints == nil || e.Constraints.MaxGrants == nil || *e.Constraints.MaxGrants != 2 ||
		p.Set.DefaultOutside != authority.OutsideDeny || len(p.Set.Exclusions) != 0 || len(e.Requires) != 1 || len(p.Set.Checkpoints) != 1 {
		t.Fatalf("the committed set is not the accepted edits: %s", rec.Composition.AuthoritySet)
	}
	step := p.Set.Checkpoints[0].ID

	// Recording steps on the mission page.
	page := "/missions/" + ap.s256
	b.Get(t, page)
	if pg := b.Post(t, page+"/checkpoints/nope", nil); pg.Status != http.StatusSeeOther || pg.Location != page {
		t.Fatalf("an unknown step: %d %q", pg.Status, pg.Location)
	}
	bob.Get(t, "/")
	if pg := bob.Post(t, page+"/checkpoints/"+step, nil); pg.Status != http.StatusNotFound {
		t.Fatalf("another person's mission: %d, want 404", pg.Status)
	}
	if snap, _ := w.ps.App.Store.MissionCounters(ctx, ap.s256, ap.s256); len(snap.Checkpoints) != 0 {
		t.Fatalf("a refused step was recorded: %+v", snap.Checkpoints)
	}
	b.Get(t, page)
	if pg := b.Post(t, page+"/revoke", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", pg.Status)
	}
	b.Get(t, page)
	if pg := b.Post(t, page+"/checkpoints/"+step, nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("a step of an ended mission: %d", pg.Status)
	}
	if snap, _ := w.ps.App.Store.MissionCounters(ctx, ap.s256, ap.s256); len(snap.Checkpoints) != 0 {
		t.Fatalf("a step of an ended mission was recorded: %+v", snap.Checkpoints)
	}
}
