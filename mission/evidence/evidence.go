// Package evidence is the append-only, hash-chained evidence of Mission
// composition (design §7) and its offline verifier (Level 4 core). Each
// mission has one chain: record n carries seq n and prev = record_hash of
// record n−1 (null at seq 0), and record_hash = anchor(record). Chain
// heads are signed behind a small Signer interface (the PS key, as a
// JWS), so an operator who rewrites a bare chain is caught by a verifier
// holding the PS's public key. Nothing here does I/O.
package evidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

// Object is the discriminator of an evidence record.
const Object = "aauth-mm/evidence/v1"

// Record types (design §7).
const (
	ProposalReceived    = "proposal_received"
	ConsentPresented    = "consent_presented"
	ConsentDecision     = "consent_decision"
	MissionActivated    = "mission_activated"
	LifecycleTransition = "lifecycle_transition"
	UpdateAccepted      = "update_accepted"
	UpdateRejected      = "update_rejected"
	CheckpointRecorded  = "checkpoint_recorded"
	RuntimeDecision     = "runtime_decision"
	AuditReceived       = "audit_received"
	TokenIssued         = "token_issued"
	TokenDelivered      = "token_delivered"
	RevocationResult    = "revocation_result"
	ChainHead           = "chain_head"
	// StandingAnswer: the person kept or forgot an answer to an access
	// server's question, or the PS gave it (issue 11; body "event").
	StandingAnswer = "standing_answer"
)

// MissionRef names the mission: origin (the PS) and id (s256).
type MissionRef struct {
	Origin string `json:"origin"`
	ID     string `json:"id"`
}

// Actor is who caused the record.
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
}

// Anchors are the mission's integrity anchors at the time of the record.
type Anchors struct {
	ProposalHash           string `json:"proposal_hash"`
	AuthorityHash          string `json:"authority_hash,omitempty"`
	ConsentRenderingHash   string `json:"consent_rendering_hash,omitempty"`
	EffectiveAuthorityHash string `json:"effective_authority_hash,omitempty"`
}

// Binding names the policy and schema a record was made under.
type Binding struct {
	PolicyVersion string `json:"policy_version,omitempty"`
	SchemaVersion int    `json:"schema_version"`
}

// Record is one evidence record.
type Record struct {
	Object  string     `json:"object"`
	Chain   string     `json:"chain"`
	Seq     int64      `json:"seq"`
	Mission MissionRef `json:"mission"`
	Type    string     `json:"type"`
	At      string     `json:"at"`
	Actor   Actor      `json:"actor"`
	Anchors Anchors    `json:"anchors"`
	Binding Binding    `json:"binding"`
	// Body is never empty in a record Append made (it writes {}); empty,
	// it is left out so that Append can add it canonicalised once.
	Body json.RawMessage `json:"body,omitempty"`
	Prev *string         `json:"prev"`
}

// Stored is a record as persisted: its canonical bytes and their hash.
type Stored struct {
	Record    Record
	Canonical []byte
	Hash      string
}

// TimeFormat is how records write times (design: YYYY-MM-DDTHH:MM:SSZ).
const TimeFormat = "2006-01-02T15:04:05Z"

// ErrChain is a record that does not continue its chain.
var ErrChain = errors.New("evidence: record does not continue the chain")

// Append makes the next record of a chain after head (nil for the first
// record): it sets object, chain, seq and prev, canonicalizes and hashes.
// The caller writes the result in the same transaction as the effect it
// evidences, conditional on head still being the head.
func Append(head *Stored, chain string, r Record, at time.Time) (Stored, error) {
	if head == nil {
		return AppendTo(nil, chain, r, at)
	}
	return AppendTo(&Link{Chain: head.Record.Chain, Seq: head.Record.Seq, Hash: head.Hash}, chain, r, at)
}

// Link is what the next record of a chain needs of its head: the head's
// chain, seq and record_hash (a store reads these three columns, not the
// whole head record).
type Link struct {
	Chain string
	Seq   int64
	Hash  string
}

// AppendTo is Append after the head named by link (nil for the first
// record).
func AppendTo(head *Link, chain string, r Record, at time.Time) (Stored, error) {
	r.Object, r.Chain, r.At = Object, chain, at.UTC().Format(TimeFormat)
	if r.Binding.SchemaVersion == 0 {
		r.Binding.SchemaVersion = 1
	}
	if len(r.Body) == 0 {
		r.Body = json.RawMessage(`{}`)
	}
	if head == nil {
		r.Seq, r.Prev = 0, nil
	} else {
		if head.Chain != chain {
			return Stored{}, fmt.Errorf("%w: head is of chain %s", ErrChain, head.Chain)
		}
		prev := head.Hash
		r.Seq, r.Prev = head.Seq+1, &prev
	}
	// The body is canonicalised once, as a member of the record (issue
	// 12: it used to be canonicalised alone and again inside the record);
	// the hash is of the very bytes stored.
	body := r.Body
	r.Body = nil
	canon, canonBody, err := anchor.MarshalMember(r, "body", body)
	if err != nil {
		return Stored{}, err
	}
	r.Body = canonBody
	return Stored{Record: r, Canonical: canon, Hash: anchor.S256(canon)}, nil
}

// Body marshals v as a record body. Append canonicalises it with the
// record (so it hashes the same on every reader); the stored record's
// Body is that canonical form.
func Body(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", anchor.ErrNotCanonicalizable, err)
	}
	return json.RawMessage(b), nil
}

// Signer signs a chain head with the PS key and returns a compact JWS
// whose payload is the given bytes (the PS's keys package implements it).
type Signer interface {
	SignChainHead(payload []byte) (jws string, err error)
}

// HeadVerifier verifies a chain-head JWS with the PS's public keys and
// returns its payload.
type HeadVerifier interface {
	VerifyChainHead(jws string) (payload []byte, err error)
}

// HeadObject is the discriminator of a signed chain-head payload.
const HeadObject = "aauth-mm/chain-head/v1"

// Head is what a chain_head signature commits to: the chain, the seq and
// record_hash of its head at that moment, and when.
type Head struct {
	Object string `json:"object"`
	Chain  string `json:"chain"`
	Seq    int64  `json:"seq"`
	Head   string `json:"head"`
	At     string `json:"at"`
}

// HeadBody is the body of a chain_head record.
type HeadBody struct {
	Signed Head   `json:"signed"`
	JWS    string `json:"jws"`
}

// SignHead appends a chain_head record that signs the current head (at
// each transition and hourly; anchoring the JWS externally — RFC 3161 or a
// transparency log — is the caller's).
func SignHead(head Stored, s Signer, by Actor, at time.Time) (Stored, error) {
	h := Head{Object: HeadObject, Chain: head.Record.Chain, Seq: head.Record.Seq, Head: head.Hash, At: at.UTC().Format(TimeFormat)}
	payload, err := anchor.Marshal(h)
	if err != nil {
		return Stored{}, err
	}
	jws, err := s.SignChainHead(payload)
	if err != nil {
		return Stored{}, fmt.Errorf("evidence: sign chain head: %w", err)
	}
	body, err := Body(HeadBody{Signed: h, JWS: jws})
	if err != nil {
		return Stored{}, err
	}
	r := head.Record
	r.Type, r.Actor, r.Body = ChainHead, by, body
	return Append(&head, head.Record.Chain, r, at)
}
