package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// expectHeld asserts the 202 of a request held by a suspension: Location,
// requirement=approval (the draft's short-pause tool, design §5), pending.
func (w *world) expectHeld(t *testing.T, r result) string {
	t.Helper()
	loc := expect202(t, r, w.ps.Issuer)
	if req, _ := requirement(t, r); req != "approval" {
		t.Fatalf("a held request: requirement %q, want approval: %s", req, r.raw)
	}
	return loc
}

// missionStatus reads the mission through mission control.
func missionStatus(t *testing.T, w *world, b *pstest.Browser, s256 string) result {
	t.Helper()
	r := mc(t, w, b, http.MethodGet, "/missions/"+s256, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("mission control status: %d %s", r.status, r.raw)
	}
	return r
}

// verifyExport exports the mission's evidence bundle through mission
// control and verifies it offline; it returns the report and the records'
// types in order.
func verifyExport(t *testing.T, w *world, b *pstest.Browser, s256 string) (evidence.Report, []string) {
	t.Helper()
	bundle := exportBundle(t, w, b, s256)
	keys, err := evidence.ParseKeySet(bundle.JWKS)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, raw := range bundle.Records {
		var rec evidence.Record
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		types = append(types, rec.Type)
	}
	rep := evidence.Verify(bundle, keys)
	// Decision replay (issue 10): every decision the PS made replays.
	decisions := 0
	for _, typ := range types {
		if typ == evidence.RuntimeDecision {
			decisions++
		}
	}
	if rep.OK && (rep.Replayed != decisions || rep.NotReplayed != 0) {
		t.Errorf("%d of %d decisions replayed (%d without input)", rep.Replayed, decisions, rep.NotReplayed)
	}
	return rep, types
}

// TestMissionSuspendHoldsResumeReleases (issue 10, Must-show 4; design
// §5): the person suspends a mission from mission control; on the wire it
// stays active; the outstanding tokens are revoked (PS-212 with
// suspend_revokes) at the PS and at the resource; a new person-token
// request under it is held (202, requirement=approval) and polls pending;
// resuming releases it through the normal decision and the poll gets the
// person token. Each transition is in the log and in the evidence chain,
// with a signed head, and the exported bundle verifies.
func TestMissionSuspendHoldsResumeReleases(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	m := w.approveMission(t, w.agent, b, `{"description":"# Plan the week","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	pt := m.res.body["person_tokens"].(map[string]any)["https://rs.test"].(string)
	csrf := csrfOf(t, b)

	r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/suspend", "", csrf)
	if r.status != http.StatusOK || r.body["mission_status"] != "active" || r.body["hold"] == nil {
		t.Fatalf("suspend: %d %s (a suspended mission is active on the wire, with its hold)", r.status, r.raw)
	}
	if ok, err := w.ps.App.Store.IsRevoked(ctxT(), w.ps.Issuer, jtiOf(t, pt)); err != nil || !ok {
		t.Fatalf("the approval's person token is not revoked by the suspension: %v %v", ok, err)
	}
	waitRevoked(t, w, rs, pt)
	settleRevocations(t, w)

	held := w.expectHeld(t, w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)))
	if st := w.pollState(t, w.agent, held); st != "pending" {
		t.Fatalf("held poll status %q", st)
	}
	// Suspending again is refused and changes nothing.
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/suspend", "", csrf); r.status != http.StatusConflict || r.body["error"] != aauth.ErrInvalidTransition ||
		r.body["detail"] != "only an active mission can be suspended" {
		t.Fatalf("suspend twice: %d %s", r.status, r.raw)
	}

	r = mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/resume", "", csrf)
	if r.status != http.StatusOK || r.body["mission_status"] != "active" || r.body["hold"] != nil {
		t.Fatalf("resume: %d %s", r.status, r.raw)
	}
	got := w.poll(t, w.agent, held)
	if got.status != http.StatusOK || got.body["person_token"] == nil {
		t.Fatalf("the released request: %d %s, want the person token", got.status, got.raw)
	}
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/resume", "", csrf); r.status != http.StatusConflict {
		t.Fatalf("resume an active mission: %d %s", r.status, r.raw)
	}

	log := mc(t, w, b, http.MethodGet, "/missions/"+m.s256+"/log", "", "")
	for _, kind := range []string{`"kind":"suspension"`, `"kind":"resumption"`} {
		if !strings.Contains(string(log.raw), kind) {
			t.Fatalf("the mission log has no %s: %s", kind, log.raw)
		}
	}
	rep, types := verifyExport(t, w, b, m.s256)
	if !rep.OK || rep.SignedHeads != 3 {
		t.Fatalf("evidence: %+v %v", rep, types)
	}
	// The suspension with its signed head and the outcome of the token
	// revocation it sent (design §5, §7 revocation_result), the
	// resumption with its signed head; then the released request's
	// decision by the mission's Authority Set, and the head the export
	// signed over it.
	want := []string{evidence.LifecycleTransition, evidence.ChainHead, evidence.RevocationResult, evidence.LifecycleTransition,
		evidence.ChainHead, evidence.RuntimeDecision, evidence.ChainHead}
	if len(types) < len(want) || strings.Join(types[len(types)-len(want):], ",") != strings.Join(want, ",") {
		t.Fatalf("evidence records %v, want the chain to end with %v", types, want)
	}
}

// TestMissionHoldTimeout (issue 10, Must-show 4; design §5): a suspension
// nobody resumes ends the mission at its hold timeout (fake clock):
// the held request's next poll gets 403 mission_terminated with reason
// administrative (PS-158), new requests get the same (PS-211's lazy check
// on every path), and the housekeeping step records the termination with
// its evidence.
func TestMissionHoldTimeout(t *testing.T) {
	t.Parallel()
	w, b, _ := authWorld(t)
	m := w.approveMission(t, w.agent, b, `{"description":"# Hold me","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	csrf := csrfOf(t, b)
	for _, bad := range []string{`{"hold":"forever"}`, `{"hold":"25h"}`, `{"hold":"-1m"}`, `{"wait":"1m"}`, `[`} {
		if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/suspend", bad, csrf); r.status != http.StatusBadRequest || r.body["error"] != aauth.ErrInvalidRequest {
			t.Fatalf("suspend with %s: %d %s", bad, r.status, r.raw)
		}
	}
	if st := missionStatus(t, w, b, m.s256); st.body["hold"] != nil {
		t.Fatalf("a refused suspension changed the mission: %s", st.raw)
	}
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/suspend", `{"hold":"2m"}`, csrf); r.status != http.StatusOK {
		t.Fatalf("suspend: %d %s", r.status, r.raw)
	}
	settleRevocations(t, w) // the suspension's revocation_result precedes the end
	held := w.expectHeld(t, w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)))

	w.clock.Advance(2*time.Minute + time.Second)
	expectTerminated(t, w.terminal(t, w.agent, held, http.StatusForbidden, aauth.ErrMissionTerminated), "administrative")
	expectTerminated(t, w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)), "administrative")

	n, err := w.ps.App.Lifecycle.SettleDue(ctxT())
	if err != nil || n != 1 {
		t.Fatalf("SettleDue = %d, %v; want the one mission held past its hold", n, err)
	}
	if n, _ := w.ps.App.Lifecycle.SettleDue(ctxT()); n != 0 {
		t.Fatalf("a second SettleDue ended %d more", n)
	}
	st := missionStatus(t, w, b, m.s256)
	if st.body["mission_status"] != "terminated" || st.body["termination_reason"] != "administrative" {
		t.Fatalf("after the hold: %s", st.raw)
	}
	// A terminated mission never resumes (PS-206).
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/resume", "", csrf); r.status != http.StatusConflict {
		t.Fatalf("resume after the timeout: %d %s", r.status, r.raw)
	}
	rep, types := verifyExport(t, w, b, m.s256)
	if !rep.OK || types[len(types)-2] != evidence.LifecycleTransition {
		t.Fatalf("evidence: %+v %v", rep, types)
	}
}

// TestMissionRevokeRevokesTokens (issue 10, Must-show 4; PS-212): the
// person revokes from the mission page (PRG); the person and auth tokens
// issued under it are revoked in the PS's records and at the resource's
// revocation endpoint; the agent's next request is 403 mission_terminated;
// the revocation is evidenced with a signed head.
func TestMissionRevokeRevokesTokens(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	m := w.approveMission(t, w.agent, b, `{"description":"# Revoke me","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	pt := personToken(t, w, b, rs, missionBody("https://rs.test", m.s256))
	at := authTokenFor(t, w, b, rs, pt)

	if pg := b.Post(t, "/missions/"+m.s256+"/revoke", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d\n%s", pg.Status, pg.HTML)
	}
	for _, tok := range []string{pt, at} {
		if ok, err := w.ps.App.Store.IsRevoked(ctxT(), w.ps.Issuer, jtiOf(t, tok)); err != nil || !ok {
			t.Fatalf("a token of the revoked mission is not revoked at the PS: %v %v", ok, err)
		}
		waitRevoked(t, w, rs, tok)
	}
	settleRevocations(t, w) // every delivery's revocation_result is on the chain before the export signs its head
	expectTerminated(t, w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)), "revoked")
	if pg := b.Get(t, "/missions/"+m.s256); !strings.Contains(pg.HTML, "ended: revoked") || strings.Contains(pg.HTML, "/suspend") {
		t.Fatalf("the mission page after revoking:\n%s", pg.HTML)
	}
	rep, types := verifyExport(t, w, b, m.s256)
	if !rep.OK || types[len(types)-1] != evidence.ChainHead {
		t.Fatalf("evidence: %+v %v", rep, types)
	}
}

// TestMissionLifecycleWhoMay: another person's mission is 404 (no
// oracle); a person cannot resume an administrator's suspension (403
// admin_required) and nothing changes; the administrator can.
func TestMissionLifecycleWhoMay(t *testing.T) {
	t.Parallel()
	w, alice, _ := authWorld(t)
	bob := w.person(t, "bob", false)
	carol := w.person(t, "carol", true)
	m := w.approveMission(t, w.agent, alice, `{"description":"# Mine","capabilities":["interaction"]}`, nil)
	if r := mc(t, w, bob, http.MethodPost, "/missions/"+m.s256+"/suspend", "", csrfOf(t, bob)); r.status != http.StatusNotFound || r.body["error"] != aauth.ErrMissionNotFound {
		t.Fatalf("bob suspends alice's mission: %d %s", r.status, r.raw)
	}
	if r := mc(t, w, carol, http.MethodPost, "/missions/"+m.s256+"/suspend", "", csrfOf(t, carol)); r.status != http.StatusOK || r.body["hold"].(map[string]any)["by"] != "admin" {
		t.Fatalf("the administrator suspends: %d %s", r.status, r.raw)
	}
	if r := mc(t, w, alice, http.MethodPost, "/missions/"+m.s256+"/resume", "", csrfOf(t, alice)); r.status != http.StatusForbidden || r.body["error"] != aauth.ErrAdminRequired {
		t.Fatalf("alice resumes the administrator's hold: %d %s", r.status, r.raw)
	}
	if r := mc(t, w, alice, http.MethodPost, "/missions/"+m.s256+"/resume", "", ""); r.status != http.StatusForbidden || r.body["error"] != aauth.ErrInvalidCSRF {
		t.Fatalf("resume without CSRF: %d %s", r.status, r.raw)
	}
	if st := missionStatus(t, w, alice, m.s256); st.body["hold"] == nil {
		t.Fatalf("a refused resume changed the mission: %s", st.raw)
	}
	if r := mc(t, w, carol, http.MethodPost, "/missions/"+m.s256+"/resume", "", csrfOf(t, carol)); r.status != http.StatusOK || r.body["hold"] != nil {
		t.Fatalf("the administrator resumes: %d %s", r.status, r.raw)
	}
}

// TestMissionSuspendHoldsAuthTokens (issue 10, design §5 with
// --mission-suspend-revokes=false): the outstanding person token stays
// valid through the suspension; an auth-token request presenting it is
// held (202, requirement=approval) and, on resumption, issued at once
// under the person's remembered grant.
func TestMissionSuspendHoldsAuthTokens(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorldWith(t, pstest.Options{Configure: func(c *config.Config) { c.MissionSuspendRevokes = false }})
	m := w.approveMission(t, w.agent, b, `{"description":"# Keep tokens","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	pt := personToken(t, w, b, rs, missionBody("https://rs.test", m.s256))
	authTokenFor(t, w, b, rs, pt) // the person grants calendar.read once
	csrf := csrfOf(t, b)
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/suspend", "", csrf); r.status != http.StatusOK {
		t.Fatalf("suspend: %d %s", r.status, r.raw)
	}
	if ok, _ := w.ps.App.Store.IsRevoked(ctxT(), w.ps.Issuer, jtiOf(t, pt)); ok {
		t.Fatal("the person token was revoked although suspension keeps tokens")
	}
	rt := resourceToken(t, w, rs, pt, "calendar.read", nil)
	held := w.expectHeld(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt})))
	if st := w.pollState(t, w.agent, held); st != "pending" {
		t.Fatalf("held poll status %q", st)
	}
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/resume", "", csrf); r.status != http.StatusOK {
		t.Fatalf("resume: %d %s", r.status, r.raw)
	}
	got := w.poll(t, w.agent, held)
	if got.status != http.StatusOK || got.body["auth_token"] == nil {
		t.Fatalf("the released auth-token request: %d %s", got.status, got.raw)
	}
}

// TestMissionSuspendHoldsPermissions (issue 10, design §5): a permission
// request under a suspended mission is held too (202,
// requirement=approval); on resumption the approved tool is granted.
func TestMissionSuspendHoldsPermissions(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	m := w.approveMission(t, w.agent, b, `{"description":"Plan a trip","tools":[{"name":"WebSearch"}],"capabilities":["interaction"]}`, nil)
	csrf := csrfOf(t, b)
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/suspend", "", csrf); r.status != http.StatusOK {
		t.Fatalf("suspend: %d %s", r.status, r.raw)
	}
	held := w.expectHeld(t, w.post(t, w.agent, "/permission", `{"action":"WebSearch","mission_s256":"`+m.s256+`"}`))
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/resume", "", csrf); r.status != http.StatusOK {
		t.Fatalf("resume: %d %s", r.status, r.raw)
	}
	expectPermission(t, w.poll(t, w.agent, held), "granted")
}

// TestMissionHoldOutlivesPendingLifetime (issue 10, Must-show 4; design
// §5; PS-155, PS-158): a request held by a suspension lives until the
// mission's hold ends (--mission-hold-timeout, 15 min by default), not the
// pending engine's default lifetime (10 min). Past 10 min and before 15 a
// resumption still releases it and its poll gets the person token; a
// second suspension past 15 min ends the mission and the held request's
// poll gets 403 mission_terminated (administrative), not 408 expired.
func TestMissionHoldOutlivesPendingLifetime(t *testing.T) {
	t.Parallel()
	w, b, m, csrf, held := suspendedWithHeld(t, "# Hold me long")
	w.clock.Advance(11 * time.Minute)
	if st := w.pollState(t, w.agent, held); st != "pending" {
		t.Fatalf("held 11 min under a 15 min hold: poll status %q, want pending", st)
	}
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/resume", "", csrf); r.status != http.StatusOK {
		t.Fatalf("resume: %d %s", r.status, r.raw)
	}
	if got := w.poll(t, w.agent, held); got.status != http.StatusOK || got.body["person_token"] == nil {
		t.Fatalf("the request released after 11 min: %d %s, want the person token", got.status, got.raw)
	}

	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/suspend", "", csrf); r.status != http.StatusOK {
		t.Fatalf("suspend again: %d %s", r.status, r.raw)
	}
	held = w.expectHeld(t, w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)))
	w.clock.Advance(14 * time.Minute)
	if st := w.pollState(t, w.agent, held); st != "pending" {
		t.Fatalf("held 14 min under a 15 min hold: poll status %q, want pending", st)
	}
	w.clock.Advance(time.Minute + time.Second)
	expectTerminated(t, w.terminal(t, w.agent, held, http.StatusForbidden, aauth.ErrMissionTerminated), "administrative")
}

// exportBundle reads the mission's evidence bundle through mission control.
func exportBundle(t *testing.T, w *world, b *pstest.Browser, s256 string) evidence.Bundle {
	t.Helper()
	r := mc(t, w, b, http.MethodGet, "/missions/"+s256+"/evidence", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("evidence export: %d %s", r.status, r.raw)
	}
	var bundle evidence.Bundle
	if err := json.Unmarshal(r.raw, &bundle); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// TestEvidenceHeadsSignedHourlyAndAtExport (issue 10, Must-show 5;
// design §7, Level 4): besides each lifecycle transition, the PS signs a
// mission chain's head hourly when it moved (the housekeeping step,
// fake clock) and at every export, so an exported bundle ends with a
// signed head covering every runtime decision in it. A bundle whose
// signed head was tampered with fails `evidence verify` at that record
// against the PS's JWKS in the bundle.
func TestEvidenceHeadsSignedHourlyAndAtExport(t *testing.T) {
	t.Parallel()
	w, b, _ := authWorld(t)
	m := w.approveMission(t, w.agent, b, `{"description":"# Sign me","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	signDue := func(want int) {
		t.Helper()
		if n, err := w.ps.App.Lifecycle.SignHeadsDue(ctxT()); err != nil || n != want {
			t.Fatalf("SignHeadsDue = %d, %v; want %d", n, err, want)
		}
	}
	personToken := func() {
		t.Helper()
		if r := w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)); r.status != http.StatusOK {
			t.Fatalf("person token: %d %s", r.status, r.raw)
		}
		w.clock.Advance(time.Second) // the next request is a fresh signature
	}

	// At export: the bundle ends with a head signing the last decision.
	personToken()
	bundle := exportBundle(t, w, b, m.s256)
	keys, err := evidence.ParseKeySet(bundle.JWKS)
	if err != nil {
		t.Fatal(err)
	}
	last := len(bundle.Records) - 1
	rep := evidence.Verify(bundle, keys)
	if !rep.OK || rep.SignedHeads != 1 || rep.LastSignedSeq != int64(last-1) {
		t.Fatalf("the export: %+v over %d records; want 1 signed head, over record %d", rep, last+1, last-1)
	}
	var rec evidence.Record
	if err := json.Unmarshal(bundle.Records[last-1], &rec); err != nil || rec.Type != evidence.RuntimeDecision {
		t.Fatalf("the record the export's head signs: %v %s, want the last runtime decision", err, rec.Type)
	}

	// Hourly: a chain that moved, once its last signed head is an hour old.
	signDue(0) // its head is a signed head
	personToken()
	signDue(0) // moved, but signed less than an hour ago
	w.clock.Advance(time.Hour)
	signDue(1)
	signDue(0)

	// Tamper with the signed head: its JWS's signature.
	var head map[string]any
	if err := json.Unmarshal(bundle.Records[last], &head); err != nil {
		t.Fatal(err)
	}
	body := head["body"].(map[string]any)
	jws := body["jws"].(string)
	sig := jws[strings.LastIndex(jws, ".")+1:]
	flip := "A"
	if sig[0] == 'A' {
		flip = "B"
	}
	body["jws"] = jws[:strings.LastIndex(jws, ".")+1] + flip + sig[1:]
	tampered, err := json.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	bundle.Records[last] = tampered
	if rep := evidence.Verify(bundle, keys); rep.OK || rep.FirstBad != last || rep.Chain != "mission" ||
		!strings.Contains(rep.Problem, "signature does not verify") {
		t.Fatalf("a tampered signed head: %+v, want a failure at record %d", rep, last)
	}
}

// TestHeldRequestReleasedAtPollAfterCutResume (design §5, docs/decisions.md
// "Held requests"; found by internal/reliability's TestKillDuringEnds): a
// resumption commits, and its held requests are released only after it;
// a process killed in between left them held under an active mission,
// 202 to every poll until they expired. The agent's next poll now
// releases such a request (the person token is issued), and a late
// release from the resumption finds it answered and issues nothing more.
func TestHeldRequestReleasedAtPollAfterCutResume(t *testing.T) {
	t.Parallel()
	w, _, m, _, held := suspendedWithHeld(t, "# Cut resume")
	// The resumption's commit without its release (the process died).
	st := w.ps.App.Store
	ms, err := st.Mission(ctxT(), m.s256)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := st.SetMissionHold(ctxT(), m.s256, ms.Version, nil); err != nil || !ok {
		t.Fatalf("clearing the hold: %v %v", ok, err)
	}
	got := w.poll(t, w.agent, held)
	if got.status != http.StatusOK || got.body["person_token"] == nil {
		t.Fatalf("the held request's poll after its mission resumed: %d %s, want the person token", got.status, got.raw)
	}
	before := storetest.CountWhere(t, st, "person_token_records", "mission_s256 = ?", m.s256)
	if n, err := w.ps.App.Interact.ReleaseHeld(ctxT(), ms.PersonID, m.s256); err != nil || n != 0 {
		t.Fatalf("a late release: %d released, %v; want none (answered already)", n, err)
	}
	if after := storetest.CountWhere(t, st, "person_token_records", "mission_s256 = ?", m.s256); after != before {
		t.Fatalf("a late release issued %d more person tokens", after-before)
	}
}

// TestHeldRequestReleaseClaimLapses (docs/decisions.md "Held requests"):
// a release claims its held request first (stage releasing), so that the
// resumption's release and a poll never both decide it; a claim whose
// releaser died (killed between the claim and the answer) is taken over
// by the agent's poll once its lease (3 s) has passed, and not before.
func TestHeldRequestReleaseClaimLapses(t *testing.T) {
	t.Parallel()
	w, _, m, _, held := suspendedWithHeld(t, "# Claimed, then cut")
	st, id := w.ps.App.Store, held[strings.LastIndex(held, "/")+1:]
	ms, err := st.Mission(ctxT(), m.s256)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := st.SetMissionHold(ctxT(), m.s256, ms.Version, nil); err != nil || !ok {
		t.Fatalf("clearing the hold: %v %v", ok, err)
	}
	// The resumption's release claimed it, then died.
	if _, err := w.ps.App.Engine.Update(ctxT(), id, func(x *pending.Request) error {
		x.Stage = interact.StageReleasing
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A long poll (Prefer: wait) on the PS's clock as it is: no slow_down,
	// and the lease not moved on (w.poll advances the clock 6 s).
	req := signed(t, w.agent, http.MethodGet, held, nil, conformance.WithCreatedOffset(w.clock.Offset()))
	req.Header.Set("Prefer", "wait=1")
	if got := w.do(t, req); got.status != http.StatusAccepted {
		t.Fatalf("a poll within the claim's lease: %d %s, want 202 (the claim's releaser may still answer)", got.status, got.raw)
	}
	if got := w.poll(t, w.agent, held); got.status != http.StatusOK || got.body["person_token"] == nil {
		t.Fatalf("a poll after the claim's lease: %d %s, want the person token", got.status, got.raw)
	}
}

// suspendedWithHeld approves a mission described so for the world's agent,
// suspends it from mission control (the default hold) and has the
// agent's next person-token request under it held; it returns the
// person's browser and CSRF token and the held request's pending URL.
func suspendedWithHeld(t *testing.T, description string) (*world, *pstest.Browser, approved, string, string) {
	t.Helper()
	w, b, _ := authWorld(t)
	m := w.approveMission(t, w.agent, b, `{"description":"`+description+`","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	csrf := csrfOf(t, b)
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/suspend", "", csrf); r.status != http.StatusOK {
		t.Fatalf("suspend: %d %s", r.status, r.raw)
	}
	return w, b, m, csrf, w.expectHeld(t, w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)))
}
