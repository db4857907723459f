package suite_test

import (
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance/suite"
)

// TestNotWireTestable: every row declared not wire-testable is a MUST row
// of the index with a reason, and no check claims it (a row is either
// checked or declared untestable, never both).
func TestNotWireTestable(t *testing.T) {
	level := map[string]string{}
	for _, r := range suite.Requirements() {
		level[r.ID] = r.Level
	}
	claimed := map[string]bool{}
	for _, c := range suite.Checks() {
		claimed[c.ID] = true
		for _, id := range c.Also {
			claimed[id] = true
		}
	}
	ids, why := suite.NotWireTestable()
	if len(ids) == 0 {
		t.Fatal("no rows declared")
	}
	for _, id := range ids {
		if level[id] != suite.MUST {
			t.Errorf("%s: level %q, want a MUST row", id, level[id])
		}
		if why[id] == "" {
			t.Errorf("%s: no reason", id)
		}
		if claimed[id] {
			t.Errorf("%s is declared not wire-testable but a check claims it", id)
		}
	}
}
