package app_test

import (
	"io"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
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
	b.Run("postgres", func(b *testing.B) { benchPersonToken(b, newWorldB(b, storetest.NewPostgresURL(b))) })
}

func benchPersonToken(b *testing.B, w *world) {
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
	i := 0
	cpu0 := processCPU(b)
	for b.Loop() {
		i++
		body := []byte(`{"resource":"https://rs.test","n":` + strconv.Itoa(i) + `}`)
		req := w.agent.NewRequest(http.MethodPost, w.ps.URL("/person"), body)
		if _, err := w.agent.Sign(req, body); err != nil {
			b.Fatal(err)
		}
		res, err := w.env.Client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body) // drained, so the connection is reused
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
	// Process CPU (user + system) per request, client included: on a
	// loaded machine it moves far less than ns/op (wall time).
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is this process's user + system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// newWorldB is newWorld for benchmarks: a PS, an agent provider, an agent
// and a person "alice".
// databaseURL "" is a fresh SQLite file.
func newWorldB(b *testing.B, databaseURL string) *world {
	b.Helper()
	env := pstest.NewEnv(b)
	ap := env.StartAP(b, "ap.test")
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
