package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/ratelimit"
)

// TestRateLimitFlags (issue 12): the request-rate limits have defaults,
// are set by flag or AAUTH_PS_* variable as N/period or 0, and a bad value
// is reported at start.
func TestRateLimitFlags(t *testing.T) {
	c, _, err := config.Parse("serve", nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimits.PerAgent != (ratelimit.Rule{N: 600, Period: time.Minute}) || c.RateLimits.PerClient.Off() || c.RateLimits.PerProvider.Off() {
		t.Fatalf("defaults: %+v", c.RateLimits)
	}
	env := map[string]string{"AAUTH_PS_RATE_LIMIT_AGENT": "5/1s", "AAUTH_PS_RATE_LIMIT_CLIENT": "0"}
	c, _, err = config.Parse("serve", []string{"--rate-limit-provider", "100/10s"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	r := c.RateLimits.Rules()
	if r.PerAgent.String() != "5/1s" || !r.PerClient.Off() || r.PerProvider.String() != "100/10s" {
		t.Fatalf("parsed: %+v", r)
	}
	if _, _, err := config.Parse("serve", []string{"--rate-limit-agent", "lots"}, func(string) string { return "" }); err == nil ||
		!strings.Contains(err.Error(), "N/period") {
		t.Fatalf("a bad rule: %v", err)
	}
	c, _, _ = config.Parse("serve", []string{"--rate-limit-table-size", "5"}, func(string) string { return "" })
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--rate-limit-table-size") {
		t.Fatalf("a tiny table: %v", err)
	}
}
