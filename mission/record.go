package mission

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Record is a mission as this PS keeps it: the exact approved blob bytes,
// who it belongs to, and its lifecycle.
type Record struct {
	S256         string
	Blob         []byte // exactly the approved bytes
	AgentIss     string
	AgentSub     string
	PersonID     string
	ApprovedAt   time.Time
	ExpiresAt    *time.Time
	Terminated   bool
	Reason       Reason
	EndedAt      *time.Time
	EndedBy      string
	Capabilities []string
	// Version is bumped by every decision that writes mission state; a
	// decision commits only if it still holds (compare-and-swap).
	Version int64
	// Hold is set while the mission is suspended (still active on the wire).
	Hold *Hold
	// Composition is the Mission composition part (Authority Set, anchors,
	// consent rendering); nil for a mission approved before it existed.
	Composition *Composition
}

// State is the mission's lifecycle input.
func (m *Record) State() State {
	return State{Terminated: m.Terminated, Reason: m.Reason, ExpiresAt: m.ExpiresAt}
}

// Parsed decodes the blob.
func (m *Record) Parsed() (*Blob, error) { return ParseBlob(m.Blob) }

// Approves reports whether the person approved resource in this mission:
// a person token for it needs no further consent (P§mission-approval).
func (m *Record) Approves(resource string) bool {
	b, err := m.Parsed()
	return err == nil && slices.Contains(b.ApprovedResources, resource)
}

// OwnerKey is the single-probe lookup key of an agent's mission: a miss on
// it costs the same whether the mission is unknown or another agent's
// (A-05, PS-060, PS-196).
func OwnerKey(agentIss, agentSub, s256 string) string {
	h := sha256.New()
	for _, p := range []string{agentIss, agentSub, s256} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Entry is one record of the mission log (P§mission-log).
type Entry struct {
	Seq     int64
	At      time.Time
	Kind    string // proposal, approval, clarification, person_token, update, completion, interaction, decision, termination
	Actor   string // agent, person, ps, admin
	Summary string // Markdown (agent-asserted when Actor is agent) or a PS-written line
	Body    []byte // exact bytes, for accepted updates
	Digest  string // s256 of Body
}

// Actor maps who ended a mission onto a log actor; anything unknown was a
// person acting through the UI.
func Actor(by string) string {
	switch by {
	case "ps", "agent", "person", "admin":
		return by
	}
	return "person"
}

// NotFound is the one answer for an unknown mission and another agent's.
func NotFound() *aauth.Problem {
	return aauth.NewProblem(http.StatusNotFound, aauth.ErrMissionNotFound, "no such mission")
}

// Terminated is the answer for the owner's ended mission (P§mission-status-errors).
func Terminated(reason Reason) *aauth.Problem {
	p := aauth.NewProblem(http.StatusForbidden, aauth.ErrMissionTerminated, "the mission has ended")
	p.Extra = map[string]any{"mission_status": "terminated", "termination_reason": string(reason)}
	return p
}
