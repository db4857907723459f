package templates

import "strings"

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
	}
	switch kind {
	case "approval":
		return "Approved by " + logActor(actor, yours)
	case "termination":
		return "Ended by " + logActor(actor, yours)
	case "decision":
		return "Decided by " + logActor(actor, yours)
	}
	return upperFirst(strings.ReplaceAll(kind, "_", " ")) + ", by " + logActor(actor, yours)
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
