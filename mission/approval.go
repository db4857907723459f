package mission

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// Selection is the person's choice among proposed items: when Edited is
// false the proposal's items are all kept; otherwise only those in Keep.
type Selection struct {
	Edited bool
	Keep   []string
}

func (s Selection) keeps(name string) bool { return !s.Edited || slices.Contains(s.Keep, name) }

// Edits are the person's changes to a proposal before approving it
// (PS-185): a new description, subsets of the tools and resources, and a
// lifetime (nil: the mission does not expire).
type Edits struct {
	Description *string
	Tools       Selection
	Resources   Selection
	Lifetime    *time.Duration
}

// Approval is what the person approved: the proposal with their edits.
type Approval struct {
	AgentIss, AgentSub string
	PersonID           string
	Description        string
	Tools              []Tool
	Resources          []string
	ExpiresAt          *time.Time
	Capabilities       []string
	// MissionModel is the blob's mission_model member and Composition what
	// is stored beside it (Mission composition); both nil for a mission
	// approved without an Authority Set.
	MissionModel json.RawMessage
	Composition  *Composition
}

// ErrEdit is a person's edit the PS cannot accept.
var ErrEdit = errors.New("mission: edit not accepted")

// Approve applies the person's edits to the proposal at now. The tools and
// resources kept are always a subset of the proposal's: an edit can only
// narrow what the agent asked for (PS-185).
func (p Proposal) Approve(agentIss, agentSub, personID string, e Edits, now time.Time) (*Approval, error) {
	a := &Approval{AgentIss: agentIss, AgentSub: agentSub, PersonID: personID,
		Description: p.Description, Capabilities: p.Capabilities}
	if e.Description != nil {
		d := strings.TrimSpace(strings.ReplaceAll(*e.Description, "\r\n", "\n"))
		if d == "" || len(d) > MaxDescription {
			return nil, fmt.Errorf("%w: the description must be 1 to %d bytes", ErrEdit, MaxDescription)
		}
		a.Description = d
	}
	for _, t := range p.Tools {
		if e.Tools.keeps(t.Name) {
			a.Tools = append(a.Tools, t)
		}
	}
	for _, r := range p.Resources {
		if e.Resources.keeps(r) {
			a.Resources = append(a.Resources, r)
		}
	}
	if e.Lifetime != nil {
		if *e.Lifetime <= 0 {
			return nil, fmt.Errorf("%w: the lifetime must be positive", ErrEdit)
		}
		exp := now.Add(*e.Lifetime).UTC().Truncate(time.Second)
		a.ExpiresAt = &exp
	}
	return a, nil
}

// Summary is the PS's log line for an approval, naming the person's edits.
func (a *Approval) Summary(p Proposal) string {
	out := "Mission approved."
	if a.Description != p.Description {
		out += " The person edited the description."
	}
	var dropped []string
	for _, t := range p.Tools {
		if !slices.ContainsFunc(a.Tools, func(x Tool) bool { return x.Name == t.Name }) {
			dropped = append(dropped, "tool "+t.Name)
		}
	}
	for _, r := range p.Resources {
		if !slices.Contains(a.Resources, r) {
			dropped = append(dropped, "resource "+r)
		}
	}
	if len(dropped) > 0 {
		out += " The person removed: " + strings.Join(dropped, ", ") + "."
	}
	if a.ExpiresAt != nil {
		// Read by people on the mission page: no ISO string (issue 9 item 11).
		out += " It ends " + a.ExpiresAt.UTC().Format(SummaryTimeFormat) + "."
	}
	return out
}

// record is the mission approved at instant at: its blob serialized once
// (JCS) and everything stored beside it.
func (a *Approval) record(approver string, at time.Time) (*Record, error) {
	blob := Blob{Approver: approver, Agent: a.AgentSub, ApprovedAt: FormatTime(at),
		Description: a.Description, ApprovedTools: a.Tools, ApprovedResources: a.Resources, MissionModel: a.MissionModel}
	if a.ExpiresAt != nil {
		blob.ExpiresAt = FormatTime(*a.ExpiresAt)
	}
	b, err := blob.Serialize()
	if err != nil {
		return nil, err
	}
	caps := a.Capabilities
	if caps == nil {
		caps = []string{}
	}
	return &Record{S256: S256(b), Blob: b, AgentIss: a.AgentIss, AgentSub: a.AgentSub, PersonID: a.PersonID,
		ApprovedAt: at, ExpiresAt: a.ExpiresAt, Capabilities: caps, Composition: a.Composition}, nil
}

// approvedAtAttempts bounds the search for a free approved_at.
const approvedAtAttempts = 20

// Mint creates the mission: approved_at is now to the millisecond, unique
// per PS: when save reports a conflict (dberr.ErrConflict: that s256
// exists), approved_at moves forward by a millisecond and the blob is
// serialized again.
func (a *Approval) Mint(approver string, now time.Time, save func(*Record) error) (*Record, error) {
	at := now.UTC().Truncate(time.Millisecond)
	for range approvedAtAttempts {
		r, err := a.record(approver, at)
		if err != nil {
			return nil, err
		}
		err = save(r)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, dberr.ErrConflict) {
			return nil, err
		}
		at = at.Add(time.Millisecond)
	}
	return nil, errors.New("mission: could not find a unique approved_at")
}

// MarshalCapabilities is the stored form of a mission's capabilities.
func MarshalCapabilities(caps []string) string {
	if caps == nil {
		caps = []string{}
	}
	b, _ := json.Marshal(caps)
	return string(b)
}

// SummaryTimeFormat is how a time reads in a log line written for people.
const SummaryTimeFormat = "2 Jan 2006, 15:04 UTC"
