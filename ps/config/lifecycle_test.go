package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/config"
)

// TestMissionHoldSettings (issue 10, design §5): the hold timeout defaults
// to 15 minutes and is bounded to 1m–24h; suspension revokes the
// outstanding tokens unless turned off.
func TestMissionHoldSettings(t *testing.T) {
	c := parse(t, nil, nil)
	if c.MissionHoldTimeout != 15*time.Minute || !c.MissionSuspendRevokes {
		t.Fatalf("defaults: hold %s, suspend revokes %v", c.MissionHoldTimeout, c.MissionSuspendRevokes)
	}
	c = parse(t, []string{"--mission-suspend-revokes=false"}, map[string]string{"AAUTH_PS_MISSION_HOLD_TIMEOUT": "2h"})
	if c.MissionHoldTimeout != 2*time.Hour || c.MissionSuspendRevokes {
		t.Fatalf("set: hold %s, suspend revokes %v", c.MissionHoldTimeout, c.MissionSuspendRevokes)
	}
	for _, bad := range []time.Duration{30 * time.Second, 25 * time.Hour} {
		c := valid(t)
		c.MissionHoldTimeout = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--mission-hold-timeout") {
			t.Errorf("--mission-hold-timeout %s: %v, want refused", bad, err)
		}
	}
	if c := valid(t); c.Validate() != nil {
		t.Fatal("the defaults do not validate")
	}
}

// TestMissionRiskSettings (issue 10, design §5 risk policy): three
// exclusion hits in ten minutes by default; 0 turns it off; bounded.
func TestMissionRiskSettings(t *testing.T) {
	c := parse(t, nil, nil)
	if c.MissionRiskExclusions != 3 || c.MissionRiskWindow != 10*time.Minute {
		t.Fatalf("defaults: %d in %s", c.MissionRiskExclusions, c.MissionRiskWindow)
	}
	c = parse(t, []string{"--mission-risk-exclusions=0"}, map[string]string{"AAUTH_PS_MISSION_RISK_WINDOW": "1h"})
	if c.MissionRiskExclusions != 0 || c.MissionRiskWindow != time.Hour {
		t.Fatalf("set: %d in %s", c.MissionRiskExclusions, c.MissionRiskWindow)
	}
	for flag, edit := range map[string]func(c *config.Config){
		"--mission-risk-exclusions": func(c *config.Config) { c.MissionRiskExclusions = -1 },
		"--mission-risk-window":     func(c *config.Config) { c.MissionRiskWindow = 30 * time.Second },
	} {
		c := valid(t)
		edit(c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s out of bounds: %v, want refused", flag, err)
		}
	}
}
