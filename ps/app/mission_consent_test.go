package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestMissionApprovalIsConsentWithinTheMissionOnly (issue 9 item 4): a
// mission's approval lets its agent have person tokens for the approved
// resources under that mission (PS-182, PS-201), and nothing outside it.
// The review page says so: to whom, for how long ("this mission only") and
// what the resource receives. A bare person-token request for the same
// resource afterwards asks the person (202, PS-063) on a page that says
// the consent stands "until you remove it"; no standing consent was
// written by the approval. /access lists the mission's access apart from
// standing permissions, each with its last use (issue 9 item 5).
func TestMissionApprovalIsConsentWithinTheMissionOnly(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	before := w.ps.TableCounts(t)

	s := w.propose(t, w.agent, `{"description":"# Trip","resources":["https://rs.test"],"capabilities":["interaction"]}`)
	pg := open(t, b, s)
	for _, want := range []string{"What you grant", w.agent.ID, "This mission only", "Outside this mission the agent must ask you again",
		"an identifier for you that only this resource sees", "this mission&#39;s identifier"} {
		if !strings.Contains(pg.HTML, want) {
			t.Fatalf("the mission review does not say %q:\n%s", want, pg.HTML)
		}
	}
	if pg := b.Post(t, s.path()+"/approve", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("approve: %d\n%s", pg.Status, pg.HTML)
	}
	ap := decodeApproval(t, w.poll(t, w.agent, s.loc))
	if got := w.ps.TableCounts(t)["resource_consents"]; got != before["resource_consents"] {
		t.Fatalf("the mission approval wrote a standing consent: %d rows, want %d", got, before["resource_consents"])
	}

	// Within the mission: issued at once, naming the mission.
	in := w.post(t, w.agent, "/person", missionBody("https://rs.test", ap.s256))
	if in.status != http.StatusOK {
		t.Fatalf("within the mission: %d %s", in.status, in.raw)
	}
	if _, claims := claimsOf(t, in.body["person_token"].(string)); claims["mission_s256"] != ap.s256 {
		t.Fatalf("the token within the mission names mission_s256 %v, want %s", claims["mission_s256"], ap.s256)
	}

	// /access (issue 9 item 5): the mission's access is listed as for the
	// mission only, linked to its page, and no standing permission exists.
	pg = b.Get(t, "/access")
	if !strings.Contains(pg.HTML, "For a mission only") || !strings.Contains(pg.HTML, `href="/missions/`+ap.s256+`"`) ||
		!strings.Contains(pg.HTML, "No agent holds a standing permission from you.") {
		t.Fatalf("/access after the approval:\n%s", pg.HTML)
	}

	// Outside the mission: the person is asked, and the page says the
	// consent would stand until removed.
	outside := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
	expect202(t, w.poll(t, w.agent, outside.loc), w.ps.Issuer)
	cp := open(t, b, outside)
	for _, want := range []string{"What you grant", "Until you remove it", "a person token with an identifier for you"} {
		if !strings.Contains(cp.HTML, want) {
			t.Fatalf("the person-token consent page does not say %q:\n%s", want, cp.HTML)
		}
	}
	if strings.Contains(cp.HTML, "This mission only") {
		t.Fatalf("a bare person-token consent is worded as a mission grant:\n%s", cp.HTML)
	}
	b.Post(t, outside.path()+"/approve", nil)
	r := w.poll(t, w.agent, outside.loc)
	if r.status != http.StatusOK {
		t.Fatalf("after consent: %d %s", r.status, r.raw)
	}
	if _, claims := claimsOf(t, r.body["person_token"].(string)); claims["mission_s256"] != nil {
		t.Fatalf("a token outside the mission carries mission_s256 %v", claims["mission_s256"])
	}
	if got := w.ps.TableCounts(t)["resource_consents"]; got != before["resource_consents"]+1 {
		t.Fatalf("the consent outside the mission: %d rows, want %d", got, before["resource_consents"]+1)
	}

	// The standing consent is listed with its last use: the issuance that
	// followed the consent, recorded in the same transaction.
	pg = b.Get(t, "/access")
	if strings.Contains(pg.HTML, "No agent holds a standing permission") || !strings.Contains(pg.HTML, `data-label="Last used"><time`) {
		t.Fatalf("/access after the consent does not list its last use:\n%s", pg.HTML)
	}
}
