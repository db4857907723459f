package suite

import "testing"

// TestNotWireTestable: each listed id is a §3 row and no check claims it
// (a row with a check is testable after all).
func TestNotWireTestable(t *testing.T) {
	rows := map[string]bool{}
	for _, r := range Requirements() {
		rows[r.ID] = true
	}
	claimed := map[string]bool{}
	for _, c := range Checks() {
		claimed[c.ID] = true
		for _, id := range c.Also {
			claimed[id] = true
		}
	}
	for id, why := range NotWireTestable() {
		if !rows[id] || why == "" {
			t.Errorf("%s: not a requirement row, or no reason", id)
		}
		if claimed[id] {
			t.Errorf("%s is listed as not wire-testable, yet a check carries it", id)
		}
	}
}
