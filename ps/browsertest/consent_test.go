package browsertest_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/mission/authority"
)

// The baseline set of the Japan trip proposal (design Example C): each
// resource asked the first time, the tools pre-approved, the rest asked.
const (
	flightsLine = "Use anything the resource offers at https://flights.test - you are asked the first time"
	hotelsLine  = "Use anything the resource offers at https://hotels.test - you are asked the first time"
	toolsLine   = "Use the WebSearch and BookHotel tools"
	askedLine   = "Anything else: you will be asked first"
)

// proposeTrip is the bound agent proposing the Japan trip; the person
// opens its consent page.
func proposeTrip(t *testing.T, w *world, b *browser) interaction {
	t.Helper()
	res, _ := w.postJSON(t, w.ps.URL("/mission"), map[string]any{
		"description": proposedDescription,
		"tools": []map[string]string{
			{"name": "WebSearch", "description": "Search the web for options"},
			{"name": "BookHotel", "description": "Book a hotel room"},
		},
		"resources":    []string{"https://flights.test", "https://hotels.test"},
		"capabilities": []string{"interaction"},
	})
	in := w.expectInteraction(t, "POST /mission", res)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Your agent proposes a mission")
	return in
}

// rules is the text of the consent page's "What the mission would allow".
func (b *browser) rules() string {
	b.t.Helper()
	return run(b, "read the rules", chromedp.Evaluate[string](`document.querySelector(".assert-rules").innerText`))
}

// expectRules fails unless the rules section holds every want and none of
// the unwanted (prefixed with "!").
func (b *browser) expectRules(wants ...string) {
	b.t.Helper()
	got := b.rules()
	for _, w := range wants {
		if not, ok := strings.CutPrefix(w, "!"); ok {
			if strings.Contains(got, not) {
				b.t.Fatalf("the rules still show %q:\n%s", not, got)
			}
		} else if !strings.Contains(got, w) {
			b.t.Fatalf("the rules do not show %q:\n%s", w, got)
		}
	}
}

// expectRefusal fails unless the page shows the refusal alert msg.
func (b *browser) expectRefusal(msg string) {
	b.t.Helper()
	got := run(b, "read the alert", chromedp.Evaluate[string](`(document.querySelector('[role="alert"]')?.innerText || "")`))
	if !strings.Contains(got, msg) {
		b.t.Fatalf("the page's alert is %q, want %q", got, msg)
	}
}

// TestBrowserMissionConsentNarrowing (issue 10, consent page): the
// proposal's consent page shows the derived Authority Set as plain
// sentences in its own section, apart from what the agent says; the person
// removes an entry, lowers a limit, adds an exclusion and a checkpoint and
// refuses anything else, each a POST answered by a redirect to the same
// page (reload shows the same set: the edits live with the proposal); a
// change that would widen, or that the page did not offer, is refused with
// an alert and changes nothing; "Undo my changes" restores the derived
// set. The page passes the audit (axe-core, 1280 and 390 px) before and
// after the edits. PS-168 (agent text kept apart), PS-218.
func TestBrowserMissionConsentNarrowing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")
	in := proposeTrip(t, w, b)
	path := strings.TrimPrefix(in.url, w.ps.Issuer)

	b.expectRules("What the mission would allow", "built these rules from the resources and tools the agent listed",
		flightsLine, hotelsLine, toolsLine, "No exclusions yet.", askedLine, "this server records exactly these sentences")
	// The agent's description is not in the rules, and the rules are not
	// under what the agent says.
	if strings.Contains(b.rules(), "Plan the Japan trip") {
		t.Fatal("the agent's description is shown among the rules this server enforces")
	}
	agentSays := run(b, "read the agent section", chromedp.Evaluate[string](`document.querySelector(".assert-agent").innerText`))
	if strings.Contains(agentSays, flightsLine) {
		t.Fatal("the rules are shown under what the agent says")
	}
	b.audit("mission-consent", http.StatusOK)

	// Remove the hotels entry.
	b.openDetails("Change (r2)")
	b.clickButton("Remove (r2)")
	b.expectAt(path)
	b.expectRules(flightsLine, "!"+hotelsLine, toolsLine)

	// Lower: at most 3 tokens for the flights.
	b.openDetails("Change (r1)")
	b.fill("max-grants-r1", "3")
	b.clickButton("Set limit (r1)")
	b.expectAt(path)
	b.expectRules("Use anything the resource offers at https://flights.test, at most 3 times - you are asked the first time")

	// Raising it again is refused (the field's max bypassed), and changes nothing.
	b.openDetails("Change (r1)")
	run(b, "bypass the field's max", chromedp.Evaluate[bool](`(() => { document.getElementById("max-grants-r1").removeAttribute("max"); return true; })()`))
	b.fill("max-grants-r1", "5")
	b.clickButton("Set limit (r1)")
	b.expectAt(path)
	b.expectRefusal("The limit can only go down (it is 3 now).")
	b.expectRules("at most 3 times", "!at most 5 times")

	// Never the hotels site, even though the agent listed it.
	b.step("choose the hotels site", chromedp.SetValue(chromedp.ID("exclude"), "resource:https://hotels.test"))
	b.clickButton("Add exclusion")
	b.expectAt(path)
	b.expectRules("Never: anything at https://hotels.test", "added by you")

	// Ask me each time before the tools are used.
	b.openDetails("Change (t1)")
	b.clickButton("Ask me each time (t1)")
	b.expectAt(path)
	b.expectRules("Use the WebSearch and BookHotel tools, only after: ask me each time before using WebSearch, BookHotel",
		"Approval by you: Ask me each time before using WebSearch, BookHotel (each approval is used once)")

	// Anything else refused rather than asked.
	b.clickButton("Refuse anything else instead of asking me")
	b.expectAt(path)
	b.expectRules("Anything else: refused", "!"+askedLine)

	// The edits live with the proposal: a reload shows them.
	b.reload()
	b.expectRules("at most 3 times", "Never: anything at https://hotels.test", "Anything else: refused", "!"+hotelsLine)
	b.audit("mission-consent-narrowed", http.StatusOK)

	// An edit the page did not offer: excluding a site nobody named.
	run(b, "offer a foreign exclusion", chromedp.Evaluate[bool](`(() => { const o = document.createElement("option");
		o.value = "resource:https://evil.test"; o.textContent = "evil"; document.getElementById("exclude")?.append(o); return true; })()`))
	if run(b, "has an exclusion select", chromedp.Evaluate[bool](`!!document.getElementById("exclude")`)) {
		b.step("choose it", chromedp.SetValue(chromedp.ID("exclude"), "resource:https://evil.test"))
		b.clickButton("Add exclusion")
		b.expectRefusal("Choose one of the offered exclusions.")
		b.expectRules("!evil.test")
	}

	// Undo: the derived set again.
	b.clickButton("Undo my changes")
	b.expectAt(path)
	b.expectRules(flightsLine, hotelsLine, toolsLine, askedLine, "No exclusions yet.", "!added by you")
	b.checkPage("")

	// Narrow again, and approve: the mission commits the narrowed set and
	// the sentences the person saw.
	b.openDetails("Change (r2)")
	b.clickButton("Remove (r2)")
	b.step("choose the hotels site", chromedp.SetValue(chromedp.ID("exclude"), "resource:https://hotels.test"))
	b.clickButton("Add exclusion")
	b.openDetails("Change (t1)")
	b.clickButton("Ask me each time (t1)")
	b.expectText("You changed the rules above: leave out resources and tools there, with Remove.")
	shown := b.rules()
	b.clickButton("Approve the mission")
	b.expectHeading("Done")
	p := w.poll(t, in.loc)
	if p.status != http.StatusOK {
		t.Fatalf("agent: the poll after approval: %d %s", p.status, p.raw)
	}
	s256, _ := p.body["s256"].(string)
	m, err := w.ps.App.Missions.Get(t.Context(), s256)
	if err != nil || m.Composition == nil {
		t.Fatalf("the approved mission %q has no composition (%v)", s256, err)
	}
	set, err := authority.Parse(m.Composition.AuthoritySet, authority.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if set.Set.Entry("r2") != nil || set.Set.Entry("r1") == nil || len(set.Set.Exclusions) != 1 ||
		set.Set.Exclusions[0].Resource == nil || set.Set.Exclusions[0].Resource.ID != "https://hotels.test" ||
		!slices.Contains(set.Set.Entry("t1").Requires, "person-ask1") {
		t.Fatalf("the committed set is not the narrowed one: %s", m.Composition.AuthoritySet)
	}
	var rendering authority.Rendering
	if err := json.Unmarshal(m.Composition.ConsentRendering, &rendering); err != nil {
		t.Fatal(err)
	}
	for _, l := range rendering.Lines {
		if !strings.Contains(shown, l.Text) {
			t.Fatalf("the committed rendering says %q, which the page did not show:\n%s", l.Text, shown)
		}
	}
	if h, _ := rendering.Hash(); h != m.Composition.ConsentRenderingHash {
		t.Fatalf("consent_rendering_hash %s is not the hash of the stored rendering (%s)", m.Composition.ConsentRenderingHash, h)
	}
	blob, _ := base64.RawURLEncoding.DecodeString(p.body["mission"].(string))
	var decoded struct {
		MissionModel struct {
			ConsentRenderingHash string `json:"consent_rendering_hash"`
			AuthorityHash        string `json:"authority_hash"`
		} `json:"mission_model"`
	}
	if err := json.Unmarshal(blob, &decoded); err != nil || decoded.MissionModel.ConsentRenderingHash != m.Composition.ConsentRenderingHash ||
		decoded.MissionModel.AuthorityHash != set.Hash {
		t.Fatalf("the blob does not commit to the narrowed set and its rendering: %s", blob)
	}

	// The mission page: the sentences approved, the step the person added
	// (pending, then recorded from the page: POST, redirect), and the
	// decisions (none yet).
	b.open("/missions/" + s256)
	b.expectHeading("Mission")
	consented := run(b, "read the consented section", chromedp.Evaluate[string](
		`[...document.querySelectorAll(".assert-rules")].map(s => s.innerText).join("\n")`))
	for _, l := range rendering.Lines {
		if !strings.Contains(consented, l.Text) {
			t.Fatalf("the mission page does not show the approved sentence %q:\n%s", l.Text, consented)
		}
	}
	b.expectText("What the mission allows", "Steps", "pending", m.Composition.ConsentRenderingHash)
	b.audit("mission-page-authority", http.StatusOK)
	b.clickButton("Record this step (person-ask1)")
	b.expectAt("/missions/" + s256)
	b.expectText("Step recorded.", "recorded")
	snap, err := w.ps.App.Store.MissionCounters(t.Context(), s256, s256)
	if err != nil || snap.Checkpoints["person-ask1"].RecordedAt.IsZero() {
		t.Fatalf("the step was not recorded: %+v %v", snap.Checkpoints, err)
	}
	b.checkPage("")
}
