package authtoken

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/anchor"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// The PS answers an AS's question itself (P§as-response: "itself, if
// mission context has the answer") only from what the person said: when
// they answered that AS's exact question on a mission-bound request and
// asked the PS to give the same answer again during the mission, the
// answer is kept for (mission, AS, sha-256 of the question text). A later
// identical question on a request of that mission, while the mission is
// active and not suspended, is answered from it through the one answer
// path (the poller's Client.Answer), evidenced as the PS's answer.

// Standing-answer evidence events (type standing_answer).
const (
	answerKept      = "kept"
	answerGiven     = "answered"
	answerForgotten = "forgotten"
)

// QuestionS256 is the key of an AS's question: the sha-256 (base64url) of
// its exact text.
func QuestionS256(q string) string { return anchor.S256([]byte(q)) }

// usable reports whether m may speak from the person's standing answers:
// active and not suspended.
func (s *Service) usable(m *mission.Record) bool {
	active, _ := m.State().Active(s.o.Now())
	return active && m.Hold == nil
}

// remembered is the standing answer to g's current AS question, if g is
// mission-bound, its mission usable, and the PS has not yet answered as many rounds on this
// request as the clarification cap allows (a looping AS then reaches the
// person or agent, who can stop it).
func (s *Service) remembered(ctx context.Context, g *Grant) *store.StandingAnswer {
	f := g.Federated
	if g.MissionS256 == "" || f == nil || f.Wait == nil || f.Wait.Requirement != aauth.RequirementClarification ||
		f.FromMemory >= s.o.Engine.Options().MaxClarificationRounds {
		return nil
	}
	a, err := s.o.DB.FindStandingAnswer(ctx, g.MissionS256, g.AccessServer, QuestionS256(f.Wait.Question))
	if err == nil {
		var m *mission.Record
		if m, err = s.o.DB.Mission(ctx, g.MissionS256); err == nil && !s.usable(m) {
			return nil
		}
	}
	if err != nil {
		if !errors.Is(err, dberr.ErrNotFound) {
			s.o.Logger.WarnContext(ctx, "federation: standing answer lookup", "mission", g.MissionS256, "err", err)
		}
		return nil
	}
	// The same words with choices the kept answer is not among: the
	// question changed in what matters, so someone is asked.
	if len(f.Wait.Options) > 0 && !slices.Contains(f.Wait.Options, a.Answer) {
		return nil
	}
	return a
}

// fromMemory answers g's current AS question on pending request id with
// the person's standing answer, if there is one and the mission is still
// usable: under the mission's lock, the request goes back to waiting on
// the AS with the answer on its way and the evidence records the PS's
// answer, in one transaction. The caller then polls the AS at once. False
// (nothing changed) when the PS does not answer.
func (s *Service) fromMemory(ctx context.Context, id string, g *Grant) bool {
	a := s.remembered(ctx, g)
	if a == nil {
		return false
	}
	next := *g.Federated
	next.Answer, next.FromMemory = a.Answer, next.FromMemory+1
	answered := *g
	answered.Federated = &next
	raw, err := encode(&answered)
	if err != nil {
		return false
	}
	done := false
	err = s.o.DB.InTx(ctx, func(tx *store.Store) error {
		m, err := tx.LockMission(ctx, g.MissionS256)
		if err != nil || !s.usable(m) {
			return err
		}
		if _, err := s.o.Engine.WithStore(tx).Update(ctx, id, func(x *pending.Request) error {
			x.Stage, x.Payload = StageAccessServer, raw
			return nil
		}); err != nil {
			return err
		}
		done = true
		if err := tx.AppendMissionLog(ctx, m.S256, mission.Entry{Kind: "clarification", Actor: "ps",
			Summary: "This server answered the question of " + a.AccessServer + " with the standing answer kept " +
				a.CreatedAt.UTC().Format(time.RFC3339) + "."}); err != nil {
			return err
		}
		return s.answerEvidence(ctx, tx, m, evidence.Actor{Kind: "ps"}, answerGiven, a, map[string]any{"pending": id})
	})
	if err != nil {
		s.o.Logger.WarnContext(ctx, "federation: answer from a standing answer", "pending", id, "err", err)
		return false
	}
	if done {
		*g.Federated = next
		s.o.Logger.InfoContext(ctx, "federation: answered the access server from the person's standing answer",
			"access_server", g.AccessServer, "mission", g.MissionS256, "pending", id)
	}
	return done
}

// keepAnswer stores, in tx, the person's answer to g's current AS question
// as the mission's standing answer, with its evidence. A mission that can
// no longer use it (ended, suspended) keeps nothing; one at the bound is
// refused (interact.ErrStage: nothing changes, the person is told).
func (s *Service) keepAnswer(ctx context.Context, tx *store.Store, g *Grant, p *account.Person, answer string) error {
	m, err := tx.LockMission(ctx, g.MissionS256)
	if err != nil || !s.usable(m) {
		return err
	}
	q := g.Federated.Wait.Question
	a := &store.StandingAnswer{MissionS256: m.S256, AccessServer: g.AccessServer, QuestionS256: QuestionS256(q), Question: q,
		Answer: answer, CreatedBy: p.ID, CreatedAt: s.o.Now()}
	if err := tx.PutStandingAnswer(ctx, a); errors.Is(err, store.ErrTooManyStandingAnswers) {
		return fmt.Errorf("%w: this mission already keeps %d standing answers; forget one on the mission page, or send this answer without keeping it",
			interact.ErrStage, store.MaxStandingAnswers)
	} else if err != nil {
		return err
	}
	return s.answerEvidence(ctx, tx, m, evidence.Actor{Kind: "person", ID: p.ID}, answerKept, a, nil)
}

// ForgetAnswer removes the mission's standing answer id for the person
// who owns the mission, with its evidence, in one transaction
// (dberr.ErrNotFound for an id the mission does not hold). The next
// identical question is triaged as before.
func (s *Service) ForgetAnswer(ctx context.Context, s256, id string, p *account.Person) error {
	return s.o.DB.InTx(ctx, func(tx *store.Store) error {
		m, err := tx.LockMission(ctx, s256)
		if err != nil {
			return err
		}
		gone, err := tx.DeleteStandingAnswer(ctx, s256, id)
		if err != nil {
			return err
		}
		return s.answerEvidence(ctx, tx, m, evidence.Actor{Kind: "person", ID: p.ID}, answerForgotten, gone, nil)
	})
}

// answerEvidence appends the standing_answer record of event on a: it
// names the AS, the question's hash and the standing answer (never the
// answer's text: the chain is exported to verifiers).
func (s *Service) answerEvidence(ctx context.Context, tx *store.Store, m *mission.Record, by evidence.Actor, event string,
	a *store.StandingAnswer, more map[string]any) error {
	body := map[string]any{"event": event, "access_server": a.AccessServer, "question_s256": a.QuestionS256,
		"standing_answer": a.ID, "kept_at": a.CreatedAt.Unix()}
	for k, v := range more {
		body[k] = v
	}
	raw, err := evidence.Body(body)
	if err != nil {
		return err
	}
	_, err = composition.AppendEvidence(ctx, tx, m.S256, m.S256, evidence.Record{
		Mission: evidence.MissionRef{Origin: s.o.Issuer, ID: m.S256}, Type: evidence.StandingAnswer,
		Actor: by, Anchors: composition.AnchorsOf(m), Body: raw}, s.o.Now())
	return err
}
