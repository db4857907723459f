package mission

import (
	"net/http"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Repeated mission_not_found answers to one agent are rate-limited and
// security-logged (P§mission-endpoint-errors, PS-208): an agent probing
// mission references it observed elsewhere gets nowhere fast. The limit is
// per process; replicas each apply it.
const (
	notFoundLimit  = 20
	notFoundWindow = time.Minute
	// notFoundAgents bounds the memory of the limiter; a reset only lets a
	// prober start its window again.
	notFoundAgents = 100_000
)

// NotFoundLimiter counts an agent's requests for missions that do not
// exist (or are not its own) within a sliding minute.
type NotFoundLimiter struct {
	mu     sync.Mutex
	counts map[string][]time.Time
}

// Record notes a miss for agent and reports whether the agent is now over
// the limit (its next requests get 429 until the window passes).
func (m *NotFoundLimiter) Record(agent string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil || len(m.counts) > notFoundAgents {
		m.counts = map[string][]time.Time{}
	}
	recent := m.counts[agent][:0]
	for _, t := range m.counts[agent] {
		if now.Sub(t) < notFoundWindow {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	m.counts[agent] = recent
	return len(recent) > notFoundLimit
}

// Over reports, without recording, whether agent is over the limit.
func (m *NotFoundLimiter) Over(agent string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, t := range m.counts[agent] {
		if now.Sub(t) < notFoundWindow {
			n++
		}
	}
	return n > notFoundLimit
}

// SlowDown is the answer to an agent over the limit.
func SlowDown() *aauth.Problem {
	p := aauth.NewProblem(http.StatusTooManyRequests, aauth.ErrRateLimited, "too many requests for missions that do not exist")
	p.RetryAfter = int(notFoundWindow / time.Second)
	return p
}
