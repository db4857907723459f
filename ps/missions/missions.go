// Package missions runs the mission layer at this PS: it stores approved
// missions (the exact blob bytes), answers the agent's mission endpoint
// (propose, update, completion) and the mission control plane (read,
// revoke, terminate), evaluates a mission named by any request, and keeps
// the ordered mission log.
//
// The domain rules (blob, s256, references, lifecycle) are in package
// mission; this package is their storage and orchestration.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Mission with
// PS-REQUIREMENTS §2.4, §3.15–3.17 and.
package missions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Errors.
var (
	// ErrNotFound: no such mission, or not the caller's (one error for both, A-05).
	ErrNotFound = errors.New("missions: not found")
)

// Mission is a stored mission.
type Mission struct {
	S256         string
	Blob         []byte // exactly the approved bytes
	AgentIss     string
	AgentSub     string
	PersonID     string
	ApprovedAt   time.Time
	ExpiresAt    *time.Time
	Terminated   bool
	Reason       mission.Reason
	EndedAt      *time.Time
	EndedBy      string
	Capabilities []string
}

// State is the mission's lifecycle input.
func (m *Mission) State() mission.State {
	return mission.State{Terminated: m.Terminated, Reason: m.Reason, ExpiresAt: m.ExpiresAt}
}

// Parsed decodes the blob.
func (m *Mission) Parsed() (*mission.Blob, error) { return mission.ParseBlob(m.Blob) }

type row struct {
	S256              string  `gorm:"column:s256;primaryKey"`
	Blob              []byte  `gorm:"column:blob"`
	AgentIss          string  `gorm:"column:agent_iss"`
	AgentSub          string  `gorm:"column:agent_sub"`
	PersonID          string  `gorm:"column:person_id"`
	ApprovedAtMS      int64   `gorm:"column:approved_at_ms"`
	ExpiresAt         *int64  `gorm:"column:expires_at"`
	State             string  `gorm:"column:state"`
	TerminationReason *string `gorm:"column:termination_reason"`
	TerminatedAt      *int64  `gorm:"column:terminated_at"`
	TerminatedBy      *string `gorm:"column:terminated_by"`
	Capabilities      string  `gorm:"column:capabilities"`
	OwnerKey          string  `gorm:"column:owner_key"`
}

// ownerKey is the single-probe lookup key of an agent's mission: a miss
// on it costs the same whether the mission is unknown or not the agent's.
func ownerKey(agentIss, agentSub, s256 string) string {
	h := sha256.New()
	for _, p := range []string{agentIss, agentSub, s256} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (row) TableName() string { return "missions" }

func (r row) mission() *Mission {
	m := &Mission{S256: r.S256, Blob: r.Blob, AgentIss: r.AgentIss, AgentSub: r.AgentSub, PersonID: r.PersonID,
		ApprovedAt: time.UnixMilli(r.ApprovedAtMS).UTC(), Terminated: r.State == "terminated"}
	if r.ExpiresAt != nil {
		t := time.Unix(*r.ExpiresAt, 0).UTC()
		m.ExpiresAt = &t
	}
	if r.TerminationReason != nil {
		m.Reason = mission.Reason(*r.TerminationReason)
	}
	if r.TerminatedAt != nil {
		t := time.Unix(*r.TerminatedAt, 0).UTC()
		m.EndedAt = &t
	}
	if r.TerminatedBy != nil {
		m.EndedBy = *r.TerminatedBy
	}
	_ = json.Unmarshal([]byte(r.Capabilities), &m.Capabilities)
	return m
}

// Options configure the Service.
type Options struct {
	Issuer string
	Store  *store.Store
	Now    func() time.Time
	Log    *slog.Logger
}

// Service stores and evaluates missions.
type Service struct {
	o      Options
	misses misses
}

// New builds a Service.
func New(o Options) (*Service, error) {
	if o.Issuer == "" || o.Store == nil {
		return nil, errors.New("missions: Issuer and Store are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o}, nil
}

// Approval is what the person approved: the proposal, possibly edited.
type Approval struct {
	AgentIss, AgentSub string
	PersonID           string
	Description        string
	Tools              []mission.Tool
	Resources          []string
	ExpiresAt          *time.Time
	Capabilities       []string
}

// Create serializes the blob once (JCS), stores those bytes and returns the
// mission. approved_at is unique per PS: on a collision it moves
// forward by a millisecond.
func (s *Service) Create(ctx context.Context, a Approval) (*Mission, error) {
	at := s.o.Now().UTC().Truncate(time.Millisecond)
	caps, _ := json.Marshal(nonNil(a.Capabilities))
	for range 20 {
		blob := mission.Blob{Approver: s.o.Issuer, Agent: a.AgentSub, ApprovedAt: mission.FormatTime(at),
			Description: a.Description, ApprovedTools: a.Tools, ApprovedResources: a.Resources}
		if a.ExpiresAt != nil {
			blob.ExpiresAt = mission.FormatTime(*a.ExpiresAt)
		}
		b, err := blob.Serialize()
		if err != nil {
			return nil, err
		}
		r := row{S256: mission.S256(b), Blob: b, AgentIss: a.AgentIss, AgentSub: a.AgentSub, PersonID: a.PersonID,
			ApprovedAtMS: at.UnixMilli(), State: "active", Capabilities: string(caps)}
		r.OwnerKey = ownerKey(a.AgentIss, a.AgentSub, r.S256)
		if a.ExpiresAt != nil {
			e := a.ExpiresAt.Unix()
			r.ExpiresAt = &e
		}
		err = s.o.Store.DB().WithContext(ctx).Create(&r).Error
		if err == nil {
			return r.mission(), nil
		}
		if err = store.Wrap("create mission", err); !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		at = at.Add(time.Millisecond)
	}
	return nil, errors.New("missions: could not find a unique approved_at")
}

// Get reads a mission by s256 (mission control; no ownership check).
func (s *Service) Get(ctx context.Context, s256 string) (*Mission, error) {
	var r row
	if err := s.o.Store.DB().WithContext(ctx).Where("s256 = ?", s256).Limit(1).Find(&r).Error; err != nil {
		return nil, store.Wrap("read mission", err)
	}
	if r.S256 == "" {
		return nil, ErrNotFound
	}
	return r.mission(), nil
}

// Owned reads a mission by s256 AND owner in one query, so an unknown
// mission and another agent's take the same path and the same time (A-05,
// PS-060, PS-196).
func (s *Service) Owned(ctx context.Context, s256, agentIss, agentSub string) (*Mission, error) {
	var r row
	err := s.o.Store.DB().WithContext(ctx).Where("owner_key = ?", ownerKey(agentIss, agentSub, s256)).Limit(1).Find(&r).Error
	if err != nil {
		return nil, store.Wrap("read mission", err)
	}
	if r.S256 == "" {
		return nil, ErrNotFound
	}
	return r.mission(), nil
}

// NotFound is the one answer for an unknown mission and another agent's.
func NotFound() *aauth.Problem {
	return aauth.NewProblem(http.StatusNotFound, aauth.ErrMissionNotFound, "no such mission")
}

// Terminated is the answer for the owner's ended mission (P§mission-status-errors).
func Terminated(reason mission.Reason) *aauth.Problem {
	p := aauth.NewProblem(http.StatusForbidden, aauth.ErrMissionTerminated, "the mission has ended")
	p.Extra = map[string]any{"mission_status": "terminated", "termination_reason": string(reason)}
	return p
}

// Active loads the agent's mission and checks it is active now; ownership
// first (another agent's ended mission is 404, PS-210), then state, with
// expiry recorded the first time it is observed.
func (s *Service) Active(ctx context.Context, s256, agentIss, agentSub string) (*Mission, error) {
	agent := agentIss + " " + agentSub
	if s.misses.over(agent, s.o.Now()) {
		return nil, slowDown()
	}
	m, err := s.Owned(ctx, s256, agentIss, agentSub)
	if errors.Is(err, ErrNotFound) {
		if s.misses.record(agent, s.o.Now()) {
			s.o.Log.WarnContext(ctx, "security: repeated requests for unknown missions", "agent", agentSub, "provider", agentIss)
		}
		return nil, NotFound()
	}
	if err != nil {
		return nil, err
	}
	if ok, reason := m.State().Active(s.o.Now()); !ok {
		if !m.Terminated && reason == mission.ReasonExpired {
			_ = s.Terminate(ctx, m.S256, mission.ReasonExpired, "ps")
		}
		return nil, Terminated(reason)
	}
	return m, nil
}

// Terminate ends a mission for good (a terminated mission never returns to
// active); terminating an ended mission keeps its first reason.
func (s *Service) Terminate(ctx context.Context, s256 string, reason mission.Reason, by string) error {
	// A mission past expires_at already ended as expired, observed or not
	// that is the reason to record, never a later one.
	if m, err := s.Get(ctx, s256); err == nil && !m.Terminated {
		if ok, r := m.State().Active(s.o.Now()); !ok && r == mission.ReasonExpired {
			reason, by = mission.ReasonExpired, "ps"
		}
	}
	now := s.o.Now().Unix()
	res := s.o.Store.DB().WithContext(ctx).Exec(`UPDATE missions SET state = 'terminated', termination_reason = ?,
		terminated_at = ?, terminated_by = ? WHERE s256 = ? AND state = 'active'`, string(reason), now, by, s256)
	if res.Error != nil {
		return store.Wrap("terminate mission", res.Error)
	}
	if res.RowsAffected > 0 {
		return s.Log(ctx, s256, Entry{Kind: "termination", Actor: actorOf(by), Summary: fmt.Sprintf("Mission ended: %s.", reason)})
	}
	return nil
}

func actorOf(by string) string {
	switch by {
	case "ps", "agent", "person", "admin":
		return by
	}
	return "person"
}

// ForPerson lists a person's missions, newest first.
func (s *Service) ForPerson(ctx context.Context, personID string) ([]*Mission, error) {
	var rows []row
	if err := s.o.Store.DB().WithContext(ctx).Where("person_id = ?", personID).Order("approved_at_ms DESC").Find(&rows).Error; err != nil {
		return nil, store.Wrap("list missions", err)
	}
	out := make([]*Mission, len(rows))
	for i, r := range rows {
		out[i] = r.mission()
	}
	return out, nil
}

// All lists every mission (administrators), newest first, at most limit.
func (s *Service) All(ctx context.Context, limit int) ([]*Mission, error) {
	var rows []row
	if err := s.o.Store.DB().WithContext(ctx).Order("approved_at_ms DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, store.Wrap("list missions", err)
	}
	out := make([]*Mission, len(rows))
	for i, r := range rows {
		out[i] = r.mission()
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TerminateForAgent ends the active missions an agent runs for a person:
// when the person revokes or unbinds the agent, its missions end with it
// (a mission belongs to the agent acting for that person).
func (s *Service) TerminateForAgent(ctx context.Context, agentIss, agentSub, personID string, reason mission.Reason) (int, error) {
	var ids []string
	err := s.o.Store.DB().WithContext(ctx).Raw(`SELECT s256 FROM missions
		WHERE agent_iss = ? AND agent_sub = ? AND person_id = ? AND state = 'active'`, agentIss, agentSub, personID).Scan(&ids).Error
	if err != nil {
		return 0, store.Wrap("list agent missions", err)
	}
	for _, id := range ids {
		if err := s.Terminate(ctx, id, reason, "person"); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}
