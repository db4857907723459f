package config_test

import (
	"strings"
	"testing"
	"time"
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
