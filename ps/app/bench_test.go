package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/internal/cputime"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/ratelimit"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// BenchmarkPersonTokenEndpoint measures the whole stack for the most common
// agent call: a signed POST to the person token endpoint over HTTPS for a
// resource the person already consented to — signature and agent-token
// verification (keys cached), replay cache, binding and consent lookups,
// token signing and the issuance record, on the embedded database.
// Sub-benchmarks: sqlite and postgres (issue 12: both databases).
func BenchmarkPersonTokenEndpoint(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchPersonToken(b, newWorldB(b, "")) })
	b.Run("postgres", func(b *testing.B) { benchPersonToken(b, newWorldB(b, storetest.NewMigratedPostgresURL(b))) })
}

func benchPersonToken(b *testing.B, w *world) {
	consentedB(b, w)
	i := 0
	cpu0, held0 := cputime.Self(), w.ps.App.Store.WaitStats().WriterHeld
	for b.Loop() {
		i++
		postB(b, w, "/person", []byte(`{"resource":"https://rs.test","n":`+strconv.Itoa(i)+`}`))
	}
	// Process CPU (user + system) per request, client included: on a
	// loaded machine it moves far less than ns/op (wall time).
	b.ReportMetric(float64(cputime.Self()-cpu0)/float64(b.N), "cpu-ns/op")
	reportWriterHeld(b, w, held0)
}

// reportWriterHeld reports the SQLite writer turn's hold time per request
// since held0 (issue 12: what every other writer queues behind); nothing
// on PostgreSQL, which has no writer turn.
func reportWriterHeld(b *testing.B, w *world, held0 time.Duration) {
	if held := w.ps.App.Store.WaitStats().WriterHeld - held0; held > 0 {
		b.ReportMetric(float64(held)/float64(b.N), "writer-held-ns/op")
	}
}

// BenchmarkAuthTokenEndpoint measures the second half of the three-party
// exchange (PS-103..PS-105): a signed POST to the auth token endpoint
// with a fresh resource token from the test resource for a scope the
// person already granted, presenting the agent's person token —
// signature, agent token, resource token (the resource's JWKS cached)
// and presented token verified, the replay and revocation checks, the
// grant lookup, and the auth token signed and recorded. The client's
// share of cpu-ns/op includes minting the resource token (one signature).
func BenchmarkAuthTokenEndpoint(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchAuthToken(b, "") })
	b.Run("postgres", func(b *testing.B) { benchAuthToken(b, storetest.NewMigratedPostgresURL(b)) })
}

func benchAuthToken(b *testing.B, databaseURL string) {
	w, rs := newResourceWorldB(b, databaseURL)
	person := consentedB(b, w)
	if err := w.ps.App.Tokens.GrantScopes(b.Context(), person, w.ap.Issuer(), w.agent.ID, rs.Issuer(), []string{"calendar.read"}); err != nil {
		b.Fatal(err)
	}
	var pt struct {
		PersonToken string `json:"person_token"`
	}
	if err := json.Unmarshal(postB(b, w, "/person", []byte(`{"resource":"https://rs.test"}`)), &pt); err != nil || pt.PersonToken == "" {
		b.Fatalf("person token: %v", err)
	}
	spec, err := conformance.TokenFor(pt.PersonToken, w.agent.Key, "calendar.read")
	if err != nil {
		b.Fatal(err)
	}
	cpu0, held0 := cputime.Self(), w.ps.App.Store.WaitStats().WriterHeld
	for b.Loop() {
		spec.JTI = "" // a fresh one each time: resource tokens are single-use
		rt, err := rs.MintResourceToken(spec)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"resource_token": rt, "presented_token": pt.PersonToken})
		postB(b, w, "/token", body)
	}
	b.ReportMetric(float64(cputime.Self()-cpu0)/float64(b.N), "cpu-ns/op")
	reportWriterHeld(b, w, held0)
}

// consentedB binds w's agent to alice and records her consent to
// https://rs.test, and returns her person id.
func consentedB(b *testing.B, w *world) string {
	p := w.ps.App
	person, err := p.Accounts.PersonByUsername(b.Context(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.Agents.Bind(b.Context(), w.ap.Issuer(), w.agent.ID, person.ID, "", ""); err != nil {
		b.Fatal(err)
	}
	if err := p.Tokens.GrantConsent(b.Context(), person.ID, w.ap.Issuer(), w.agent.ID, "https://rs.test"); err != nil {
		b.Fatal(err)
	}
	return person.ID
}

// postB sends body signed by w's agent to the PS's path and wants a 200.
func postB(b *testing.B, w *world, path string, body []byte) []byte {
	req := w.agent.NewRequest(http.MethodPost, w.ps.URL(path), body)
	if _, err := w.agent.Sign(req, body); err != nil {
		b.Fatal(err)
	}
	res, err := w.env.Client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body) // drained, so the connection is reused
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("POST %s: status %d %s", path, res.StatusCode, out)
	}
	return out
}

// newWorldB is newWorld for benchmarks: a PS, an agent provider, an agent
// and a person "alice".
// databaseURL "" is a fresh SQLite file.
func newWorldB(b *testing.B, databaseURL string) *world {
	return newWorldBWith(b, databaseURL, nil)
}

// newResourceWorldB is newWorldB with the test resource at rs.test.
func newResourceWorldB(b *testing.B, databaseURL string) (*world, *conformance.Resource) {
	var rs *conformance.Resource
	w := newWorldBWith(b, databaseURL, func(env *pstest.Env) {
		var err error
		if rs, err = conformance.StartResource(env.CA, env.Resolver, "rs.test"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = rs.Close() })
	})
	return w, rs
}

// newWorldBWith is newWorldB with setup run before the PS starts (e.g. a
// resource registered with the resolver).
func newWorldBWith(b *testing.B, databaseURL string, setup func(*pstest.Env)) *world {
	b.Helper()
	env := pstest.NewEnv(b)
	ap := env.StartAP(b, "ap.test")
	if setup != nil {
		setup(env)
	}
	// One agent sends every request: the request-rate limits would measure
	// themselves (429s), so they are off here.
	ps := env.Start(b, pstest.Options{DatabaseURL: databaseURL, Configure: func(c *config.Config) {
		c.RateLimits.PerAgent, c.RateLimits.PerProvider, c.RateLimits.PerClient = ratelimit.Rule{}, ratelimit.Rule{}, ratelimit.Rule{}
	}})
	agent, err := ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a1@ap.test"})
	if err != nil {
		b.Fatal(err)
	}
	ps.CreatePerson(b, "alice", false)
	return &world{env: env, ap: ap, ps: ps, agent: agent}
}
