package config

import (
	"flag"
	"fmt"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/ratelimit"
)

// RateLimits are the request-rate limits (issue 12): each "N/period", a
// bucket of N refilled over period, or 0 for none. Beyond one, a signed
// request gets 429 rate_limited (slow_down on a poll) with Retry-After.
type RateLimits struct {
	PerAgent    ratelimit.Rule
	PerProvider ratelimit.Rule
	PerClient   ratelimit.Rule
	// TableSize bounds the keys each limit remembers.
	TableSize int
}

// Defaults: an agent may burst 600 requests and then 10 a second; the
// agents of one provider, and one client address, 60 000 and then 1 000 a
// second. They stop floods without touching ordinary use; a load test from
// one address raises them or sets 0.
var defaultRateLimits = RateLimits{
	PerAgent:    ratelimit.Rule{N: 600, Period: time.Minute},
	PerProvider: ratelimit.Rule{N: 60_000, Period: time.Minute},
	PerClient:   ratelimit.Rule{N: 60_000, Period: time.Minute},
	TableSize:   ratelimit.DefaultTableSize,
}

func (r *RateLimits) register(fs *flag.FlagSet) {
	*r = defaultRateLimits
	fs.Var(&r.PerAgent, "rate-limit-agent", "requests one verified agent may send: N/period (burst N, refilled over period) or 0 for no limit")
	fs.Var(&r.PerProvider, "rate-limit-provider", "requests the verified agents of one agent provider may send together: N/period or 0")
	fs.Var(&r.PerClient, "rate-limit-client", "signed requests from one client address (IPv4, or IPv6 /64), counted before verification: N/period or 0")
	fs.IntVar(&r.TableSize, "rate-limit-table-size", ratelimit.DefaultTableSize, "keys each rate limit remembers (the least recently seen is forgotten beyond)")
}

func (r *RateLimits) validate() []error {
	var errs []error
	if r.TableSize < 100 || r.TableSize > 10_000_000 {
		errs = append(errs, fmt.Errorf("--rate-limit-table-size %d: want between 100 and 10000000", r.TableSize))
	}
	return errs
}

// Rules are the limits in ps/ratelimit's terms.
func (r *RateLimits) Rules() ratelimit.Rules {
	return ratelimit.Rules{PerAgent: r.PerAgent, PerProvider: r.PerProvider, PerClient: r.PerClient, TableSize: r.TableSize}
}
