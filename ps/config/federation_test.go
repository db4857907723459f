package config_test

import (
	"strings"
	"testing"
	"time"
)

// TestAccessServerPolling (issue 11, poll leases): the PS polls an access
// server for up to 10 s in one go and a replica's poll lease outlasts
// that by 30 s by default; both are settable and bounded.
func TestAccessServerPolling(t *testing.T) {
	c := parse(t, nil, nil)
	if c.AccessServerWait != 10*time.Second || c.AccessServerPollLease != 30*time.Second {
		t.Fatalf("defaults: wait %s, lease %s", c.AccessServerWait, c.AccessServerPollLease)
	}
	c = parse(t, []string{"--access-server-wait=2s"}, map[string]string{"AAUTH_PS_ACCESS_SERVER_POLL_LEASE": "1m"})
	if c.AccessServerWait != 2*time.Second || c.AccessServerPollLease != time.Minute {
		t.Fatalf("set: wait %s, lease %s", c.AccessServerWait, c.AccessServerPollLease)
	}
	for _, bad := range []struct {
		flag        string
		wait, lease time.Duration
	}{
		{"--access-server-wait", 500 * time.Millisecond, time.Second}, {"--access-server-wait", 2 * time.Minute, time.Second},
		{"--access-server-poll-lease", time.Second, 0}, {"--access-server-poll-lease", time.Second, 11 * time.Minute},
	} {
		c := valid(t)
		c.AccessServerWait, c.AccessServerPollLease = bad.wait, bad.lease
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), bad.flag) {
			t.Errorf("wait %s, lease %s: %v, want %s refused", bad.wait, bad.lease, err, bad.flag)
		}
	}
}

// TestDatabaseMaxConns (issue 12): the PostgreSQL pool is 20 connections
// unless the operator sizes it (flag or environment), within 5 to 500.
func TestDatabaseMaxConns(t *testing.T) {
	if c := parse(t, nil, nil); c.DatabaseMaxConns != 20 {
		t.Fatalf("default %d, want 20", c.DatabaseMaxConns)
	}
	if c := parse(t, []string{"--database-max-conns=48"}, nil); c.DatabaseMaxConns != 48 {
		t.Fatalf("flag: %d, want 48", c.DatabaseMaxConns)
	}
	if c := parse(t, nil, map[string]string{"AAUTH_PS_DATABASE_MAX_CONNS": "64"}); c.DatabaseMaxConns != 64 {
		t.Fatalf("environment: %d, want 64", c.DatabaseMaxConns)
	}
	for _, n := range []int{0, 4, 501} {
		c := valid(t)
		c.DatabaseMaxConns = n
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--database-max-conns") {
			t.Errorf("%d: %v, want --database-max-conns refused", n, err)
		}
	}
}
