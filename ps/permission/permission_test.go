package permission

import (
	"testing"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// TestDecide: the one decision rule (PS-214): the person's remembered
// answer wins either way, then a tool approved in the mission grants,
// else the person is asked; reason only with denied (PS-218).
func TestDecide(t *testing.T) {
	blob := &mission.Blob{ApprovedTools: []mission.Tool{{Name: "WebSearch"}}}
	rule := func(p string) *Rule { return &Rule{Permission: p} }
	cases := []struct {
		name string
		f    Facts
		want Verdict
	}{
		{"nothing known: ask", Facts{Action: "SendEmail"}, Verdict{Ask: true}},
		{"remembered allow", Facts{Action: "SendEmail", Rule: rule(Granted)}, Verdict{Permission: Granted, Basis: BasisRule}},
		{"remembered refusal beats the mission's tool", Facts{Action: "WebSearch", Rule: rule(Denied), Mission: blob},
			Verdict{Permission: Denied, Basis: BasisRule, Reason: "The person has refused this action for this agent."}},
		{"approved tool", Facts{Action: "WebSearch", Mission: blob}, Verdict{Permission: Granted, Basis: BasisMission}},
		{"tool names compare exactly", Facts{Action: "websearch", Mission: blob}, Verdict{Ask: true}},
		{"not an approved tool", Facts{Action: "SendEmail", Mission: blob}, Verdict{Ask: true}},
	}
	for _, c := range cases {
		if got := Decide(c.f); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	if b := PersonAnswer(true).Body(); len(b) != 1 || b["permission"] != Granted {
		t.Errorf("granted body %v", b)
	}
	if b := PersonAnswer(false).Body(); len(b) != 2 || b["permission"] != Denied || b["reason"] == "" {
		t.Errorf("denied body %v", b)
	}
}

// TestParse: PS-215 (missing or non-string action, non-string
// description, non-object parameters), PS-216 (no mission needed), the
// April mission object.
func TestParse(t *testing.T) {
	const iss = "https://ps.example"
	s256 := mission.S256([]byte("m"))
	r, err := Parse([]byte(`{"action":"SendEmail","description":"d","parameters":{"to":"a"},"x-unknown":1}`), iss)
	if err != nil || r.Action != "SendEmail" || r.Description != "d" || string(r.Parameters) != `{"to":"a"}` || r.MissionS256 != "" {
		t.Fatalf("%+v %v", r, err)
	}
	if r, err := Parse([]byte(`{"action":"a","mission":{"approver":"`+iss+`","s256":"`+s256+`"}}`), iss); err != nil || r.MissionS256 != s256 {
		t.Fatalf("April mission object: %+v %v", r, err)
	}
	for _, b := range []string{`{}`, `{"action":5}`, `{"action":"a","description":5}`, `{"action":"a","parameters":[]}`,
		`{"action":"a","parameters":"x"}`, `{"action":""}`, `{"action":"a","mission_s256":5}`,
		`{"action":"a","mission":{"approver":"https://other.example","s256":"` + s256 + `"}}`} {
		_, err := Parse([]byte(b), iss)
		if p, ok := aauth.AsProblem(err); !ok || p.Status != 400 || p.Code != aauth.ErrInvalidRequest {
			t.Errorf("%s: %v, want 400 invalid_request", b, err)
		}
	}
}
