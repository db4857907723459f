package composition_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/anchor"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/composition"
)

func intake(p mission.Proposal, proposed string) composition.Intake {
	in := composition.Intake{Agent: "aauth:a@ap.example", Proposal: p, ContentDigest: authority.ContentDigest([]byte("{}")),
		ReceivedAt: time.Date(2026, 6, 22, 16, 58, 10, 0, time.UTC)}
	if proposed != "" {
		in.ProposedAuthority = json.RawMessage(proposed)
	}
	return in
}

// TestComposeNarrowing: the person's edit of the derived set may only
// narrow it; each edit re-renders and moves the anchors, and Attach puts
// the anchors in the blob's mission_model (issue 10, design §1, §6).
func TestComposeNarrowing(t *testing.T) {
	cfg := templateConfig(t, raceSet, "https://ir.example", "https://flights.example")
	p := mission.Proposal{Description: "# Race", Resources: []string{"https://ir.example", "https://flights.example"}}
	approve := func() *mission.Approval {
		a, err := p.Approve("https://ap.example", "aauth:a@ap.example", "p1", mission.Edits{}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	plain, err := cfg.Compose(intake(p, ""), approve(), nil)
	if err != nil || plain.Derivation.Source != authority.FromTemplate || plain.Derivation.Template != "race@1" {
		t.Fatalf("Compose = %+v, %v", plain, err)
	}
	// Widening (a checkpoint gate on an entry that does not exist, or a
	// higher limit) is refused.
	higher := int64(5000)
	if _, err := cfg.Compose(intake(p, ""), approve(), &authority.Narrowing{Lower: []authority.Lowering{{Entry: "book", MaxTotal: &higher}}}); !errors.Is(err, composition.ErrNarrowing) {
		t.Fatalf("a widening edit: %v, want ErrNarrowing", err)
	}
	a := approve()
	narrowed, err := cfg.Compose(intake(p, ""), a, &authority.Narrowing{RemoveEntries: []string{"book"}})
	if err != nil || !narrowed.Narrowed || len(narrowed.Set.Entries) != 1 || narrowed.AuthorityHash == plain.AuthorityHash ||
		narrowed.RenderingHash == plain.RenderingHash || narrowed.ProposalHash != plain.ProposalHash {
		t.Fatalf("narrowed = %+v, %v", narrowed, err)
	}
	for _, l := range narrowed.Rendering.Lines {
		if l.Ref == "book" {
			t.Fatalf("the rendering still shows the removed entry: %+v", narrowed.Rendering.Lines)
		}
	}
	if err := narrowed.Attach(a); err != nil {
		t.Fatal(err)
	}
	var mm authority.MissionModel
	if err := json.Unmarshal(a.MissionModel, &mm); err != nil || mm.AuthorityHash != narrowed.AuthorityHash ||
		mm.ConsentRenderingHash != narrowed.RenderingHash || mm.ProposalHash != narrowed.ProposalHash {
		t.Fatalf("mission_model = %s, %v", a.MissionModel, err)
	}
	if h, _ := anchor.OfJSON(a.Composition.Proposal); h != narrowed.ProposalHash {
		t.Fatal("the stored proposal object does not hash to proposal_hash")
	}
}

// TestProposedAuthorityChecked: a proposed_authority that is not an
// Authority Set is 400 invalid_request at the mission endpoint; a valid
// one is cut to the baseline and the cut is said.
func TestProposedAuthorityChecked(t *testing.T) {
	cfg := &composition.Config{}
	for _, bad := range []string{`{"object":"nope"}`, `[]`, `{"object":"aauth-mm/authority-set/v1","entries":[{"id":"a","target":"resource"}]}`} {
		err := cfg.CheckProposedAuthority(json.RawMessage(bad))
		if p, ok := aauth.AsProblem(err); !ok || p.Status != 400 || p.Code != aauth.ErrInvalidRequest {
			t.Fatalf("proposed_authority %s: %v, want 400 invalid_request", bad, err)
		}
	}
	p := mission.Proposal{Description: "# X", Resources: []string{"https://ir.example"}}
	a, _ := p.Approve("https://ap.example", "aauth:a@ap.example", "p1", mission.Edits{}, time.Now())
	x, err := cfg.Compose(intake(p, raceSet), a, nil)
	if err != nil || x.Derivation.Source != authority.FromProposed || len(x.Rendering.Removed) == 0 {
		t.Fatalf("Compose = %+v, %v", x, err)
	}
}

// TestParseConfig: the policy file is checked at start-up.
func TestParseConfig(t *testing.T) {
	good := `{"policy_version":"v1","catalog":{"version":"c1","resources":{"https://hr.example":{"class":"hr.records"}}},
	 "templates":[{"name":"t@1","resources":["https://ir.example"],"authority_set":` + raceSet + `}]}`
	c, err := composition.ParseConfig([]byte(good), false)
	if err != nil || c.PolicyVersion != "v1" || c.Catalog.Class("https://hr.example") != "hr.records" || len(c.Templates) != 1 {
		t.Fatalf("ParseConfig = %+v, %v", c, err)
	}
	for name, bad := range map[string]string{
		"not JSON":         `{`,
		"duplicate member": `{"policy_version":"a","policy_version":"b"}`,
		"nameless":         `{"templates":[{"resources":[],"authority_set":` + raceSet + `}]}`,
		"bad set":          `{"templates":[{"name":"t","resources":[],"authority_set":{"object":"x"}}]}`,
		"http resource":    `{"templates":[{"name":"t","resources":[],"authority_set":` + strings.ReplaceAll(raceSet, "https://ir", "http://localhost:8080/ir") + `}]}`,
	} {
		if _, err := composition.ParseConfig([]byte(bad), false); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
