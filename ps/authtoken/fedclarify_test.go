package authtoken

import (
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// TestTriage: who answers an AS's question (P§as-response, PS-126): the
// person when they are at the PS's page or the agent cannot answer, else
// the agent through the clarification relay; other stages are unchanged.
func TestTriage(t *testing.T) {
	both := []string{aauth.CapabilityInteraction, aauth.CapabilityClarification}
	for _, c := range []struct {
		stage string
		here  bool
		caps  []string
		want  string
	}{
		{StageASClarification, true, both, StageASQuestion},
		{StageASClarification, false, both, StageASClarification},
		{StageASClarification, false, []string{aauth.CapabilityInteraction}, StageASQuestion},
		{StageASClarification, false, nil, StageASQuestion},
		{StageASPayment, true, both, StageASPayment},
		{StageAccessServer, false, nil, StageAccessServer},
	} {
		if got := triage(c.stage, c.here, c.caps); got != c.want {
			t.Errorf("triage(%s, %v, %v) = %s, want %s", c.stage, c.here, c.caps, got, c.want)
		}
	}
	for stage, want := range map[string]bool{StageASPayment: true, StageASClaims: true, StageASQuestion: true,
		StageAccessServer: false, StageASInteraction: false, StageASClarification: false} {
		if personStage(stage) != want {
			t.Errorf("personStage(%s) != %v", stage, want)
		}
	}
}
