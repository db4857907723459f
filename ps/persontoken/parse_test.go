package persontoken

import (
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// E3 body checks: PS-057 (missing resource), PS-058 (the nine bad server
// identifiers), PS-048/051 (not an object, duplicates), PS-256 (wrong
// types of the optional parameters), A-26 (prompt none combined).
func TestParse(t *testing.T) {
	s := &Service{o: Options{Identifiers: aauth.Strict}}
	r, m, err := s.Parse([]byte(`{"resource":"https://rs.example","capabilities":["interaction","x-unknown"],"login_hint":"a",` +
		`"tenant":"t","domain_hint":"d","prompt":"consent","justification":"# Why","platform":"desktop","device":"laptop","x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Resource != "https://rs.example" || len(r.Capabilities) != 2 || r.Prompt != "consent" || r.Justification != "# Why" || m["x"] == nil {
		t.Fatalf("%+v", r)
	}
	bad := []string{
		`{}`, `[]`, `"x"`, `{"resource":`, `{"resource":5}`,
		`{"resource":"https://a.example","resource":"https://b.example"}`,
		`{"resource":"http://rs.example"}`, `{"resource":"https://RS.example"}`, `{"resource":"https://rs.example:8443"}`,
		`{"resource":"https://rs.example/"}`, `{"resource":"https://rs.example/api"}`, `{"resource":"https://rs.example?x=1"}`,
		`{"resource":"https://rs.example#f"}`, `{"resource":"https://u@rs.example"}`, `{"resource":"https://bücher.example"}`,
		`{"resource":"https://rs.example","capabilities":"interaction"}`,
		`{"resource":"https://rs.example","capabilities":[1]}`,
		`{"resource":"https://rs.example","justification":5}`,
		`{"resource":"https://rs.example","justification":"` + strings.Repeat("j", 8<<10+1) + `"}`,
		`{"resource":"https://rs.example","prompt":"none login"}`,
		`{"resource":"https://rs.example","login_hint":{}}`,
		`{"resource":"https://rs.example","device":true}`,
		// PS-099: platform outside the registry, device too long or with
		// control characters.
		`{"resource":"https://rs.example","platform":"tv"}`,
		`{"resource":"https://rs.example","platform":"Web"}`,
		`{"resource":"https://rs.example","device":"` + strings.Repeat("d", 65) + `"}`,
		`{"resource":"https://rs.example","device":"a\u0007b"}`,
		`{"resource":"https://rs.example","device":"tab\there"}`,
	}
	for _, ok := range []string{`{"resource":"https://rs.example","platform":"self-hosted","device":"` + strings.Repeat("ü", 64) + `"}`,
		`{"resource":"https://rs.example","platform":"mobile","device":"Pixel 8 (App)"}`} {
		if _, _, err := s.Parse([]byte(ok)); err != nil {
			t.Errorf("%.70s: %v", ok, err)
		}
	}
	for _, b := range bad {
		_, _, err := s.Parse([]byte(b))
		if p, ok := aauth.AsProblem(err); !ok || p.Status != 400 || p.Code != aauth.ErrInvalidRequest {
			t.Errorf("%.70s: %v, want 400 invalid_request", b, err)
		}
	}
}
