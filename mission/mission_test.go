package mission

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// PS-REQUIREMENTS §2.4 test vectors: s256 and the mission encoding of
// given bytes (with and without the approver member, A-56).
func TestS256Vectors(t *testing.T) {
	cases := []struct{ bytes, mission, s256 string }{
		{`{"approver":"https://ps.example","agent":"aauth:assistant@agent.example","approved_at":"2026-04-07T14:30:00Z","description":"# Plan Japan Vacation\n\nPlan and book a trip to Japan next month for 2 adults."}`,
			"eyJhcHByb3ZlciI6Imh0dHBzOi8vcHMuZXhhbXBsZSIsImFnZW50IjoiYWF1dGg6YXNzaXN0YW50QGFnZW50LmV4YW1wbGUiLCJhcHByb3ZlZF9hdCI6IjIwMjYtMDQtMDdUMTQ6MzA6MDBaIiwiZGVzY3JpcHRpb24iOiIjIFBsYW4gSmFwYW4gVmFjYXRpb25cblxuUGxhbiBhbmQgYm9vayBhIHRyaXAgdG8gSmFwYW4gbmV4dCBtb250aCBmb3IgMiBhZHVsdHMuIn0",
			"BQwpnz9T_MPsWun9WfcCBMUsWJk_-y26OXOLICGMFRk"},
		{`{"agent":"aauth:assistant@agent.example","approved_at":"2026-04-07T14:30:00Z","description":"# Plan Japan Vacation\n\nPlan and book a trip to Japan next month for 2 adults."}`,
			"eyJhZ2VudCI6ImFhdXRoOmFzc2lzdGFudEBhZ2VudC5leGFtcGxlIiwiYXBwcm92ZWRfYXQiOiIyMDI2LTA0LTA3VDE0OjMwOjAwWiIsImRlc2NyaXB0aW9uIjoiIyBQbGFuIEphcGFuIFZhY2F0aW9uXG5cblBsYW4gYW5kIGJvb2sgYSB0cmlwIHRvIEphcGFuIG5leHQgbW9udGggZm9yIDIgYWR1bHRzLiJ9",
			"Qh0Q_UpYKjgHatS0Md56tmJ7IbzYAXfI7YeZIeP3XpU"},
	}
	for _, c := range cases {
		if got := Encode([]byte(c.bytes)); got != c.mission {
			t.Errorf("Encode = %s, want %s", got, c.mission)
		}
		if got := S256([]byte(c.bytes)); got != c.s256 || !ValidS256(got) {
			t.Errorf("S256 = %s, want %s", got, c.s256)
		}
	}
	// an update digest equals the Content-Digest sha-256 re-encoded.
	body := `{"action":"update","description":"# Hotel unavailable"}`
	std, _ := base64.StdEncoding.DecodeString("F8ZH5d3bpEfdMxZj8lnJ4mg+PbaQH0z39bThwx+bpBA=")
	if got := S256([]byte(body)); got != base64.RawURLEncoding.EncodeToString(std) || got != "F8ZH5d3bpEfdMxZj8lnJ4mg-PbaQH0z39bThwx-bpBA" {
		t.Fatalf("update digest = %s", got)
	}
}

// The blob is JCS (RFC 8785): members sorted, no whitespace, and the same
// bytes however the struct was built.
func TestBlobSerializeIsCanonical(t *testing.T) {
	b := Blob{Approver: "https://ps.example", Agent: "aauth:Assistant@agent.example", ApprovedAt: "2026-04-07T14:30:00.123Z",
		Description: "# Plan <Japan> & \"more\"\n\nbudget €5k", ExpiresAt: "2026-05-07T14:30:00.000Z",
		ApprovedTools:     []Tool{{Name: "WebSearch", Description: "Search the web"}},
		ApprovedResources: []string{"https://flights.example"}}
	got, err := b.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"agent":"aauth:Assistant@agent.example","approved_at":"2026-04-07T14:30:00.123Z","approved_resources":["https://flights.example"],` +
		`"approved_tools":[{"description":"Search the web","name":"WebSearch"}],"approver":"https://ps.example",` +
		`"description":"# Plan <Japan> & \"more\"\n\nbudget €5k","expires_at":"2026-05-07T14:30:00.000Z"}`
	if string(got) != want {
		t.Fatalf("blob bytes\n got %s\nwant %s", got, want)
	}
	again, _ := b.Serialize()
	if string(again) != string(got) {
		t.Fatal("serialization is not deterministic")
	}
	parsed, err := ParseBlob(got)
	if err != nil || parsed.Agent != b.Agent || parsed.Description != b.Description {
		t.Fatalf("round trip: %+v %v", parsed, err)
	}
	// Identical proposals approved at different instants differ (PS-189).
	b2 := b
	b2.ApprovedAt = "2026-04-07T14:30:00.124Z"
	other, _ := b2.Serialize()
	if S256(other) == S256(got) {
		t.Fatal("approved_at does not change s256")
	}
}

func TestValidS256(t *testing.T) {
	good := "Qh0Q_UpYKjgHatS0Md56tmJ7IbzYAXfI7YeZIeP3XpU"
	for _, s := range []string{good, "BQwpnz9T_MPsWun9WfcCBMUsWJk_-y26OXOLICGMFRk"} {
		if !ValidS256(s) {
			t.Errorf("%s refused", s)
		}
	}
	// PS-059: wrong length, padding, + or /, a non-canonical last character.
	for _, s := range []string{good[:42], good + "=", strings.Replace(good, "_", "/", 1), strings.Replace(good, "_", "+", 1), good[:42] + "V", "", "abc"} {
		if ValidS256(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestParseProposal(t *testing.T) {
	ids := aauth.Strict
	p, err := ParseProposal([]byte(`{"description":"# Trip","tools":[{"name":"WebSearch","description":"Search"},{"name":"Book"}],`+
		`"resources":["https://flights.example","https://flights.example","https://hotels.example"],"capabilities":["interaction"],"x":1}`), ids)
	if err != nil {
		t.Fatal(err)
	}
	if p.Description != "# Trip" || len(p.Tools) != 2 || len(p.Resources) != 2 || p.Capabilities[0] != "interaction" {
		t.Fatalf("%+v", p)
	}
	// PS-181 and the body rules.
	for _, body := range []string{`{}`, `{"description":5}`, `{"description":"  "}`, `{"description":"x","tools":{}}`,
		`{"description":"x","tools":[{}]}`, `{"description":"x","tools":[{"name":5}]}`, `{"description":"x","tools":[{"name":"a"},{"name":"a"}]}`,
		`{"description":"x","resources":["http://x.example"]}`, `{"description":"x","resources":"https://x.example"}`,
		`{"description":"x","capabilities":"interaction"}`, `[]`, `{`, `{"description":"a","description":"b"}`,
		`{"description":"` + strings.Repeat("a", MaxDescription+1) + `"}`} {
		_, err := ParseProposal([]byte(body), ids)
		if p, ok := aauth.AsProblem(err); !ok || p.Status != 400 || p.Code != aauth.ErrInvalidRequest {
			t.Errorf("%.60s: %v, want 400 invalid_request", body, err)
		}
	}
}

// The -11 member and the April object, alone and together.
func TestReference(t *testing.T) {
	s := "Qh0Q_UpYKjgHatS0Md56tmJ7IbzYAXfI7YeZIeP3XpU"
	other := "BQwpnz9T_MPsWun9WfcCBMUsWJk_-y26OXOLICGMFRk"
	iss := "https://ps.example"
	ok := []map[string]any{
		{"mission_s256": s},
		{"mission": map[string]any{"approver": iss, "s256": s}},
		{"mission_s256": s, "mission": map[string]any{"approver": iss, "s256": s}},
	}
	for _, m := range ok {
		if got, err := Reference(m, iss); err != nil || got != s {
			t.Errorf("%v: %s %v", m, got, err)
		}
	}
	if got, err := Reference(map[string]any{}, iss); err != nil || got != "" {
		t.Errorf("no reference: %q %v", got, err)
	}
	bad := []map[string]any{
		{"mission_s256": 5}, {"mission_s256": "abc"},
		{"mission": "x"}, {"mission": map[string]any{"s256": s}},
		{"mission": map[string]any{"approver": "https://other.example", "s256": s}},
		{"mission_s256": s, "mission": map[string]any{"approver": iss, "s256": other}},
	}
	for _, m := range bad {
		_, err := Reference(m, iss)
		if p, ok := aauth.AsProblem(err); !ok || p.Status != 400 {
			t.Errorf("%v: %v, want 400", m, err)
		}
	}
}

func TestLifecycle(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Hour)
	st := State{ExpiresAt: &exp}
	if ok, _ := st.Active(now); !ok {
		t.Fatal("active mission reported inactive")
	}
	if ok, r := st.Active(exp.Add(-4 * time.Second)); ok || r != ReasonExpired {
		t.Fatal("a mission with under 5 s left must count as expired (A-39)")
	}
	if ok, r := (State{Terminated: true, Reason: ReasonCompleted}).Active(now); ok || r != ReasonCompleted {
		t.Fatal("terminated mission reported active")
	}
	if got := st.Cap(now.Add(2 * time.Hour)); !got.Equal(exp) {
		t.Fatal("Cap does not bound by expires_at")
	}
	if got := st.Cap(now.Add(time.Minute)); !got.Equal(now.Add(time.Minute)) {
		t.Fatal("Cap changed an earlier expiry")
	}
}
