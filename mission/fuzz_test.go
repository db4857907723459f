package mission

import (
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// FuzzParseProposal: the mission-proposal parser never panics, and what it
// accepts always serializes into a blob whose s256 is well formed.
func FuzzParseProposal(f *testing.F) {
	for _, s := range []string{
		`{"description":"# Trip","tools":[{"name":"WebSearch","description":"Search"}],"resources":["https://flights.example"]}`,
		`{"description":"x","capabilities":["interaction"]}`, `{}`, `[]`, `{"description":"a","description":"b"}`,
		`{"description":"x","tools":[{"name":""}]}`, `{"description":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParseProposal(body, aauth.Strict)
		if err != nil {
			if _, ok := aauth.AsProblem(err); !ok {
				t.Fatalf("non-problem error %T: %v", err, err)
			}
			return
		}
		b := Blob{Approver: "https://ps.example", Agent: "aauth:a@agent.example", ApprovedAt: "2026-01-01T00:00:00.000Z",
			Description: p.Description, ApprovedTools: p.Tools, ApprovedResources: p.Resources}
		raw, err := b.Serialize()
		if err != nil {
			t.Fatalf("accepted proposal does not serialize: %v", err)
		}
		if !ValidS256(S256(raw)) {
			t.Fatal("malformed s256")
		}
	})
}
