package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/internal/cputime"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// BenchmarkMissionExchange measures the three-party exchange inside an
// approved mission, the load's unit of work (issue 12; docs/performance.md
// finding 22 found the mission to be most of the gap between the
// endpoint benchmarks and the load): a signed person-token request naming
// the mission, a resource token from the test resource for it, and the
// signed auth-token request — each decided at the mission's decision
// point (lock, counters, Evaluate, evidence) and issued in its
// transaction. cpu-ns/op is per exchange, client included.
func BenchmarkMissionExchange(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchMissionExchange(b, "") })
	b.Run("postgres", func(b *testing.B) { benchMissionExchange(b, storetest.NewMigratedPostgresURL(b)) })
}

var (
	benchURL  = regexp.MustCompile(`url="([^"]+)"`)
	benchCode = regexp.MustCompile(`code="([^"]+)"`)
)

func benchMissionExchange(b *testing.B, databaseURL string) {
	w, rs := newResourceWorldB(b, databaseURL)
	consentedB(b, w)
	s256 := approvedMissionB(b, w, `{"description":"# Plan the offsite\n\nRead the team calendar.","resources":["https://rs.test"],"capabilities":["interaction"]}`)
	// The first exchange asks the person for the scope once (the
	// mission's baseline set); later ones are decided without her.
	grantMissionScopeB(b, w, rs, s256)

	i := 0
	cpu0, held0 := cputime.Self(), w.ps.App.Store.WaitStats().WriterHeld
	for b.Loop() {
		i++
		pt := personTokenB(b, w, `{"resource":"https://rs.test","mission_s256":"`+s256+`","n":`+strconv.Itoa(i)+`}`)
		authTokenB(b, w, rs, pt)
	}
	b.ReportMetric(float64(cputime.Self()-cpu0)/float64(b.N), "cpu-ns/op")
	reportWriterHeld(b, w, held0)
}

// sendB signs and sends a request as w's agent and returns the answer.
func sendB(b *testing.B, w *world, method, url string, body []byte) (*http.Response, []byte) {
	req := w.agent.NewRequest(method, url, body)
	if _, err := w.agent.Sign(req, body); err != nil {
		b.Fatal(err)
	}
	res, err := w.env.Client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, out
}

// personB approves the pending request res (202 requirement=interaction)
// as alice and polls it to its 200.
func personB(b *testing.B, w *world, res *http.Response, raw []byte) []byte {
	h := res.Header.Get("AAuth-Requirement")
	u, c := benchURL.FindStringSubmatch(h), benchCode.FindStringSubmatch(h)
	if res.StatusCode != http.StatusAccepted || u == nil || c == nil {
		b.Fatalf("want 202 requirement=interaction: %d %s %s", res.StatusCode, h, raw)
	}
	br := w.ps.NewBrowser(b)
	br.Login(b, "alice")
	if pg := br.Get(b, u[1]+"?code="+c[1]); pg.Status != http.StatusOK {
		b.Fatalf("interaction page: %d", pg.Status)
	}
	if pg := br.Post(b, strings.TrimPrefix(u[1], w.ps.Issuer)+"/approve", nil); pg.Status != http.StatusSeeOther {
		b.Fatalf("approve: %d %s", pg.Status, pg.HTML)
	}
	loc := res.Header.Get("Location")
	for range 20 {
		r, out := sendB(b, w, http.MethodGet, loc, nil)
		if r.StatusCode == http.StatusOK {
			return out
		}
		if r.StatusCode != http.StatusAccepted {
			b.Fatalf("poll: %d %s", r.StatusCode, out)
		}
	}
	b.Fatal("still pending after 20 polls")
	return nil
}

// approvedMissionB proposes a mission, has alice approve it, and returns
// its s256.
func approvedMissionB(b *testing.B, w *world, proposal string) string {
	res, raw := sendB(b, w, http.MethodPost, w.ps.URL("/mission"), []byte(proposal))
	var a struct {
		S256 string `json:"s256"`
	}
	if err := json.Unmarshal(personB(b, w, res, raw), &a); err != nil || a.S256 == "" {
		b.Fatalf("mission approval: %v", err)
	}
	return a.S256
}

// grantMissionScopeB runs one exchange in the mission, the person
// approving the auth token's scope if she is asked.
func grantMissionScopeB(b *testing.B, w *world, rs *conformance.Resource, s256 string) {
	pt := personTokenB(b, w, `{"resource":"https://rs.test","mission_s256":"`+s256+`","n":0}`)
	res, raw := sendB(b, w, http.MethodPost, w.ps.URL("/token"), authTokenBody(b, w, rs, pt, `"capabilities":["interaction"]`))
	if res.StatusCode == http.StatusAccepted {
		raw = personB(b, w, res, raw)
	} else if res.StatusCode != http.StatusOK {
		b.Fatalf("first auth token in the mission: %d %s", res.StatusCode, raw)
	}
	if !strings.Contains(string(raw), `"auth_token"`) {
		b.Fatalf("first auth token in the mission: %s", raw)
	}
}

// personTokenB asks for a person token with body and returns it.
func personTokenB(b *testing.B, w *world, body string) string {
	var pt struct {
		PersonToken string `json:"person_token"`
	}
	if err := json.Unmarshal(postB(b, w, "/person", []byte(body)), &pt); err != nil || pt.PersonToken == "" {
		b.Fatalf("person token: %v", err)
	}
	return pt.PersonToken
}

// authTokenBody is an auth-token request body with a fresh resource token
// for pt (its mission copied by TokenFor), plus extra members.
func authTokenBody(b *testing.B, w *world, rs *conformance.Resource, pt, extra string) []byte {
	rt, err := rs.MintFor(pt, w.agent.Key, "calendar.read", time.Time{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	body := `{"resource_token":"` + rt + `","presented_token":"` + pt + `"`
	if extra != "" {
		body += "," + extra
	}
	return []byte(body + "}")
}

// authTokenB asks for an auth token presenting pt and wants a 200.
func authTokenB(b *testing.B, w *world, rs *conformance.Resource, pt string) {
	postB(b, w, "/token", authTokenBody(b, w, rs, pt, ""))
}
