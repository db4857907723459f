package missions

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
)

type misses struct {
	mu     sync.Mutex
	counts map[string][]time.Time
}

// record notes a miss for agent and reports whether the agent is over the
// limit (its next requests get 429 until the window passes).
func (m *misses) record(agent string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil || len(m.counts) > 100_000 {
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

// over reports, without recording, whether agent is over the limit.
func (m *misses) over(agent string, now time.Time) bool {
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

func slowDown() *aauth.Problem {
	p := aauth.NewProblem(http.StatusTooManyRequests, aauth.ErrRateLimited, "too many requests for missions that do not exist")
	p.RetryAfter = int(notFoundWindow / time.Second)
	return p
}
