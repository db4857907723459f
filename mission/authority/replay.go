package authority

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

// Decision replay (issue 10): a runtime_decision record keeps the whole
// input Evaluate read (ReplayInput, the record's "input" member), so an
// auditor can re-run the pure Evaluate offline and check that what the
// PS recorded is what the rules decide. The Authority Set is not copied
// into each record: SetHash names it (the blob's authority_set, or the
// narrowed effective set, which Set then carries).

// ReplayInput is Input as a record keeps it.
type ReplayInput struct {
	Point           Point                       `json:"point"`
	Mode            Mode                        `json:"mode"`
	Request         Request                     `json:"request"`
	Actor           Actor                       `json:"actor"`
	Lifecycle       Lifecycle                   `json:"lifecycle"`
	SetHash         string                      `json:"set_hash"`
	Set             json.RawMessage             `json:"set,omitempty"`
	Version         int64                       `json:"version"`
	Consent         map[string]bool             `json:"consent"`
	Checkpoints     map[string]CheckpointRecord `json:"checkpoints"`
	Grants          map[string]int64            `json:"grants"`
	Spent           map[string]int64            `json:"spent"`
	Catalog         *Catalog                    `json:"catalog,omitempty"`
	Now             time.Time                   `json:"now"`
	PersonReachable bool                        `json:"person_reachable"`
	Answers         map[string]bool             `json:"answers,omitempty"`
}

// RecordInput is in as a record keeps it; set is the effective set's
// canonical bytes when it is not the approved one (nil otherwise). The
// catalog is kept as far as Evaluate reads it for this request.
func RecordInput(in Input, set json.RawMessage) *ReplayInput {
	m := in.Mission
	return &ReplayInput{Point: in.Point, Mode: in.Mode, Request: in.Request, Actor: in.Actor, Lifecycle: m.Lifecycle,
		SetHash: m.EffectiveHash, Set: set, Version: m.Version, Consent: m.Consent, Checkpoints: m.Checkpoints,
		Grants: m.Grants, Spent: m.Spent, Catalog: in.Catalog.readFor(in.Request.Resource), Now: in.Now.UTC(), PersonReachable: in.PersonReachable,
		Answers: in.Answers}
}

// ErrNotReplayable: the record keeps no input (written before decisions
// were recorded for replay) or names a set the verifier does not have.
var ErrNotReplayable = errors.New("authority: decision cannot be replayed")

// ErrReplayDiffers: Evaluate on the recorded input decides otherwise than
// the record says.
var ErrReplayDiffers = errors.New("authority: the recorded decision is not what the rules decide")

// Replay re-runs Evaluate on a runtime_decision record's body and
// compares its items, outcome, effects and explanation with the recorded
// ones. approved is the blob's authority_set (JCS), approvedHash its
// hash. ErrNotReplayable when the record cannot be replayed,
// ErrReplayDiffers (wrapped, saying what differs) when it does not match.
func Replay(body json.RawMessage, approved json.RawMessage, approvedHash string) error {
	var rec struct {
		DecisionRecord
		Input *ReplayInput `json:"input"`
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return fmt.Errorf("%w: %v", ErrNotReplayable, err)
	}
	ri := rec.Input
	if ri == nil {
		return fmt.Errorf("%w: the record keeps no input", ErrNotReplayable)
	}
	raw := approved
	if ri.SetHash != approvedHash {
		if h, err := anchor.OfJSON(ri.Set); err != nil || h != ri.SetHash {
			return fmt.Errorf("%w: the effective set %s is not in the record", ErrNotReplayable, ri.SetHash)
		}
		raw = ri.Set
	}
	set := &Set{} // a set that does not check: Evaluate fails closed, as the PS did
	if p, err := Parse(raw, ParseOptions{Dev: true}); err == nil && p.Hash == ri.SetHash {
		set = p.Set
	}
	in := Input{Point: ri.Point, Mode: ri.Mode, Request: ri.Request, Actor: ri.Actor, Catalog: ri.Catalog,
		Now: ri.Now, PersonReachable: ri.PersonReachable, Answers: ri.Answers,
		Mission: Snapshot{Lifecycle: ri.Lifecycle, Set: set, EffectiveHash: ri.SetHash, Version: ri.Version,
			Consent: ri.Consent, Checkpoints: ri.Checkpoints, Grants: ri.Grants, Spent: ri.Spent}}
	d := Evaluate(in)
	got := d.Record(rec.ID, rec.Request.ResourceTokenJTI, rec.Resolves, in)
	for _, part := range []struct {
		name           string
		recorded, want any
	}{
		{"outcome", rec.Outcome, got.Outcome}, {"items", rec.Items, got.Items},
		{"effects", rec.Effects, got.Effects}, {"explanation", rec.Explanation, got.Explanation},
	} {
		a, err1 := anchor.Marshal(part.recorded)
		b, err2 := anchor.Marshal(part.want)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			return fmt.Errorf("%w: %s recorded %s, replayed %s", ErrReplayDiffers, part.name, a, b)
		}
	}
	return nil
}
