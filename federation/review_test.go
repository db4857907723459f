package federation

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Security review (branch rev): expected to FAIL until fixed.

// TestReviewClarificationQuestionBounded: an AS's clarification text is
// not bounded by the PS (federation.clarification bounds options but not
// the question). On the agent path Engine.Ask refuses more than
// pending.MaxMarkdown (8 KiB) — after stepAS already stored it in the
// payload and in AgentAsked — and on the person path (StageASQuestion) it
// is stored in the pending payload and rendered as Markdown whatever its
// size, up to the fetcher's 256 KiB body cap, past pending's MaxBytes
// (Engine.Update does not apply it). The PS's own questions are bounded
// at 8 KiB; an AS's should be refused (as_unreachable) beyond the same.
func TestReviewClarificationQuestionBounded(t *testing.T) {
	q := strings.Repeat("Which calendar? ", 200<<10/16)
	body, _ := json.Marshal(map[string]any{"clarification": q})
	if w, err := clarification(body, time.Unix(1_800_000_000, 0)); err == nil {
		t.Fatalf("an AS clarification of %d bytes was accepted (question kept: %d bytes); want it refused beyond 8 KiB", len(q), len(w.Question))
	}
}
