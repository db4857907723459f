package config_test

import (
	"strings"
	"testing"
)

// TestPendingLimits: the bounds on pending requests (issue 15 item 2) have
// defaults, their AAUTH_PS_* variables, and Validate refuses values that
// would disable or break them.
func TestPendingLimits(t *testing.T) {
	c := parse(t, nil, nil)
	if c.PendingMaxPerAgent != 20 || c.PendingMaxPerProvider != 200 || c.PendingMaxPerClient != 200 ||
		c.PendingFirstContactsPerMinute != 30 || c.PendingMaxBytes != 256<<10 {
		t.Fatalf("defaults = %+v", c)
	}
	c = parse(t, nil, map[string]string{
		"AAUTH_PS_PENDING_MAX_PER_AGENT":             "5",
		"AAUTH_PS_PENDING_MAX_PER_PROVIDER":          "50",
		"AAUTH_PS_PENDING_MAX_PER_CLIENT":            "60",
		"AAUTH_PS_PENDING_FIRST_CONTACTS_PER_MINUTE": "7",
		"AAUTH_PS_PENDING_MAX_BYTES":                 "65536",
	})
	if c.PendingMaxPerAgent != 5 || c.PendingMaxPerProvider != 50 || c.PendingMaxPerClient != 60 ||
		c.PendingFirstContactsPerMinute != 7 || c.PendingMaxBytes != 65536 {
		t.Fatalf("from the environment: %+v", c)
	}

	c = parse(t, []string{"--issuer", "https://ps.example", "--dev",
		"--pending-max-per-agent", "0", "--pending-max-per-provider", "-1", "--pending-max-per-client", "0",
		"--pending-first-contacts-per-minute", "0", "--pending-max-bytes", "100"}, nil)
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted disabled pending limits")
	}
	for _, want := range []string{
		"--pending-max-per-agent 0", "--pending-max-per-provider -1", "--pending-max-per-client 0",
		"--pending-first-contacts-per-minute 0", "--pending-max-bytes 100",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q:\n%v", want, err)
		}
	}
	c = parse(t, []string{"--issuer", "https://ps.example", "--dev", "--pending-max-per-agent", "300"}, nil)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "exceeds --pending-max-per-provider 200") {
		t.Fatalf("a per-agent bound above the per-provider one: %v", err)
	}
	c = parse(t, []string{"--issuer", "https://ps.example", "--dev"}, nil)
	if err := c.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
}
