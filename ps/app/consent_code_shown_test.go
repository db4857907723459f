package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestConsentShowsTheArrivalCode (P§interaction-code-format: the person
// "compares it against the code shown on the interaction page";
// P§interaction-code-misdirection; PS-159, PS-162): the page reached with
// ?code= shows that code in the display form the agent was given (however
// the person typed it: case, hyphens), among what this server verified,
// never among what the agent says. Later visits without the code show no
// code (it is single-use and not kept once used).
func TestConsentShowsTheArrivalCode(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)

	s := w.ask(t, w.agent, "Connect me?", "interaction")
	pg := open(t, alice, s)
	facts, said := section(pg.HTML, "assert-ps"), section(pg.HTML, "assert-agent")
	if !strings.Contains(facts, `<code class="interaction-code">`+s.code+`</code>`) || !strings.Contains(facts, "Check that your agent shows you this same code") {
		t.Fatalf("the code %s is not among what the server verified:\n%s", s.code, facts)
	}
	if strings.Contains(said, s.code) {
		t.Fatalf("the code is shown as something the agent says:\n%s", said)
	}
	if again := alice.Get(t, s.path()); again.Status != http.StatusOK || strings.Contains(again.HTML, "interaction-code") ||
		strings.Contains(again.HTML, s.code) {
		t.Fatalf("a later visit without the code still shows one (%d)", again.Status)
	}

	// Typed in lower case without the hyphen (the code form, or a link
	// re-typed by hand): shown as the agent shows it.
	s2 := w.ask(t, w.agent, "Another?", "interaction")
	typed := strings.ToLower(strings.ReplaceAll(s2.code, "-", ""))
	pg = alice.Get(t, s2.path()+"?code="+typed)
	if pg.Status != http.StatusOK || !strings.Contains(section(pg.HTML, "assert-ps"), `<code class="interaction-code">`+s2.code+`</code>`) {
		t.Fatalf("typed %q, want %s shown: %d\n%s", typed, s2.code, pg.Status, pg.HTML)
	}

	// A wrong code shows no code: the code form comes back.
	s3 := w.ask(t, w.agent, "A third?", "interaction")
	pg = alice.Get(t, s3.path()+"?code=ZZZZZ-ZZZZZ")
	if strings.Contains(pg.HTML, "interaction-code") || strings.Contains(pg.HTML, "ZZZZZ") {
		t.Fatalf("a wrong code is displayed: %d\n%s", pg.Status, pg.HTML)
	}
}
