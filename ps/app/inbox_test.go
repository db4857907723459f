package app_test

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestHomeInboxSaysWhatWaits (issue 9 item 9): each item waiting for the
// person on the home page says what it is — a mission (with its title),
// a token (with its resource and scopes), a question (with its text).
func TestHomeInboxSaysWhatWaits(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	open(t, b, w.propose(t, w.agent, `{"description":"# Book the *Lisbon* trip\n\nFlights and hotel.","capabilities":["interaction"]}`))
	open(t, b, w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`)))
	open(t, b, w.ask(t, w.agent, "Window or aisle?", "interaction"))

	pg := b.Get(t, "/")
	if pg.Status != http.StatusOK {
		t.Fatalf("home: %d", pg.Status)
	}
	text := html.UnescapeString(pg.HTML)
	for _, want := range []string{"Mission proposed: Book the Lisbon trip", "Token: act as you at https://rs.test", "Question: Window or aisle?"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the inbox does not say %q:\n%s", want, pg.HTML)
		}
	}
	if strings.Contains(pg.HTML, "<em>Lisbon</em>") {
		t.Fatalf("agent Markdown rendered in the inbox:\n%s", pg.HTML)
	}
}
