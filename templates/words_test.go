package templates_test

import (
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/permission"
	"github.com/aauth-ps/aauth-ps/templates"
)

// TestLogTextPlainWords (issue 9 item 11): the lines this Person Server
// writes to a mission log keep their stored form, but a person reads them
// in plain words, as "you" on their own mission; the agent's words and
// lines it does not know come back unchanged.
func TestLogTextPlainWords(t *testing.T) {
	refused := permission.Verdict{Permission: "denied", Basis: permission.BasisRule}.ResponseEntry("SendEmail")
	allowed := permission.Verdict{Permission: "granted", Basis: permission.BasisMission}.ResponseEntry("Search")
	for _, c := range []struct {
		kind, actor, summary string
		yours                bool
		want                 string
	}{
		{"person_token", "ps", "Person token issued for https://rs.test.", true, "It may act as you at https://rs.test."},
		{"person_token", "ps", "Person token issued for https://rs.test.", false, "It may act as the person at https://rs.test."},
		{"auth_token", "ps", "Auth token issued for https://rs.test.", true, "It was given access to https://rs.test."},
		{"auth_token", "ps", "Auth token issued for https://rs.test (scope calendar.read calendar.write).", true,
			"It was given access to https://rs.test: calendar.read, calendar.write."},
		{refused.Kind, refused.Actor, refused.Summary, true, "Refused: SendEmail, by your remembered answer."},
		{allowed.Kind, allowed.Actor, allowed.Summary, true, "Allowed: Search, as a tool approved in this mission."},
		{"interaction", "agent", "Interaction request (question: Window or aisle?).", true, "A question for you: Window or aisle?"},
		{"interaction", "agent", "Interaction request (payment).", true, "It asked you to make a payment."},
		{"termination", "person", "Mission ended: revoked.", true, "The mission was ended before it was done (revoked)."},
		{"termination", "ps", "Mission ended: expired.", true, "The mission ran out of time."},
		{"approval", "person", "Mission approved. The person edited the description.", true, "Mission approved. You edited the description."},
		{"approval", "person", "Mission approved. The person edited the description.", false, "Mission approved. The person edited the description."},
		{"update", "agent", "Person token issued for nothing.", true, "Person token issued for nothing."},
		{"person_token", "ps", "Something new.", true, "Something new."},
	} {
		got := templates.LogText(c.kind, c.actor, c.summary, c.yours)
		if got != c.want {
			t.Errorf("LogText(%s, %s, %q, %v) = %q, want %q", c.kind, c.actor, c.summary, c.yours, got, c.want)
		}
		if c.kind != "update" && strings.Contains(got, "token issued") {
			t.Errorf("LogText(%q) still says %q", c.summary, got)
		}
	}
}

// TestIdentifierBreakPoints (issue 9 item 7): an identifier may break
// after ":" "/" "-" and before "@" ".", never inside "://", and its text is
// escaped.
func TestIdentifierBreakPoints(t *testing.T) {
	for _, c := range []struct{ id, want string }{
		{"aauth:travel-bot@agents.example", "aauth:<wbr>travel-<wbr>bot<wbr>@agents<wbr>.example"},
		{"https://rs2.test/cal", "https://<wbr>rs2<wbr>.test/<wbr>cal"},
		{"aauth:<b>@x", "aauth:<wbr>&lt;b&gt;<wbr>@x"},
	} {
		var b strings.Builder
		if err := templates.Identifier(c.id).Render(t.Context(), &b); err != nil {
			t.Fatal(err)
		}
		if want := `<code class="id">` + c.want + `</code>`; b.String() != want {
			t.Errorf("Identifier(%q) = %s, want %s", c.id, b.String(), want)
		}
	}
}
