package templates

import (
	"html"
	"strconv"
	"strings"
)

// LogLabel says in plain words what a mission-log entry is and who it
// comes from, instead of the log's own kind and actor names ("person_token,
// by ps"; issue 9 item 11). yours is whether the person reading is the
// mission's owner ("you") or an administrator ("the person").
func LogLabel(kind, actor string, yours bool) string {
	switch kind + "/" + actor {
	case "proposal/agent":
		return "Proposed by the agent"
	case "clarification/person", "clarification/admin":
		return "Question to the agent, from " + logActor(actor, yours)
	case "clarification/agent":
		return "The agent's answer"
	case "clarification/ps":
		return "An access server's question, answered by this server"
	case "person_token/agent":
		return "The agent's reason for acting as " + owner(yours)
	case "person_token/ps":
		return "The agent was allowed to act as " + owner(yours)
	case "auth_token/agent":
		return "The agent's reason for asking for access"
	case "auth_token/ps":
		return "The agent was given access"
	case "update/agent":
		return "Update reported by the agent"
	case "completion/agent":
		return "The agent says the mission is done"
	case "audit/agent":
		return "What the agent says it did"
	case "interaction/agent":
		return "The agent asked to reach " + owner(yours)
	case "permission/agent":
		return "The agent asked for permission"
	case "permission/ps":
		return "The answer to the agent"
	}
	switch kind {
	case "approval":
		return "Approved by " + logActor(actor, yours)
	case "termination":
		return "Ended by " + logActor(actor, yours)
	case "suspension":
		return "Suspended by " + logActor(actor, yours)
	case "resumption":
		return "Resumed by " + logActor(actor, yours)
	case "decision":
		return "Decided by " + logActor(actor, yours)
	}
	return upperFirst(strings.ReplaceAll(kind, "_", " ")) + ", by " + logActor(actor, yours)
}

// LogText is what a person reads for a mission-log entry's summary. The
// log keeps the lines this Person Server writes in the form other parts
// read ("Person token issued for https://rs."); shown to people they say
// in plain words what happened, with the person as "you" when yours
// (issue 9 item 11). Lines it does not know, and the agent's own words,
// come back unchanged.
func LogText(kind, actor, summary string, yours bool) string {
	switch kind + "/" + actor {
	case "person_token/ps":
		if res, ok := cutAround(summary, "Person token issued for ", "."); ok {
			return "It may act as " + owner(yours) + " at " + res + "."
		}
	case "auth_token/ps":
		if rest, ok := cutAround(summary, "Auth token issued for ", "."); ok {
			res, scope, scoped := strings.Cut(rest, " (scope ")
			if !scoped {
				return "It was given access to " + res + "."
			}
			return "It was given access to " + res + ": " + strings.Join(strings.Fields(strings.TrimSuffix(scope, ")")), ", ") + "."
		}
	case "permission/ps":
		if rest, ok := cutAround(summary, "Permission ", ")."); ok {
			verdict, rest, _ := strings.Cut(rest, " for ")
			action, why, _ := strings.Cut(rest, " (")
			word := map[string]string{"granted": "Allowed", "denied": "Refused"}[verdict]
			basis := map[string]string{"the person's standing answer": "by " + possessive(yours) + " remembered answer",
				"a tool approved in this mission": "as a tool approved in this mission",
				"the person's answer":             "by " + possessive(yours) + " answer"}[why]
			if word != "" && basis != "" {
				return word + ": " + action + ", " + basis + "."
			}
		}
	case "interaction/agent":
		if what, ok := cutAround(summary, "Interaction request (", ")."); ok {
			if q, isQuestion := strings.CutPrefix(what, "question: "); isQuestion {
				return "A question for " + owner(yours) + ": " + q
			}
			switch what {
			case "interaction":
				return "It asked " + owner(yours) + " to continue on another site."
			case "payment":
				return "It asked " + owner(yours) + " to make a payment."
			}
		}
	}
	if kind == "termination" {
		if reason, ok := cutAround(summary, "Mission ended: ", "."); ok {
			switch reason {
			case "completed":
				return "The mission is done: it ended as completed."
			case "revoked":
				return "The mission was ended before it was done (revoked)."
			case "expired":
				return "The mission ran out of time."
			case "superseded":
				return "A newer mission took its place."
			case "administrative":
				return "An administrator ended the mission."
			}
		}
	}
	if kind == "approval" && yours {
		return strings.ReplaceAll(summary, "The person ", "You ")
	}
	return summary
}

// cutAround returns s without prefix and suffix, when it has both.
func cutAround(s, prefix, suffix string) (string, bool) {
	mid, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(mid, suffix)
}

func possessive(yours bool) string {
	if yours {
		return "your"
	}
	return "the person's"
}

// logActor names who wrote a log entry.
func logActor(actor string, yours bool) string {
	switch actor {
	case "agent":
		return "the agent"
	case "person":
		return owner(yours)
	case "admin":
		return "an administrator"
	case "ps":
		return "this Person Server"
	}
	return actor
}

func owner(yours bool) string {
	if yours {
		return "you"
	}
	return "the person"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// EndedBadge is the badge class of an ended mission: a mission that was
// completed or ran out its time ended as planned (neutral); one revoked or
// ended by an administrator was stopped (danger). Colours mean what they
// say (issue 9 item 11).
func EndedBadge(reason string) string {
	switch reason {
	case "revoked", "administrative":
		return "badge revoked"
	}
	return "badge ended"
}

// identifierParts splits an identifier where a line may break: after
// ":", "/" and "-" (not inside "://"), before "@" and ".".
func identifierParts(id string) []string {
	var parts []string
	start := 0
	for i, r := range id {
		switch r {
		case '@', '.':
			if i > start {
				parts = append(parts, id[start:i])
				start = i
			}
		case ':', '/', '-':
			// "https://" stays whole: no break inside "://" or "//".
			if i+1 < len(id) && id[i+1] == '/' {
				continue
			}
			parts = append(parts, id[start:i+1])
			start = i + 1
		}
	}
	if start < len(id) {
		parts = append(parts, id[start:])
	}
	return parts
}

// identifierHTML is id, escaped, with a <wbr> between its parts and no
// other space (a space would show inside the identifier).
func identifierHTML(id string) string {
	parts := identifierParts(id)
	for i, p := range parts {
		parts[i] = html.EscapeString(p)
	}
	return strings.Join(parts, "<wbr>")
}

// roleStepsText is "1 mission step waits" or "N mission steps wait".
func roleStepsText(n int) string {
	if n == 1 {
		return "1 mission step waits"
	}
	return strconv.Itoa(n) + " mission steps wait"
}
