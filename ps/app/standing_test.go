package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// standingPolicy is an operator policy with one standing template: the
// calendar agent's read-only missions at rs.test start without asking.
const standingPolicy = `{"policy_version":"p-1","templates":[{"name":"calendar-read@1","agents":["aauth:a1@ap.test"],
"resources":["https://rs.test"],"standing":true,"authority_set":{"object":"aauth-mm/authority-set/v1","default_outside":"deny",
"entries":[{"id":"cal-read","target":"resource","resource":{"id":"https://rs.test"},"scopes":["calendar.read"]}]}}]}`

// TestStandingApproval (issue 10, standing approval for headless use): a
// proposal that fits an operator template marked standing is approved at
// once — 200 with the approval at the mission endpoint, no person asked —
// and its evidence names the template as the consent anchor (the consent
// decision's actor is the template, not a person); the chain verifies
// offline. A proposal the template does not cover is reviewed by the
// person as usual (202).
func TestStandingApproval(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, []byte(standingPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	w, _, _ := missionWorld(t, pstest.Options{Configure: func(c *config.Config) { c.MissionPolicy = path }})
	ctx := context.Background()

	r := w.post(t, w.agent, "/mission", `{"description":"# Read my calendar","resources":["https://rs.test"],"capabilities":["interaction"]}`)
	if r.status != http.StatusOK {
		t.Fatalf("a proposal under a standing template: %d %s, want 200 at once", r.status, r.raw)
	}
	ap := decodeApproval(t, r)
	rec, err := w.ps.App.Store.Mission(ctx, ap.s256)
	if err != nil || rec.Composition == nil || !rec.Composition.Standing || rec.Composition.Template != "calendar-read@1" {
		t.Fatalf("stored mission: %+v %v", rec, err)
	}
	var rendering struct {
		Standing string `json:"standing"`
	}
	if err := json.Unmarshal(rec.Composition.ConsentRendering, &rendering); err != nil || rendering.Standing != "calendar-read@1" {
		t.Fatalf("the rendering does not name the standing template: %s", rec.Composition.ConsentRendering)
	}
	expectStandingEvidence(t, w, ap, rec, "standing_template", "calendar-read@1")

	// Outside the template (another resource): the person reviews it.
	r = w.post(t, w.agent, "/mission", `{"description":"# And mail","resources":["https://rs.test","https://mail.test"],"capabilities":["interaction"]}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("a proposal the template does not cover: %d %s, want 202", r.status, r.raw)
	}
}
