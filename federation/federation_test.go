package federation

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestParseClaims: a release rule lists releasable identity claims only,
// never sub (PS-124).
func TestParseClaims(t *testing.T) {
	got, err := ParseClaims("email, name email")
	if err != nil || !slices.Equal(got, []string{"email", "name"}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"sub", "email password"} {
		if _, err := ParseClaims(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	if p, err := ParsePolicy(""); err != nil || p != AllowAny {
		t.Fatalf("default policy %v %v", p, err)
	}
	if _, err := ParsePolicy("allow-some"); err == nil {
		t.Fatal("unknown policy accepted")
	}
}

// TestLoopHelpers: a Location on another origin is refused (PS-128);
// Retry-After defaults to 5 s and is capped; an AS detail is stripped of
// control characters and bounded; only snake-case codes are relayed.
func TestLoopHelpers(t *testing.T) {
	for loc, ok := range map[string]bool{
		"https://as.test/token/pending/x":      true,
		"https://AS.test/p":                    true,
		"https://as.test.evil/p":               false,
		"http://as.test/p":                     false,
		"https://user@as.test/p":               false,
		"https://as.test:8443/token/pending/x": false,
	} {
		if err := sameOrigin("https://as.test", loc); (err == nil) != ok {
			t.Errorf("%s: %v", loc, err)
		}
	}
	h := http.Header{}
	if d := retryAfter(h, 5*time.Second); d != 5*time.Second {
		t.Fatalf("absent: %s", d)
	}
	h.Set("Retry-After", "3600")
	if d := retryAfter(h, 5*time.Second); d != time.Minute {
		t.Fatalf("capped: %s", d)
	}
	h.Set("Retry-After", "-1")
	if d := retryAfter(h, 5*time.Second); d != 5*time.Second {
		t.Fatalf("negative: %s", d)
	}
	if s := sanitize("no\x00 way\n"); s != "no way" {
		t.Fatalf("sanitize: %q", s)
	}
	if len(sanitize(string(make([]byte, 500)))) != 0 || len(sanitize(string(slices.Repeat([]byte("a"), 500)))) != 200 {
		t.Fatal("sanitize does not bound")
	}
	for code, ok := range map[string]bool{"denied": true, "invalid_resource_token": true, "": false, "Denied": false, "x y": false} {
		if wellFormedCode(code) != ok {
			t.Errorf("code %q", code)
		}
	}
	req, params, err := requirement([]string{`requirement=interaction; url="https://as.test/i"; code="AB"`})
	if err != nil || req != "interaction" || params["url"] != "https://as.test/i" || params["code"] != "AB" {
		t.Fatalf("%q %v %v", req, params, err)
	}
	if _, _, err := requirement([]string{`nothing=here`}); err == nil {
		t.Fatal("a header without requirement accepted")
	}
}

// TestClarificationBody: an AS's clarification (P§clarification, PS-126's
// relay) keeps its question, its options and its timeout as a deadline
// from when the PS read it; a missing question or a malformed optional
// member refuses the body (the caller answers as_unreachable).
func TestClarificationBody(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	w, err := clarification([]byte(`{"status":"pending","clarification":"Which account?","timeout":90,"options":["checking","savings"]}`), now)
	if err != nil || w.Question != "Which account?" || !slices.Equal(w.Options, []string{"checking", "savings"}) || !w.Deadline.Equal(now.Add(90*time.Second)) {
		t.Fatalf("%+v %v", w, err)
	}
	w, err = clarification([]byte(`{"clarification":"Why?"}`), now)
	if err != nil || w.Options != nil || !w.Deadline.IsZero() {
		t.Fatalf("bare question: %+v %v", w, err)
	}
	if w, err = clarification([]byte(`{"clarification":"Why?","timeout":999999999}`), now); err != nil || !w.Deadline.Equal(now.Add(maxQuestionTimeout)) {
		t.Fatalf("timeout not capped: %+v %v", w, err)
	}
	long := `"` + strings.Repeat("x", maxOptionBytes+1) + `"`
	many := `[` + strings.TrimSuffix(strings.Repeat(`"a",`, maxQuestionOptions+1), ",") + `]`
	for _, bad := range []string{
		`{}`, `{"clarification":"  "}`, `[]`,
		`{"clarification":"q","timeout":0}`, `{"clarification":"q","timeout":-5}`, `{"clarification":"q","timeout":1.5}`, `{"clarification":"q","timeout":"30"}`,
		`{"clarification":"q","options":[]}`, `{"clarification":"q","options":"yes"}`, `{"clarification":"q","options":[""]}`,
		`{"clarification":"q","options":[1,2]}`, `{"clarification":"q","options":[` + long + `]}`, `{"clarification":"q","options":` + many + `}`,
	} {
		if w, err := clarification([]byte(bad), now); err == nil {
			t.Errorf("%s accepted: %+v", bad, w)
		}
	}
}
