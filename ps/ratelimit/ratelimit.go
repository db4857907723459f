// Package ratelimit bounds how fast one key (an agent, an agent provider, a
// client address) may call the PS: a token bucket per key (golang.org/x/time/rate)
// kept in a bounded LRU table (hashicorp/golang-lru), so neither the
// request rate nor the table's memory is unbounded.
//
// A Rule is "N per period": a bucket of N requests refilled at N/period, so
// a quiet key may burst up to N at once and then gets N per period. Buckets
// live in one process: each replica counts on its own, so behind a load
// balancer spreading over R replicas a key gets up to R times the rule
// (docs/operations.md, Reliability). It imports no gin, gorm or templ.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Rule is N requests per Period; the zero Rule is "no limit".
type Rule struct {
	N      int
	Period time.Duration
}

// Off reports whether r limits nothing.
func (r Rule) Off() bool { return r.N <= 0 || r.Period <= 0 }

// String renders r as ParseRule reads it ("0" when off).
func (r Rule) String() string {
	if r.Off() {
		return "0"
	}
	return strconv.Itoa(r.N) + "/" + r.Period.String()
}

// ParseRule reads "N/period" (e.g. "600/1m", "20/1s") or "0" (off).
func ParseRule(s string) (Rule, error) {
	s = strings.TrimSpace(s)
	if s == "0" || s == "off" {
		return Rule{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rule{}, fmt.Errorf("%q: want N/period (for example 600/1m) or 0", s)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 || count > 100_000_000 {
		return Rule{}, fmt.Errorf("%q: N must be an integer from 1 to 100000000", s)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Second || d > 24*time.Hour {
		return Rule{}, fmt.Errorf("%q: the period must be a duration from 1s to 24h", s)
	}
	return Rule{N: count, Period: d}, nil
}

// Set implements flag.Value.
func (r *Rule) Set(s string) error {
	v, err := ParseRule(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// DefaultTableSize bounds the keys one Limiter remembers. When full, the
// least recently seen key is forgotten (it starts again with a full bucket).
const DefaultTableSize = 100_000

// Limiter holds one bucket per key under one Rule. The zero value and a
// Limiter with an Off rule allow everything.
type Limiter struct {
	rule  Rule
	now   func() time.Time
	mu    sync.Mutex // makes "get or add" one step
	table *lru.Cache[string, *rate.Limiter]
}

// New returns a Limiter for rule remembering at most size keys
// (DefaultTableSize when size ≤ 0); now is the clock (time.Now when nil).
func New(rule Rule, size int, now func() time.Time) *Limiter {
	if size <= 0 {
		size = DefaultTableSize
	}
	if now == nil {
		now = time.Now
	}
	table, err := lru.New[string, *rate.Limiter](size)
	if err != nil { // only for size ≤ 0, excluded above
		panic(err)
	}
	return &Limiter{rule: rule, now: now, table: table}
}

// ErrLimited is what Exceeded wraps.
var ErrLimited = errors.New("rate limit exceeded")

// Exceeded is a refusal: which limit, and when to retry.
type Exceeded struct {
	Limit      string        // "agent", "provider" or "client"
	RetryAfter time.Duration // until the bucket holds one more request
}

func (e *Exceeded) Error() string {
	return fmt.Sprintf("%s: %s (retry in %s)", ErrLimited, e.Limit, e.RetryAfter)
}

func (e *Exceeded) Unwrap() error { return ErrLimited }

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1
// (Retry-After is delta-seconds, and 0 would mean "now").
func (e *Exceeded) RetryAfterSeconds() int {
	return max(int(math.Ceil(e.RetryAfter.Seconds())), 1)
}

// Allow takes one request from key's bucket. It returns the time until
// the bucket holds one again when it is empty (the request is then not
// counted), or 0.
func (l *Limiter) Allow(key string) time.Duration {
	if l == nil || l.rule.Off() || l.table == nil {
		return 0
	}
	now := l.now()
	l.mu.Lock()
	b, ok := l.table.Get(key)
	if !ok {
		b = rate.NewLimiter(rate.Limit(float64(l.rule.N)/l.rule.Period.Seconds()), l.rule.N)
		l.table.Add(key, b)
	}
	l.mu.Unlock()
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return l.rule.Period
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request does not use up the next token
		return d
	}
	return 0
}

// Len is the number of keys remembered (for tests and metrics).
func (l *Limiter) Len() int {
	if l == nil || l.table == nil {
		return 0
	}
	return l.table.Len()
}

// ClientKey is the key of a client address: the IPv4 address, or the /64
// of an IPv6 address (one subscriber usually holds a whole /64).
func ClientKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// Set is the PS's three request-rate limits: per verified agent, per agent
// provider (of a verified agent) and per client address (before anything
// is verified, so unauthenticated floods are bounded too).
type Set struct {
	Agent, Provider, Client *Limiter
}

// Rules configure a Set.
type Rules struct {
	PerAgent, PerProvider, PerClient Rule
	TableSize                        int
}

// NewSet builds the three limiters.
func NewSet(r Rules, now func() time.Time) *Set {
	return &Set{Agent: New(r.PerAgent, r.TableSize, now), Provider: New(r.PerProvider, r.TableSize, now),
		Client: New(r.PerClient, r.TableSize, now)}
}

// CheckClient counts one request from addr; an *Exceeded when over.
func (s *Set) CheckClient(addr netip.Addr) error {
	if s == nil {
		return nil
	}
	if d := s.Client.Allow(ClientKey(addr)); d > 0 {
		return &Exceeded{Limit: "client", RetryAfter: d}
	}
	return nil
}

// CheckAgent counts one request by a verified agent of provider; an
// *Exceeded when either bound is over. The agent's bucket is checked
// first, so one busy agent exhausts its own bucket, not its provider's.
func (s *Set) CheckAgent(provider, agent string) error {
	if s == nil {
		return nil
	}
	if d := s.Agent.Allow(provider + "\x00" + agent); d > 0 {
		return &Exceeded{Limit: "agent", RetryAfter: d}
	}
	if d := s.Provider.Allow(provider); d > 0 {
		return &Exceeded{Limit: "provider", RetryAfter: d}
	}
	return nil
}
