package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestMarkupHeavyProposalFitsItsPendingBound: the PS stores a pending
// request's payload as the JSON it received, not re-escaped for HTML (Go's
// default turns each '<', '>' and '&' into six bytes), so a maximal
// proposal written in markup stays within the per-request byte bound that a
// maximal plain proposal fits (issue 15 item 2, PS-146).
func TestMarkupHeavyProposalFitsItsPendingBound(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	tools := make([]map[string]string, 64)
	for i := range tools {
		tools[i] = map[string]string{"name": fmt.Sprintf("tool-%02d", i), "description": strings.Repeat("<&>", 1024/3)}
	}
	var body strings.Builder
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // as an agent would send it: raw markup
	if err := enc.Encode(map[string]any{
		"description": strings.Repeat("<b>&</b>", (8<<10)/8), "tools": tools, "capabilities": []string{"interaction"},
	}); err != nil {
		t.Fatal(err)
	}
	w.expectInteraction(t, w.post(t, w.agent, "/mission", body.String()))
}
