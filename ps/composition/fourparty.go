package composition

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
)

// Four-party compensation (issue 11). A four-party issue decision commits
// its effects (grant counts, budget reservations, single_use checkpoints)
// before the PS calls the access server, so that two concurrent requests
// cannot both spend what only one may: the effects are a reservation.
// What came of the AS exchange settles the reservation, in one
// transaction with its evidence: a delivered token keeps it (consumed
// exactly once); a refusal, an unreachable AS or a token failing a
// delivery check gives the consumable effects back, so a retry can
// succeed.

// Provisional is an issue decision whose effects await the AS's answer.
type Provisional struct {
	Decision string            `json:"decision"`
	S256     string            `json:"s256"`
	Lineage  string            `json:"lineage"`
	Agent    string            `json:"agent,omitempty"`
	Effects  authority.Effects `json:"effects"`
}

// Provisional is r as a reservation, nil when r does not issue.
func (r *Result) Provisional(agent string) *Provisional {
	if r == nil || !r.Issue() || r.Mission == nil {
		return nil
	}
	return &Provisional{Decision: r.ID, S256: r.Mission.S256, Lineage: r.Mission.Lineage(), Agent: agent, Effects: r.Decision.Effects}
}

// Reverter is a Store that can give back a decision's consumable effects
// (*store.Store).
type Reverter interface {
	Store
	RevertMissionEffects(ctx context.Context, s256, lineage string, e authority.Effects) error
	// ClaimSettlement records that decision is settled and reports
	// whether this call did (false: settled before). Keyed by the
	// decision id: no scan of the mission's evidence.
	ClaimSettlement(ctx context.Context, s256, decision string, at time.Time) (bool, error)
}

// Delivery is what came of a provisional decision at the access server.
type Delivery struct {
	AccessServer string
	Resource     string
	// Delivered: the agent received the AS's token (JTI, Scope, Exp).
	Delivered bool
	JTI       string
	Scope     []string
	Exp       time.Time
	// Error is the error code the agent got instead (as_unreachable, the
	// AS's relayed code, expired_presented_token …).
	Error string
}

// deliveryRecord is the body of the token_delivered evidence record.
type deliveryRecord struct {
	Decision     string             `json:"decision"`
	AccessServer string             `json:"access_server"`
	Resource     string             `json:"resource"`
	Outcome      string             `json:"outcome"`
	JTI          string             `json:"jti,omitempty"`
	Scope        []string           `json:"scope,omitempty"`
	Exp          int64              `json:"exp,omitempty"`
	Error        string             `json:"error,omitempty"`
	Released     *authority.Effects `json:"released,omitempty"`
}

// Delivery outcomes in the token_delivered record.
const (
	OutcomeDelivered    = "delivered"
	OutcomeNotDelivered = "not_delivered"
)

// Settle records in st's transaction what came of pv: delivered, the
// reservation stands; not delivered, its consumable effects are given
// back (consent memory and recorded checkpoints stay: the person's
// answers stand). Either way a token_delivered evidence record names the
// decision, the AS and the outcome.
func (p *Point) Settle(ctx context.Context, st Reverter, pv *Provisional, d Delivery) error {
	m, err := st.LockMission(ctx, pv.S256)
	if err != nil {
		return err
	}
	if first, err := st.ClaimSettlement(ctx, pv.S256, pv.Decision, p.Now()); err != nil || !first {
		return err // settled once already (a poll loop and the expiry sweep raced)
	}
	rec := deliveryRecord{Decision: pv.Decision, AccessServer: d.AccessServer, Resource: d.Resource, Outcome: OutcomeDelivered,
		JTI: d.JTI, Scope: d.Scope}
	if !d.Exp.IsZero() {
		rec.Exp = d.Exp.Unix()
	}
	if !d.Delivered {
		give := authority.Effects{ConsumeCheckpoints: pv.Effects.ConsumeCheckpoints, CountGrants: pv.Effects.CountGrants,
			Reserve: pv.Effects.Reserve}
		if err := st.RevertMissionEffects(ctx, pv.S256, pv.Lineage, give); err != nil {
			return err
		}
		rec = deliveryRecord{Decision: pv.Decision, AccessServer: d.AccessServer, Resource: d.Resource, Outcome: OutcomeNotDelivered,
			Error: d.Error, Released: &give}
	}
	body, err := evidence.Body(rec)
	if err != nil {
		return err
	}
	_, err = AppendEvidence(ctx, st, m.S256, m.S256, evidence.Record{Mission: evidence.MissionRef{Origin: p.Issuer, ID: m.S256},
		Type: evidence.TokenDelivered, Actor: evidence.Actor{Kind: "ps"}, Anchors: anchorsOf(m), Body: body}, p.Now())
	return err
}
