package revocation

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
)

// TestParse: the body rules of E11 (PS-232, PS-290).
func TestParse(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"good", `{"jti":"x","exp":1800003600}`, true},
		{"PS-232 an iss member is ignored", `{"jti":"x","exp":1800003600,"iss":"https://other.example"}`, true},
		{"an expired token may be revoked", `{"jti":"x","exp":1}`, true},
		{"PS-290 exactly 24 h + 300 s ahead", `{"jti":"x","exp":1800086700}`, true},
		{"PS-290 beyond 24 h + 300 s", `{"jti":"x","exp":1800086701}`, false},
		{"PS-232 no jti", `{"exp":1800003600}`, false},
		{"PS-232 empty jti", `{"jti":"","exp":1800003600}`, false},
		{"PS-232 jti a number", `{"jti":5,"exp":1800003600}`, false},
		{"PS-232 no exp", `{"jti":"x"}`, false},
		{"PS-232 exp a string", `{"jti":"x","exp":"1800003600"}`, false},
		{"PS-232 exp a fraction", `{"jti":"x","exp":1800003600.5}`, false},
		{"PS-232 not JSON", `jti=x`, false},
		{"PS-232 an array", `[]`, false},
		{"duplicate member", `{"jti":"x","jti":"y","exp":1800003600}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.body), now, DefaultMaxAhead)
			if tc.ok {
				if err != nil || r.JTI != "x" {
					t.Fatalf("Parse = %+v, %v", r, err)
				}
				return
			}
			p, isProblem := aauth.AsProblem(err)
			if !isProblem || p.Status != http.StatusBadRequest || p.Code != aauth.ErrInvalidRequest {
				t.Fatalf("Parse error = %v, want 400 invalid_request", err)
			}
		})
	}
}

// TestLimiter: 100 a minute per issuer, then a Retry-After within the
// minute; another issuer and the next minute are unaffected (PS-289).
func TestLimiter(t *testing.T) {
	l := newLimiter(100)
	now := time.Unix(1_800_000_000, 0)
	for i := range 100 {
		if _, ok := l.allow("https://a.example", now.Add(time.Duration(i)*time.Millisecond)); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	retry, ok := l.allow("https://a.example", now.Add(20*time.Second))
	if ok || retry < 1 || retry > 40 {
		t.Fatalf("101st: ok=%v retry=%d, want refused with Retry-After ≤ 40", ok, retry)
	}
	if _, ok := l.allow("https://b.example", now); !ok {
		t.Fatal("another issuer is limited")
	}
	if _, ok := l.allow("https://a.example", now.Add(time.Minute)); !ok {
		t.Fatal("the next minute is limited")
	}
}

// TestOutcomeOf: how a recipient's answer maps onto the terminal outcomes
// of P§revocation-response (PS-292).
func TestOutcomeOf(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{200, ``, OutcomeRevoked},
		{200, `{}`, OutcomeRevoked},
		{200, `{"downstream":[]}`, OutcomeRevoked},
		{200, `not json`, OutcomeUnavailable},
		{200, `[]`, OutcomeUnavailable},
		{403, `{"error":"unsupported_iss"}`, OutcomeUnsupported},
		{403, `{"error":"denied"}`, OutcomeUnavailable},
		{202, `{"status":"pending"}`, OutcomeUnavailable},
		{500, ``, OutcomeUnavailable},
		{503, `{"error":"temporarily_unavailable"}`, OutcomeUnavailable},
	} {
		if got := outcomeOf(response(tc.status, tc.body), false, aauth.IdentifierPolicy{}).Outcome; got != tc.want {
			t.Errorf("%d %s: %s, want %s", tc.status, tc.body, got, tc.want)
		}
	}
}

func response(status int, body string) *fetch.Response {
	return &fetch.Response{StatusCode: status, Body: []byte(body), Header: http.Header{}}
}
