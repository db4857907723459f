// Package missionflow runs the mission layer at this PS: the glue between
// the rules of package mission, the database (through its Store
// interface), the interaction layer and the pending engine. It answers the
// agent's mission endpoint (propose, update, completion), resolves the
// mission a request names, applies the person's decisions on proposals
// and completions (each in one transaction) and serves mission control
// (read, revoke, terminate) and the mission log.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Mission with
// PS-REQUIREMENTS §2.4, §3.15–3.17 and.
package missionflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/governance"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/faults"
)

// ErrNotFound: no such mission, or not the caller's (one error for both, A-05).
var ErrNotFound = dberr.ErrNotFound

// Store is what the mission layer needs from the database (ps/store
// implements it). Reads report dberr.ErrNotFound; CreateMission reports
// dberr.ErrConflict for an s256 that exists.
type Store interface {
	CreateMission(ctx context.Context, m *mission.Record) error
	Mission(ctx context.Context, s256 string) (*mission.Record, error)
	OwnedMission(ctx context.Context, ownerKey string) (*mission.Record, error)
	PersonMissions(ctx context.Context, personID string) ([]*mission.Record, error)
	AllMissions(ctx context.Context, limit int) ([]*mission.Record, error)
	ActiveMissionsOf(ctx context.Context, agentIss, agentSub, personID string) ([]string, error)
	// TerminateMission ends an active mission and logs entry with it; false
	// when it was not active.
	TerminateMission(ctx context.Context, s256 string, reason mission.Reason, by string, at time.Time, entry mission.Entry) (bool, error)
	AppendMissionLog(ctx context.Context, s256 string, e mission.Entry) error
	MissionLog(ctx context.Context, s256 string) ([]mission.Entry, error)
}

// Options configure the Service.
type Options struct {
	Issuer string
	Store  Store
	Now    func() time.Time
	Log    *slog.Logger
}

// Ender ends a mission through the governed lifecycle (ps/lifecycle's
// End), on st (in its transaction when it is in one): the mission's
// state and log entry, the lifecycle_transition evidence record with its
// signed head, and the revocation of the tokens issued under it
// (P§revocation-cascade, design §5, §7). A mission that had ended keeps
// its first reason, without an error.
type Ender func(ctx context.Context, st Store, s256 string, reason mission.Reason, by governance.Actor) error

// Service stores and evaluates missions.
type Service struct {
	o      Options
	misses *mission.NotFoundLimiter
	end    Ender
}

// UseLifecycle makes every termination this Service records (a completion
// the person accepted, an expiry it observed, an agent's binding ended)
// go through end, the one place lifecycle transitions are recorded and
// evidenced. Call it before serving: the Services WithStore returns copy
// it then. Without it a termination is the store's alone (no evidence,
// no token revocation): a Service built on its own, in tests.
func (s *Service) UseLifecycle(end Ender) { s.end = end }

// New builds a Service.
func New(o Options) (*Service, error) {
	if o.Issuer == "" || o.Store == nil {
		return nil, errors.New("missionflow: Issuer and Store are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o, misses: &mission.NotFoundLimiter{}}, nil
}

// WithStore is the Service bound to st (a transaction); it shares the
// not-found limiter.
func (s *Service) WithStore(st Store) *Service {
	c := *s
	c.o.Store = st
	return &c
}

// Create stores the mission the person approved (A-47: approved_at unique
// per PS) and returns it.
func (s *Service) Create(ctx context.Context, a mission.Approval) (*mission.Record, error) {
	return a.Mint(s.o.Issuer, s.o.Now(), func(r *mission.Record) error { return s.o.Store.CreateMission(ctx, r) })
}

// Get reads a mission by s256 (mission control; no ownership check).
func (s *Service) Get(ctx context.Context, s256 string) (*mission.Record, error) {
	return s.o.Store.Mission(ctx, s256)
}

// Owned reads a mission by s256 AND owner in one query, so an unknown
// mission and another agent's take the same path and the same time (A-05,
// PS-060, PS-196).
func (s *Service) Owned(ctx context.Context, s256, agentIss, agentSub string) (*mission.Record, error) {
	return s.o.Store.OwnedMission(ctx, mission.OwnerKey(agentIss, agentSub, s256))
}

// Active loads the agent's mission and checks it is active now; ownership
// first (another agent's ended mission is 404, PS-210), then state, with
// expiry recorded the first time it is observed.
func (s *Service) Active(ctx context.Context, s256, agentIss, agentSub string) (*mission.Record, error) {
	agent := agentIss + " " + agentSub
	if s.misses.Over(agent, s.o.Now()) {
		return nil, mission.SlowDown()
	}
	m, err := s.Owned(ctx, s256, agentIss, agentSub)
	if errors.Is(err, ErrNotFound) {
		if s.misses.Record(agent, s.o.Now()) {
			s.o.Log.WarnContext(ctx, "security: repeated requests for unknown missions", "agent", agentSub, "provider", agentIss)
		}
		if faults.On(faults.ExistenceOracle) {
			if _, err := s.o.Store.Mission(ctx, s256); err == nil {
				p := mission.NotFound()
				p.Detail = "the mission is not yours"
				return nil, p
			}
		}
		return nil, mission.NotFound()
	}
	if err != nil {
		return nil, err
	}
	return s.activeNow(ctx, m)
}

// Terminate ends a mission for good (a terminated mission never returns to
// active); terminating an ended mission keeps its first reason. by is who
// the mission log names ("person", "admin", "agent", "ps"); TerminateBy
// names the actor in full.
func (s *Service) Terminate(ctx context.Context, s256 string, reason mission.Reason, by string) error {
	return s.TerminateBy(ctx, s256, reason, governance.Actor{Kind: actorKind(by)})
}

// TerminateBy is Terminate by actor by, through the lifecycle
// (UseLifecycle): the transition is evidenced with the change.
func (s *Service) TerminateBy(ctx context.Context, s256 string, reason mission.Reason, by governance.Actor) error {
	if s.end != nil {
		return s.end(ctx, s.o.Store, s256, reason, by)
	}
	logBy := logActor(by.Kind)
	// A mission past expires_at already ended as expired, observed or not
	// that is the reason to record, never a later one.
	if m, err := s.Get(ctx, s256); err == nil && !m.Terminated {
		if ok, r := m.State().Active(s.o.Now()); !ok && r == mission.ReasonExpired {
			reason, logBy = mission.ReasonExpired, "ps"
		}
	}
	now := s.o.Now()
	entry := mission.Entry{At: now, Kind: "termination", Actor: mission.Actor(logBy), Summary: fmt.Sprintf("Mission ended: %s.", reason)}
	_, err := s.o.Store.TerminateMission(ctx, s256, reason, logBy, now, entry)
	return err
}

// actorKind is the lifecycle actor the mission log's by names (anyone
// else is the person, as mission.Actor reads it).
func actorKind(by string) string {
	switch by {
	case "ps":
		return governance.BySystem
	case "admin":
		return governance.ByAdmin
	case "agent":
		return governance.ByAgent
	}
	return governance.ByPerson
}

// logActor is who the mission log names for a lifecycle actor.
func logActor(kind string) string {
	switch kind {
	case governance.ByPerson, governance.ByAdmin, governance.ByAgent:
		return kind
	}
	return "ps"
}

// ForPerson lists a person's missions, newest first.
func (s *Service) ForPerson(ctx context.Context, personID string) ([]*mission.Record, error) {
	return s.o.Store.PersonMissions(ctx, personID)
}

// All lists every mission (administrators), newest first, at most limit.
func (s *Service) All(ctx context.Context, limit int) ([]*mission.Record, error) {
	return s.o.Store.AllMissions(ctx, limit)
}

// TerminateForAgent ends the active missions an agent runs for a person:
// when the person revokes or unbinds the agent, its missions end with it
// (a mission belongs to the agent acting for that person). It returns the
// s256 of each mission it ended.
func (s *Service) TerminateForAgent(ctx context.Context, agentIss, agentSub, personID string, reason mission.Reason) ([]string, error) {
	ids, err := s.o.Store.ActiveMissionsOf(ctx, agentIss, agentSub, personID)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := s.TerminateBy(ctx, id, reason, governance.Actor{Kind: governance.ByPerson, ID: personID}); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Log appends an entry to the mission log (P§mission-log), at now.
func (s *Service) Log(ctx context.Context, s256 string, e mission.Entry) error {
	if e.Body != nil && e.Digest == "" {
		e.Digest = mission.S256(e.Body)
	}
	e.At = s.o.Now()
	return s.o.Store.AppendMissionLog(ctx, s256, e)
}

// LogWhileActive appends e to the log of the agent's mission in the
// transaction s is bound to, then checks the mission is still active: the
// append holds the mission's lock (its row on PostgreSQL, the write lock
// on SQLite) until commit, so a request racing a termination is refused
// with mission_terminated and, its transaction rolled back, never logged
// after the end (P§mission-management, PS-221).
func (s *Service) LogWhileActive(ctx context.Context, s256, agentIss, agentSub string, e mission.Entry) error {
	if err := s.Log(ctx, s256, e); err != nil {
		return err
	}
	_, err := s.Active(ctx, s256, agentIss, agentSub)
	return err
}

// Entries returns the mission log in order.
func (s *Service) Entries(ctx context.Context, s256 string) ([]mission.Entry, error) {
	return s.o.Store.MissionLog(ctx, s256)
}

// Updates returns the accepted updates (their exact bytes and digests).
func (s *Service) Updates(ctx context.Context, s256 string) ([]mission.Entry, error) {
	all, err := s.Entries(ctx, s256)
	if err != nil {
		return nil, err
	}
	var out []mission.Entry
	for _, e := range all {
		if e.Kind == "update" {
			out = append(out, e)
		}
	}
	return out, nil
}

// activeNow answers m when it is active now, else mission_terminated,
// recording expiry the first time it is observed.
func (s *Service) activeNow(ctx context.Context, m *mission.Record) (*mission.Record, error) {
	if ok, reason := m.State().Active(s.o.Now()); !ok {
		if !m.Terminated && reason == mission.ReasonExpired {
			_ = s.Terminate(ctx, m.S256, mission.ReasonExpired, "ps")
		}
		return nil, mission.Terminated(reason)
	}
	return m, nil
}
