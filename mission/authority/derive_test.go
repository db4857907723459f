package authority

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestBaselineIsExampleC: the baseline for an AAuth-only agent's proposal
// (two resources, two tools) is the design's Example C, byte for byte
// (its authority_hash from vectors.txt).
func TestBaselineIsExampleC(t *testing.T) {
	s := Baseline([]string{"https://flights.example", "https://hotels.example"}, []string{"WebSearch", "Read"})
	if h, err := s.Hash(); err != nil || h != "BO3tAoJOgBPlW9JCOzhzBJFYKMKkIywkJfzMvyuUpQo" {
		t.Fatalf("baseline hash %s (%v), want Example C's", h, err)
	}
	d, err := Derive(Proposal{Agent: "aauth:a@agents.example", Resources: []string{"https://flights.example", "https://hotels.example"},
		Tools: []string{"WebSearch", "Read"}}, nil, nil, ParseOptions{})
	if err != nil || d.Source != FromBaseline || d.Hash != "BO3tAoJOgBPlW9JCOzhzBJFYKMKkIywkJfzMvyuUpQo" {
		t.Fatalf("derive: %+v %v", d, err)
	}
}

func boardTemplate(t *testing.T) Template {
	return Template{Name: "board-packet@3", Set: loadSet(t, "authority-set-a.json").Set, Standing: true,
		Resources: []string{docs, finance, sheets, treasury, ir}, Tools: []string{"ReconcileNumbers", "RenderDeck"}}
}

// TestDeriveFromTemplate: the board-packet proposal (with HR, which the
// template excludes) gets the template's set — Example A's hash — and
// admission records the removal, as proposal-a.json's admission does.
func TestDeriveFromTemplate(t *testing.T) {
	p := Proposal{Agent: "aauth:boardpack.7f3c@agents.acme.example", Resources: []string{docs, finance, sheets, hr},
		Tools: []string{"ReconcileNumbers", "RenderDeck"}}
	d, err := Derive(p, []Template{boardTemplate(t)}, boardCatalog(), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Source != FromTemplate || d.Template != "board-packet@3" || !d.Standing || d.Hash != "TsvjMZKi7G-qkMTtUPJm9IKbiUUpe04aCnGzRaRk21M" {
		t.Fatalf("derivation %s %s %v %s", d.Source, d.Template, d.Standing, d.Hash)
	}
	if !slices.Equal(d.Removed, []string{"resource https://hr.acme.example (excluded by template)"}) {
		t.Fatalf("removed %v", d.Removed)
	}
	p.Resources = append(p.Resources, saas)
	if d, _ := Derive(p, []Template{boardTemplate(t)}, boardCatalog(), ParseOptions{}); d.Source != FromBaseline {
		t.Fatalf("a proposal beyond the template matched it: %s", d.Source)
	}
}

// TestDeriveProposedIsCutToBounds: the agent's proposed_authority is
// untrusted: what the bounds (the template here, else the baseline) do
// not cover is cut and said; the bounds' gates, constraints, exclusions
// and stricter grants are kept.
func TestDeriveProposedIsCutToBounds(t *testing.T) {
	proposed := `{"object":"aauth-mm/authority-set/v1","default_outside":"consent","delegation":{"max_chain_depth":3,"call_chaining":true},
	 "entries":[
	  {"id":"cash","target":"resource","resource":{"id":"https://treasury.acme.example"},"scopes":["cash_position.read","payments.create"],"grant":"auto"},
	  {"id":"release","target":"resource","resource":{"id":"https://ir.acme.example"},"r3":{"vocabulary":"urn:aauth:vocabulary:openapi","operations":[{"operationId":"publishPresentation"},{"operationId":"deleteEverything"}]}},
	  {"id":"crm","target":"resource","resource":{"id":"https://crm.saas.example"},"scopes_any":true},
	  {"id":"tools","target":"tool","tools":["RenderDeck","ShellExec"]}],
	 "exclusions":[{"id":"no-email","tools":["SendEmail"]}]}`
	p := Proposal{Agent: "aauth:boardpack.7f3c@agents.acme.example", Resources: []string{docs, finance, sheets},
		Tools: []string{"ReconcileNumbers", "RenderDeck"}, ProposedAuthority: json.RawMessage(proposed)}
	d, err := Derive(p, []Template{boardTemplate(t)}, boardCatalog(), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Source != FromProposed || d.Standing {
		t.Fatalf("source %s standing %v: a cut proposal needs a person", d.Source, d.Standing)
	}
	s := d.Set
	cash := s.Entry("cash")
	if cash == nil || !slices.Equal(cash.Scopes, []string{"cash_position.read"}) || cash.Grant != GrantApproveEach {
		t.Fatalf("cash entry %+v", cash)
	}
	rel := s.Entry("release")
	if rel == nil || len(rel.R3.Operations) != 1 || !slices.Equal(rel.Requires, []string{"cfo_release_approval"}) || *rel.Constraints.MaxGrants != 3 {
		t.Fatalf("release entry %+v", rel)
	}
	if s.Entry("crm") != nil || !slices.Equal(s.Entry("tools").Tools, []string{"RenderDeck"}) {
		t.Fatal("entries beyond the bounds survived")
	}
	if s.DefaultOutside != OutsideConsent || *s.Delegation.MaxChainDepth != 1 || len(s.Exclusions) != 4 {
		t.Fatalf("set-level bounds: %+v %d exclusions", s.Delegation, len(s.Exclusions))
	}
	for _, want := range []string{"payments.create", "crm", "ShellExec", "R3 operations"} {
		if !slices.ContainsFunc(d.Removed, func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("removed %v does not mention %s", d.Removed, want)
		}
	}
	// Evaluated, the cut set refuses what was cut and gates what the
	// template gates.
	in := boardInput(t)
	in.Mission.Set, in.Mission.EffectiveHash = s, d.Hash
	req(treasury, "payments.create")(&in)
	if got := Evaluate(in); got.Reason != "excluded" {
		t.Errorf("payments under the derived set: %s", got.Reason)
	}
	releaseCall("board-of-directors")(&in)
	if got := Evaluate(in); got.Reason != "stage_gate" || got.Outcome != Deny {
		t.Errorf("release under the derived set: %s %s", got.Outcome, got.Reason)
	}
}

// TestDeriveProposedWithinBaseline: without a template the bounds are the
// baseline; a proposal that only narrows it is adopted, explicit scopes
// keep their grant (approving the rendering is the consent, §10.1),
// scopes the resource does not describe are cut.
func TestDeriveProposedWithinBaseline(t *testing.T) {
	cat := &Catalog{Resources: map[string]CatalogResource{"https://flights.example": {ScopeDescriptions: map[string]string{"search": "Search flights"},
		Operations: []CatalogOperation{{Vocabulary: openapi, Operation: json.RawMessage(`{"operationId":"search"}`), Action: "read"}}}}}
	proposed := `{"object":"aauth-mm/authority-set/v1","default_outside":"deny","entries":[
	 {"id":"f","target":"resource","resource":{"id":"https://flights.example"},"scopes":["search","book"],"grant":"auto",
	  "r3":{"vocabulary":"urn:aauth:vocabulary:openapi","operations":[{"operationId":"search"},{"operationId":"notInTheVocabulary"}]}},
	 {"id":"h","target":"resource","resource":{"id":"https://hotels.example"},"scopes_any":true}]}`
	d, err := Derive(Proposal{Resources: []string{"https://flights.example", "https://hotels.example"}, ProposedAuthority: json.RawMessage(proposed)},
		nil, cat, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f := d.Set.Entry("f"); !slices.Equal(f.Scopes, []string{"search"}) || f.grant() != GrantAuto || f.R3 != nil {
		t.Fatalf("f %+v", f)
	}
	if h := d.Set.Entry("h"); h.grant() != GrantConsentOnce {
		t.Fatalf("h %+v: a wildcard keeps the baseline's consent", h)
	}
	if d.Set.DefaultOutside != OutsideDeny {
		t.Fatal("the agent's stricter default_outside was lost")
	}
	if _, err := Derive(Proposal{ProposedAuthority: json.RawMessage(`{"object":"x"}`)}, nil, nil, ParseOptions{}); err == nil {
		t.Fatal("a malformed proposed_authority was accepted")
	}
}

// TestRenderBoardPacket: the rendering of Example A has one plain
// sentence per entry, checkpoint and exclusion plus default_outside, in
// the design example's order; its anchors name the proposal and the set;
// an edit by the person (never HR for this agent, remove treasury, ask
// before release) re-renders with a new hash.
func TestRenderBoardPacket(t *testing.T) {
	p := loadSet(t, "authority-set-a.json")
	exp := expiresAt
	desc := "# Q3 Board Packet\n\nAssemble the board packet."
	r, err := Render(p.Set, boardCatalog(), "sey9rffNUY4Hi0IH97A_yTmZK9aiYjQOgm6F57eC_r0", desc, &exp, nil)
	if err != nil {
		t.Fatal(err)
	}
	var example Rendering
	if err := json.Unmarshal(readExample(t, "consent-rendering-a.json"), &example); err != nil {
		t.Fatal(err)
	}
	refs := func(r *Rendering) []string {
		var out []string
		for _, l := range r.Lines {
			out = append(out, l.Ref)
		}
		return out
	}
	// The example lists checkpoints before exclusions as we do.
	if !slices.Equal(refs(r), refs(&example)) {
		t.Fatalf("refs %v, want %v", refs(r), refs(&example))
	}
	if r.AuthorityHash != p.Hash || r.ExpiresAt != "2026-06-29T17:00:00Z" {
		t.Fatalf("anchors %s %s", r.AuthorityHash, r.ExpiresAt)
	}
	text := map[string]string{}
	for _, l := range r.Lines {
		text[l.Ref] = l.Text
	}
	for ref, want := range map[string]string{
		"treasury-cash":   "you are asked every time",
		"release-board":   "at most 3 times",
		"no-hr":           "Never: HR or payroll data",
		"local-tools":     "Use the ReconcileNumbers and RenderDeck tools",
		"default_outside": "you will be asked first",
	} {
		if !strings.Contains(text[ref], want) {
			t.Errorf("%s: %q does not say %q", ref, text[ref], want)
		}
	}
	h1, _ := r.Hash()
	edited, err := Narrow(p.Set, Narrowing{RemoveEntries: []string{"treasury-cash"},
		AddCheckpoints: []Checkpoint{{ID: "ask-before-release", Label: "Ask me before anything is released", Kind: KindApproval,
			Approver: &Approver{Person: true}, SatisfyVia: []string{ViaInline}}},
		Gate: []Gate{{Entry: "docs-assemble", Checkpoint: "ask-before-release"}}}, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := Render(edited, boardCatalog(), r.ProposalHash, desc, &exp, nil)
	h2, _ := r2.Hash()
	if h1 == h2 || slices.Contains(refs(r2), "treasury-cash") || !slices.Contains(refs(r2), "ask-before-release") {
		t.Fatalf("edit did not re-render: %v", refs(r2))
	}
	if again, _ := Render(p.Set, boardCatalog(), r.ProposalHash, desc, &exp, nil); !sameJSONValue(again, r) {
		t.Fatal("rendering is not deterministic")
	}
}

func sameJSONValue(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestAdmissionCutsUnknownOperations: an operation the catalog does not
// list for the resource is not in its R3 vocabulary and is cut, even when
// the template's bound names it.
func TestAdmissionCutsUnknownOperations(t *testing.T) {
	bound, err := Parse([]byte(`{"object":"aauth-mm/authority-set/v1","entries":[{"id":"f","target":"resource","resource":{"id":"https://flights.example"},
	 "r3":{"vocabulary":"urn:aauth:vocabulary:openapi","operations":[{"operationId":"search"},{"operationId":"notInTheVocabulary"}]}}]}`), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cat := &Catalog{Resources: map[string]CatalogResource{"https://flights.example": {
		Operations: []CatalogOperation{{Vocabulary: openapi, Operation: json.RawMessage(`{"operationId":"search"}`), Action: "read"}}}}}
	tmpl := Template{Name: "flights@1", Resources: []string{"https://flights.example"}, Set: bound.Set}
	d, err := Derive(Proposal{Resources: []string{"https://flights.example"}, ProposedAuthority: json.RawMessage(`{"object":"aauth-mm/authority-set/v1","entries":[
	 {"id":"f","target":"resource","resource":{"id":"https://flights.example"},
	  "r3":{"vocabulary":"urn:aauth:vocabulary:openapi","operations":[{"operationId":"search"},{"operationId":"notInTheVocabulary"}]}}]}`)},
		[]Template{tmpl}, cat, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f := d.Set.Entry("f"); f == nil || len(f.R3.Operations) != 1 || string(f.R3.Operations[0]) != `{"operationId":"search"}` {
		t.Fatalf("entry %+v", d.Set.Entry("f"))
	}
	if !slices.ContainsFunc(d.Removed, func(l string) bool { return strings.Contains(l, "R3 operations") }) {
		t.Fatalf("removed %v", d.Removed)
	}
}
