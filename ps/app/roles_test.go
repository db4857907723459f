package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// rolePolicy: a standing template whose calendar.write waits for a step
// someone with the role cfo records from the PS's UI.
var rolePolicy = pstest.RolePolicy("https://rs.test", "calendar.write")

// TestRoleApproverRecordsCheckpoint (issue 10, role approvers): a
// checkpoint approved by the role cfo is listed for a person holding cfo
// (home page and /roles) and recorded by them; the evidence names the
// recorder and the role, and the mission's person sees who recorded it.
// Nobody else can: the mission's own person (no role), a person with
// another role, a role holder after the role was removed — each gets the
// same 403 as for a mission or step that does not exist (no existence
// oracle), and nothing is recorded. Both databases.
func TestRoleApproverRecordsCheckpoint(t *testing.T) {
	for _, be := range storetest.Backends {
		t.Run(be.Name, func(t *testing.T) { roleApprover(t, be.NewMigratedURL(t)) })
	}
}

// roleMission starts a PS (with rs.test) under policy and has its agent
// propose the standing mission, approved at once: its s256.
func roleMission(t *testing.T, dbURL, policy string) (*world, *pstest.Browser, *conformance.Resource, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	w, alice, rs := authWorldWith(t, pstest.Options{DatabaseURL: dbURL, Configure: func(c *config.Config) { c.MissionPolicy = path }})
	r := w.post(t, w.agent, "/mission", `{"description":"# Plan the offsite","resources":["https://rs.test"],"capabilities":["interaction"]}`)
	if r.status != http.StatusOK {
		t.Fatalf("standing proposal: %d %s", r.status, r.raw)
	}
	return w, alice, rs, decodeApproval(t, r).s256
}

func roleApprover(t *testing.T, dbURL string) {
	w, alice, _, s256 := roleMission(t, dbURL, rolePolicy)
	ctx := context.Background()

	carol, dave := w.person(t, "carol", false), w.person(t, "dave", false)
	accounts := w.ps.App.Accounts
	carolP, _ := accounts.PersonByUsername(ctx, "carol")
	daveP, _ := accounts.PersonByUsername(ctx, "dave")
	// An administrator gives carol the role on the People page (audited);
	// an empty role and a non-administrator are refused.
	root := w.person(t, "root", true)
	if pg := root.Get(t, "/admin/persons"); !strings.Contains(pg.HTML, "Approver roles") {
		t.Fatal("the People page has no approver roles section")
	}
	if pg := root.Post(t, "/admin/roles", map[string]string{"person": carolP.ID, "role": "cfo"}); pg.Status != http.StatusSeeOther {
		t.Fatalf("giving the role: %d", pg.Status)
	}
	root.Get(t, "/admin/persons")
	root.Post(t, "/admin/roles", map[string]string{"person": daveP.ID, "role": " "})
	alice.Get(t, "/")
	if pg := alice.Post(t, "/admin/roles", map[string]string{"person": daveP.ID, "role": "cfo"}); pg.Status != http.StatusForbidden {
		t.Fatalf("a non-administrator giving a role: %d", pg.Status)
	}
	if roles, _ := accounts.ApproverRoles(ctx, daveP.ID); len(roles) != 0 {
		t.Fatalf("refused role changes changed dave: %v", roles)
	}
	if pg := root.Get(t, "/admin/persons"); !strings.Contains(pg.HTML, "Remove the role cfo from carol") {
		t.Fatal("the People page does not list carol's role")
	}
	trail, err := w.ps.App.Store.AuditEvents(ctx, 0, 5)
	if err != nil || len(trail) == 0 || trail[0].Action != "person.role-add" || trail[0].Target != "person:carol" || trail[0].Detail["role"] != "cfo" {
		t.Fatalf("audit trail: %+v %v", trail, err)
	}
	if _, err := accounts.AddApproverRole(ctx, daveP.ID, "treasurer"); err != nil {
		t.Fatal(err)
	}

	step := "/roles/steps/" + s256 + "/cfo_ok"
	refused := func(who string, b *pstest.Browser, path string) {
		t.Helper()
		b.Get(t, "/roles") // a fresh CSRF token
		pg := b.Post(t, path, nil)
		if pg.Status != http.StatusForbidden || strings.Contains(pg.HTML, "cfo_ok") || strings.Contains(pg.HTML, s256) {
			t.Fatalf("%s POST %s: %d, want the same 403 naming nothing\n%s", who, path, pg.Status, pg.HTML)
		}
	}
	// PS-IDs: none (an extension); design §2 stages, approver {"role": …}.
	refused("the mission's person (no role)", alice, step)
	refused("another role", dave, step)
	refused("the role holder, unknown step", carol, "/roles/steps/"+s256+"/nope")
	refused("the role holder, unknown mission", carol, "/roles/steps/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/cfo_ok")
	if pg := dave.Get(t, "/roles"); pg.Status != http.StatusOK || strings.Contains(pg.HTML, "cfo_ok") {
		t.Fatalf("dave's /roles lists the cfo step: %d", pg.Status)
	}
	// The mission's own page does not offer it to the person either.
	alice.Get(t, "/missions/"+s256)
	if pg := alice.Post(t, "/missions/"+s256+"/checkpoints/cfo_ok", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("the person recording a role step on the mission page: %d, want a refusal", pg.Status)
	}
	if snap, _ := w.ps.App.Store.MissionCounters(ctx, s256, s256); len(snap.Checkpoints) != 0 {
		t.Fatalf("a refused step was recorded: %+v", snap.Checkpoints)
	}

	// carol holds cfo: the home page points to the step, /roles lists it.
	if pg := carol.Get(t, "/"); !strings.Contains(pg.HTML, `href="/roles"`) || !strings.Contains(pg.HTML, "1 mission step waits") {
		t.Fatalf("carol's home page does not point to the role step:\n%s", pg.HTML)
	}
	pg := carol.Get(t, "/roles")
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, step) || !strings.Contains(pg.HTML, "Plan the offsite") {
		t.Fatalf("carol's /roles: %d\n%s", pg.Status, pg.HTML)
	}
	if pg := carol.Post(t, step, nil); pg.Status != http.StatusSeeOther || pg.Location != "/roles" {
		t.Fatalf("carol records the step: %d %q", pg.Status, pg.Location)
	}
	snap, err := w.ps.App.Store.MissionCounters(ctx, s256, s256)
	if rec, ok := snap.Checkpoints["cfo_ok"]; err != nil || !ok || rec.AgentAsserted || rec.Consumed {
		t.Fatalf("after carol recorded it: %+v %v", snap.Checkpoints, err)
	}
	recs, err := w.ps.App.Store.MissionEvidence(ctx, s256, evidence.CheckpointRecorded, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("checkpoint evidence: %d %v", len(recs), err)
	}
	var body struct {
		Checkpoint, Via, Role, RecordedBy string
	}
	_ = json.Unmarshal(recs[0].Record.Body, &struct {
		Checkpoint *string `json:"checkpoint"`
		Via        *string `json:"via"`
		Role       *string `json:"role"`
		RecordedBy *string `json:"recorded_by"`
	}{&body.Checkpoint, &body.Via, &body.Role, &body.RecordedBy})
	if a := recs[0].Record.Actor; a.Kind != "person" || a.ID != carolP.ID || body.Role != "cfo" || body.RecordedBy != carolP.ID ||
		body.Checkpoint != "cfo_ok" || body.Via != "control" {
		t.Fatalf("the evidence does not name the recorder and the role: %+v %+v", recs[0].Record.Actor, body)
	}
	if pg := alice.Get(t, "/missions/"+s256); !strings.Contains(pg.HTML, "carol recorded the step cfo_ok as cfo.") {
		t.Fatalf("the mission's person does not see who recorded the step")
	}
	// Recorded and unused: nothing to record again; not listed.
	refused("the role holder, recorded step", carol, step)
	if pg := carol.Get(t, "/roles"); strings.Contains(pg.HTML, step) {
		t.Fatal("a recorded step is still listed")
	}
	// A role removed: refused like any other.
	if _, err := accounts.RemoveApproverRole(ctx, carolP.ID, "cfo"); err != nil {
		t.Fatal(err)
	}
	if roles, _ := accounts.ApproverRoles(ctx, carolP.ID); len(roles) != 0 {
		t.Fatalf("roles after removal: %v", roles)
	}
}

// TestRoleApproverInlineCheckpoint (issue 10): a role checkpoint that is
// also satisfiable inline is not recorded by the mission's person
// approving the deferred auth-token request: their approval is decided
// again and the request keeps waiting for the role (202
// requirement=approval, stage role_step, the person's page says so), no
// token is issued and nothing is recorded. Once someone with the role
// records it on /roles, the same request is decided again with the
// person's yes and the agent's poll returns the token. Both databases.
func TestRoleApproverInlineCheckpoint(t *testing.T) {
	for _, be := range storetest.Backends {
		t.Run(be.Name, func(t *testing.T) { roleApproverInline(t, be.NewMigratedURL(t)) })
	}
}

// inlineRolePolicy: the cfo step may also be asked inline.
var inlineRolePolicy = strings.Replace(rolePolicy, `"satisfy_via":["control"]`, `"satisfy_via":["inline","control"]`, 1)

func roleApproverInline(t *testing.T, dbURL string) {
	w, alice, rs, s256 := roleMission(t, dbURL, inlineRolePolicy)
	ctx := context.Background()
	pt := personToken(t, w, alice, rs, missionBody("https://rs.test", s256))
	ask := func() result {
		rt := resourceToken(t, w, rs, pt, "calendar.write", nil)
		return w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt, "capabilities": []string{"interaction"}}))
	}
	// The person approves; the re-decision still waits for the role.
	s := w.expectInteraction(t, ask())
	open(t, alice, s)
	if pg := alice.Post(t, s.path()+"/approve", nil); pg.Status >= 400 {
		t.Fatalf("the person approves: %d", pg.Status)
	}
	got := w.poll(t, w.agent, s.loc)
	expect202(t, got, w.ps.Issuer)
	if req, _ := requirement(t, got); req != "approval" {
		t.Fatalf("after the person's yes the agent waits for the role: requirement %q, want approval", req)
	}
	if pg := alice.Get(t, s.path()); !strings.Contains(pg.HTML, "Waiting for a step someone else records") {
		t.Fatalf("the person's page of a request waiting for a role:\n%s", pg.HTML)
	}
	if pg := alice.Get(t, "/"); strings.Contains(pg.HTML, s.id) {
		t.Fatal("the home page lists the request the person allowed as waiting for them")
	}
	if snap, _ := w.ps.App.Store.MissionCounters(ctx, s256, s256); len(snap.Checkpoints) != 0 {
		t.Fatalf("the person's answer recorded a role step: %+v", snap.Checkpoints)
	}
	expectTokens(t, w, s256, 0)
	// carol, holding cfo, records it; the waiting request is issued.
	carol := roleHolder(t, w, "carol", "cfo")
	recordRoleStep(t, carol, s256, "cfo_ok")
	expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	expectTokens(t, w, s256, 1)
	// The single-use step was used by that token.
	if snap, _ := w.ps.App.Store.MissionCounters(ctx, s256, s256); !snap.Checkpoints["cfo_ok"].Consumed {
		t.Fatalf("the step after the token: %+v", snap.Checkpoints)
	}
	// The issuing decision resolves the waiting request with the person's yes.
	recs, err := w.ps.App.Store.MissionEvidence(ctx, s256, evidence.RuntimeDecision, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("decision evidence: %d %v", len(recs), err)
	}
	var dec struct {
		Outcome struct {
			Kind string `json:"kind"`
		} `json:"outcome"`
		Resolves string `json:"resolves"`
	}
	alicePerson, _ := w.ps.App.Accounts.PersonByUsername(ctx, "alice")
	if err := json.Unmarshal(recs[0].Record.Body, &dec); err != nil || dec.Outcome.Kind != "issue" || dec.Resolves != s.id ||
		recs[0].Record.Actor.Kind != "person" || recs[0].Record.Actor.ID != alicePerson.ID {
		t.Fatalf("the resumed decision's record: %+v %+v %v", recs[0].Record.Actor, dec, err)
	}

	// The person may still refuse a request waiting for the role: it ends
	// 403 denied, and a step recorded afterwards issues nothing.
	s = w.expectInteraction(t, ask())
	open(t, alice, s)
	alice.Post(t, s.path()+"/approve", nil)
	expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)
	alice.Get(t, s.path())
	alice.Post(t, s.path()+"/deny", nil)
	expectProblem(t, w.poll(t, w.agent, s.loc), http.StatusForbidden, "denied")
	recordRoleStep(t, carol, s256, "cfo_ok")
	expectTokens(t, w, s256, 1)
}

// roleHolder is a browser of a new person holding role.
func roleHolder(t *testing.T, w *world, username, role string) *pstest.Browser {
	t.Helper()
	b := w.person(t, username, false)
	p, err := w.ps.App.Accounts.PersonByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ps.App.Accounts.AddApproverRole(context.Background(), p.ID, role); err != nil {
		t.Fatal(err)
	}
	return b
}

// recordRoleStep has b record step id of mission s256 on /roles.
func recordRoleStep(t *testing.T, b *pstest.Browser, s256, id string) {
	t.Helper()
	b.Get(t, "/roles")
	if pg := b.Post(t, "/roles/steps/"+s256+"/"+id, nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("recording %s on /roles: %d", id, pg.Status)
	}
}

// expectTokens checks how many auth tokens mission s256 issued.
func expectTokens(t *testing.T, w *world, s256 string, n int) {
	t.Helper()
	recs, err := w.ps.App.Store.AuthTokenRecords(context.Background(), s256)
	if err != nil || len(recs) != n {
		t.Fatalf("auth tokens of the mission: %d (%v), want %d", len(recs), err, n)
	}
}
