package authority

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/mission"
)

// TestBlobAFromParts rebuilds Example A's blob from its parts through the
// PS's own types — mission.Blob with the mission_model member built by
// NewMissionModel from the parsed set and the consent rendering — and gets
// the design's s256 (PS-059: s256 is the SHA-256 of the blob bytes, which
// the PS serializes once with JCS).
func TestBlobAFromParts(t *testing.T) {
	var r Rendering
	if err := json.Unmarshal(readExample(t, "consent-rendering-a.json"), &r); err != nil {
		t.Fatal(err)
	}
	if h, err := r.Hash(); err != nil || h != "ONkmlkXF1Wouw7At9-U2wk5eHa4Z7pmanb1M1shE1Do" {
		t.Fatalf("rendering hash %s %v", h, err)
	}
	set := loadSet(t, "authority-set-a.json").Set
	model, err := NewMissionModel("sey9rffNUY4Hi0IH97A_yTmZK9aiYjQOgm6F57eC_r0", set, &r, "", "")
	if err != nil {
		t.Fatal(err)
	}
	example, err := mission.ParseBlob(readExample(t, "blob-a.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := *example
	b.MissionModel = model
	raw, err := b.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 3342 || mission.S256(raw) != "n1-rRqgqgTygvTAOsLDIyS6fF6tzx3QIeQvC56Xi0CM" {
		t.Fatalf("blob %d bytes, s256 %s", len(raw), mission.S256(raw))
	}
	wrong := r
	wrong.AuthorityHash = "x"
	if _, err := NewMissionModel(r.ProposalHash, set, &wrong, "", ""); err == nil {
		t.Fatal("a rendering for another set was accepted")
	}
}

func TestParseCatalog(t *testing.T) {
	c, err := ParseCatalog([]byte(`{"version":"cat-17","resources":{"https://finance.acme.example":{"name":"Acme Finance","class":"finance.ledger",
	 "scope_actions":{"ledger.read":"read"},"operations":[{"vocabulary":"urn:aauth:vocabulary:mcp","operation":{"tool":"query_financials"},"action":"read"}]}}}`))
	if err != nil || c.Class("https://finance.acme.example") != "finance.ledger" ||
		c.Action("https://finance.acme.example", Item{Kind: ItemR3, Vocabulary: "urn:aauth:vocabulary:mcp", Op: json.RawMessage(`{ "tool" : "query_financials" }`)}) != "read" {
		t.Fatalf("catalog %+v %v", c, err)
	}
	for _, bad := range []string{`{"version":"x","extra":1}`, `{"resources":{"a":{"operations":[{"vocabulary":"v","operation":[],"action":"read"}]}}}`, `{"version":"a","version":"b"}`} {
		if _, err := ParseCatalog([]byte(bad)); err == nil || !strings.Contains(err.Error(), "catalog") {
			t.Errorf("%s accepted: %v", bad, err)
		}
	}
}
