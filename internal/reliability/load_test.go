package reliability

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// load is a small load loop: workers asking for person tokens for rs.test
// as agents that hold the person's consent, until stopped. Every answer is
// checked: a person token (200), or — when allow503 — 503
// temporarily_unavailable with Retry-After. A transport error (the process
// is down) is counted, not judged; any other answer is wrong.
type load struct {
	allow503 bool
	// missions, when set, binds each agent's requests to its mission
	// (mission_s256): every answer is then a mission decision too.
	missions map[*conformance.Agent]string
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu          sync.Mutex
	ok, down    int
	unavailable int
	tokens      map[string]bool
	wrong       []string
}

func startLoad(p *proc, agents []*conformance.Agent, perAgent int, allow503 bool) *load {
	return startMissionLoad(p, agents, nil, perAgent, allow503)
}

// startMissionLoad is startLoad with each agent's requests naming its
// mission in missions.
func startMissionLoad(p *proc, agents []*conformance.Agent, missions map[*conformance.Agent]string, perAgent int, allow503 bool) *load {
	return startPacedMissionLoad(p, agents, missions, perAgent, allow503, 0)
}

// startPacedMissionLoad is startMissionLoad with each worker pausing
// between its requests.
func startPacedMissionLoad(p *proc, agents []*conformance.Agent, missions map[*conformance.Agent]string, perAgent int, allow503 bool, pause time.Duration) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{allow503: allow503, missions: missions, cancel: cancel, tokens: map[string]bool{}}
	for _, a := range agents {
		for range perAgent {
			l.wg.Go(func() {
				for ctx.Err() == nil {
					l.once(ctx, p, a)
					time.Sleep(pause)
				}
			})
		}
	}
	return l
}

func (l *load) once(ctx context.Context, p *proc, a *conformance.Agent) {
	body := `{"resource":"` + rsIssuer + `","n":` + strconv.FormatInt(seq.Add(1), 10)
	if s256 := l.missions[a]; s256 != "" {
		body += `,"mission_s256":"` + s256 + `"`
	}
	body += `}`
	r, err := send(ctx, p.Client, a, http.MethodPost, issuer+"/person", []byte(body), nil)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case ctx.Err() != nil:
	case err != nil:
		l.down++
		if !isTransport(err) {
			l.wrong = append(l.wrong, "transport: "+err.Error())
		}
		time.Sleep(20 * time.Millisecond)
	case r.status == http.StatusOK:
		tok, _ := r.body["person_token"].(string)
		if tok == "" || l.tokens[tok] {
			l.wrong = append(l.wrong, "200 without a new person token: "+r.String())
		}
		l.tokens[tok] = true
		l.ok++
	case l.allow503 && r.status == http.StatusServiceUnavailable && r.body["error"] == aauth.ErrTemporarilyUnavailable &&
		r.header.Get("Retry-After") != "":
		l.unavailable++
		time.Sleep(20 * time.Millisecond)
	default:
		l.wrong = append(l.wrong, r.String())
	}
}

// issuedJTIs is the jti of every person token the load was answered
// with (read from the JWT's claims, not verified: the answers were
// checked as they came).
func (l *load) issuedJTIs(t *testing.T) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	jtis := make([]string, 0, len(l.tokens))
	for tok := range l.tokens {
		_, claims, err := conformance.DecodeJWT(tok)
		jti, _ := claims["jti"].(string)
		if err != nil || jti == "" {
			t.Fatalf("a person token the load kept has no readable jti: %v", err)
		}
		jtis = append(jtis, jti)
	}
	return jtis
}

// counts returns (ok, unavailable, down).
func (l *load) counts() (int, int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.unavailable, l.down
}

// waitOK waits until n more person tokens were issued than at the call.
func (l *load) waitOK(t *testing.T, n int, within time.Duration) {
	t.Helper()
	start, _, _ := l.counts()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok, _, _ := l.counts(); ok >= start+n {
			return
		}
	}
	ok, u, d := l.counts()
	t.Fatalf("the load got %d person tokens in %v, want %d (503: %d, down: %d)", ok-start, within, n, u, d)
}

// stop ends the loop and fails the test on any wrong answer.
func (l *load) stop(t *testing.T) {
	t.Helper()
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.wrong) > 0 {
		t.Fatalf("%d wrong answers under load, first: %s", len(l.wrong), l.wrong[0])
	}
	t.Logf("load: %d person tokens, %d × 503, %d transport errors", l.ok, l.unavailable, l.down)
}
