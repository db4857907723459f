package composition

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
)

// AppendEvidence appends r to chain (the mission's s256, or the proposal
// chain's id) of mission s256, on st — call it inside the store.InTx that
// commits the effect it evidences (design §7: writes are atomic with
// their effect). The mission's row is locked first so appends to its
// chains serialize; the (chain, seq) key refuses a fork regardless.
func AppendEvidence(ctx context.Context, st Store, s256, chain string, r evidence.Record, at time.Time) (evidence.Stored, error) {
	if _, err := st.LockMission(ctx, s256); err != nil {
		return evidence.Stored{}, err
	}
	return appendLocked(ctx, st, s256, chain, r, at)
}

// appendLocked is AppendEvidence for a caller that already locked mission
// s256 in st's transaction (Decide: issue 12, the second lock was a
// second read of the whole mission row per decision).
func appendLocked(ctx context.Context, st Store, s256, chain string, r evidence.Record, at time.Time) (evidence.Stored, error) {
	head, err := st.EvidenceLink(ctx, chain)
	if err != nil {
		return evidence.Stored{}, err
	}
	next, err := evidence.AppendTo(head, chain, r, at)
	if err != nil {
		return evidence.Stored{}, err
	}
	return next, st.InsertEvidence(ctx, s256, next)
}

// Approval is what the evidence of an approval names.
type Approval struct {
	Issuer string
	// ProposalChain is the pre-approval chain's id (the pending request).
	ProposalChain string
	Agent         evidence.Actor
	// Approver is the person (kind person), or the standing template
	// (kind ps) for a headless approval.
	Approver evidence.Actor
	// Narrowing is the person's edit of the derived set, if any.
	Narrowing *authority.Narrowing
}

// RecordApproval writes the approval's evidence for mission m composed as
// x, in the approval's transaction: the pre-approval chain
// (proposal_received, consent_presented, consent_decision) under
// a.ProposalChain, then mission_activated on the mission's chain carrying
// that chain's head. The consent anchor is the rendering's hash, or the
// template for a standing approval.
func RecordApproval(ctx context.Context, st Store, m *mission.Record, x *Composed, a Approval, at time.Time) error {
	ref := evidence.MissionRef{Origin: a.Issuer, ID: m.S256}
	anchors := evidence.Anchors{ProposalHash: x.ProposalHash, AuthorityHash: x.AuthorityHash, ConsentRenderingHash: x.RenderingHash}
	consent := map[string]any{"consent_rendering_hash": x.RenderingHash}
	if x.Rendering.Standing != "" {
		consent = map[string]any{"template": x.Rendering.Standing}
	}
	received, _ := time.Parse(evidence.TimeFormat, x.Proposal.ReceivedAt)
	steps := []struct {
		typ   string
		actor evidence.Actor
		body  any
		at    time.Time
	}{
		{evidence.ProposalReceived, a.Agent, map[string]any{"content_digest": x.Proposal.ContentDigest,
			"source": x.Derivation.Source, "template": x.Derivation.Template, "removed": nonNil(x.Derivation.Removed)}, received},
		{evidence.ConsentPresented, evidence.Actor{Kind: "ps"}, consent, at},
		{evidence.ConsentDecision, a.Approver, map[string]any{"decision": "approve", "narrowing": a.Narrowing, "consent_anchor": consent}, at},
	}
	var head evidence.Stored
	for _, s := range steps {
		body, err := evidence.Body(s.body)
		if err != nil {
			return err
		}
		if head, err = AppendEvidence(ctx, st, m.S256, a.ProposalChain, evidence.Record{Mission: ref, Type: s.typ,
			Actor: s.actor, Anchors: anchors, Body: body}, s.at); err != nil {
			return err
		}
	}
	body, err := evidence.Body(map[string]any{"s256": m.S256, "proposal_chain": a.ProposalChain,
		"proposal_chain_head": head.Hash, "consent_anchor": consent})
	if err != nil {
		return err
	}
	_, err = AppendEvidence(ctx, st, m.S256, m.S256, evidence.Record{Mission: ref, Type: evidence.MissionActivated,
		Actor: a.Approver, Anchors: anchors, Body: body}, at)
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
