package revocation

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// TestOutcomeOfDownstream (PS-292): an access server's 200 reports, in
// `downstream`, each resource it revoked at and why one did not succeed
// (P§revocation-response "Body"); the PS reads it within bounds. A report
// it cannot parse — not an array, more than maxDownstream entries, an
// entry without a resource identifier as recipient (at most
// maxRecipientSize bytes) or with an error other than the two outcomes, a
// duplicate member — makes the answer revocation_unavailable with nothing
// reported. A resource's body is never read as a report.
func TestOutcomeOfDownstream(t *testing.T) {
	many := func(n int) string {
		es := make([]string, n)
		for i := range es {
			es[i] = fmt.Sprintf(`{"recipient":"https://rs%d.example"}`, i)
		}
		return `{"downstream":[` + strings.Join(es, ",") + `]}`
	}
	long := "https://" + strings.Repeat("a", 60) + "." + strings.Repeat(strings.Repeat("b", 60)+".", 34) + "example"
	for _, tc := range []struct {
		name    string
		body    string
		want    string
		entries []Downstream
	}{
		{"the draft's example", `{"downstream":[{"recipient":"https://rs2.test","error":"revocation_unavailable"}]}`, OutcomeRevoked,
			[]Downstream{{Recipient: "https://rs2.test", Error: OutcomeUnavailable}}},
		{"each outcome", `{"downstream":[{"recipient":"https://a.example"},{"recipient":"https://b.example","error":"revocation_unsupported"}],"x":1}`,
			OutcomeRevoked, []Downstream{{Recipient: "https://a.example"}, {Recipient: "https://b.example", Error: OutcomeUnsupported}}},
		{"no downstream member", `{}`, OutcomeRevoked, nil},
		{"an empty report", `{"downstream":[]}`, OutcomeRevoked, []Downstream{}},
		{"at the bound", many(maxDownstream), OutcomeRevoked, nil},
		{"past the bound", many(maxDownstream + 1), OutcomeUnavailable, nil},
		{"not an array", `{"downstream":{"recipient":"https://a.example"}}`, OutcomeUnavailable, nil},
		{"null", `{"downstream":null}`, OutcomeUnavailable, nil},
		{"an entry not an object", `{"downstream":["https://a.example"]}`, OutcomeUnavailable, nil},
		{"no recipient", `{"downstream":[{"error":"revocation_unavailable"}]}`, OutcomeUnavailable, nil},
		{"a number as recipient", `{"downstream":[{"recipient":5}]}`, OutcomeUnavailable, nil},
		{"an http recipient", `{"downstream":[{"recipient":"http://a.example"}]}`, OutcomeUnavailable, nil},
		{"a recipient with a path", `{"downstream":[{"recipient":"https://a.example/x"}]}`, OutcomeUnavailable, nil},
		{"a recipient with a control character", `{"downstream":[{"recipient":"https://a.example\u001b[2J"}]}`, OutcomeUnavailable, nil},
		{"a recipient over the size bound", `{"downstream":[{"recipient":"` + long + `"}]}`, OutcomeUnavailable, nil},
		{"another error", `{"downstream":[{"recipient":"https://a.example","error":"denied"}]}`, OutcomeUnavailable, nil},
		{"a null error", `{"downstream":[{"recipient":"https://a.example","error":null}]}`, OutcomeUnavailable, nil},
		{"a duplicate member", `{"downstream":[],"downstream":[{"recipient":"https://a.example"}]}`, OutcomeUnavailable, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := outcomeOf(response(200, tc.body), true, aauth.IdentifierPolicy{})
			if got.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s", got.Outcome, tc.want)
			}
			if tc.want != OutcomeRevoked && got.Downstream != nil {
				t.Fatalf("a report it could not parse left entries: %v", got.Downstream)
			}
			if tc.entries != nil && !reflect.DeepEqual(got.Downstream, tc.entries) {
				t.Fatalf("entries %+v, want %+v", got.Downstream, tc.entries)
			}
			if tc.name == "at the bound" && len(got.Downstream) != maxDownstream {
				t.Fatalf("%d entries, want %d", len(got.Downstream), maxDownstream)
			}
		})
	}
	if len("https://"+strings.Repeat("a", 60)) > maxRecipientSize || len(long) <= maxRecipientSize {
		t.Fatalf("the long recipient is %d bytes: want it past %d", len(long), maxRecipientSize)
	}
	// A resource has nothing downstream: its body is read as an object
	// only, never as a report.
	r := outcomeOf(response(200, `{"downstream":[{"recipient":"https://elsewhere.example","error":"revocation_unavailable"}]}`), false,
		aauth.IdentifierPolicy{})
	if r.Outcome != OutcomeRevoked || r.Downstream != nil {
		t.Fatalf("a resource's body: %+v, want revoked and no report", r)
	}
	// A development PS (loopback http allowed) reads loopback recipients.
	r = outcomeOf(response(200, `{"downstream":[{"recipient":"http://127.0.0.1:9000"}]}`), true, aauth.IdentifierPolicy{AllowLoopbackHTTP: true})
	if r.Outcome != OutcomeRevoked || len(r.Downstream) != 1 {
		t.Fatalf("a loopback recipient under --dev: %+v", r)
	}
}
