package templates_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/templates"
)

// TestChatSaysWhoAsked: the person's page attributes each question of the
// clarification chat to who asked it — the person, this server (a
// mission's narrowing) or the resource's access server (four-party, the
// PS passed its question to the agent: the access server's words, never
// "You asked"). Issue 11, PS-126; the UI rule that what the PS verified,
// the agent says and another party says are never mixed.
func TestChatSaysWhoAsked(t *testing.T) {
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	v := templates.InteractView{Headline: "Allow access", Chat: []templates.Clarification{
		{Question: "Which trip?", Asked: at},
		{Question: "Ask again for less.", Asked: at, ByServer: true},
		{Question: "Which calendar: work or home?", Asked: at, ByAccessServer: "https://as.test"},
	}}
	var b strings.Builder
	if err := templates.InteractPage(templates.Page{Title: "t", Viewer: &templates.Viewer{Username: "alice"}}, v).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{
		`You asked:</span> Which trip?`,
		`This server asked, for your mission:</span> Ask again for less.`,
		`The access server <code>https://as.test</code> asked the agent (its words, not verified):</span> Which calendar: work or home?`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %q in:\n%s", want, html)
		}
	}
	if n := strings.Count(html, "You asked:"); n != 1 {
		t.Errorf(`"You asked:" %d times, want only the person's own question`, n)
	}
}
