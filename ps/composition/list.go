package composition

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
)

// Listed is one evidenced decision as the mission page shows it.
type Listed struct {
	ID          string
	At          time.Time
	Point       authority.Point
	Resource    string
	Action      string
	Outcome     authority.Outcome
	Reason      string
	Explanation string
	// Entry / Exclusion name what decided, when one did.
	Entry, Exclusion string
}

// MaxListed bounds the decisions one page lists (newest first).
const MaxListed = 200

// Decisions lists a mission's runtime decisions, newest first.
func Decisions(ctx context.Context, st interface {
	MissionEvidence(ctx context.Context, s256, typ string, limit int) ([]evidence.Stored, error)
}, s256 string) ([]Listed, error) {
	recs, err := st.MissionEvidence(ctx, s256, evidence.RuntimeDecision, MaxListed)
	if err != nil {
		return nil, err
	}
	out := make([]Listed, 0, len(recs))
	for _, r := range recs {
		var d authority.DecisionRecord
		if json.Unmarshal(r.Record.Body, &d) != nil {
			continue
		}
		at, _ := time.Parse(evidence.TimeFormat, r.Record.At)
		l := Listed{ID: d.ID, At: at, Point: d.Point, Resource: d.Request.Resource, Action: d.Request.Action,
			Outcome: d.Outcome.Kind, Reason: d.Outcome.Reason, Explanation: d.Explanation}
		for _, it := range d.Items {
			if l.Exclusion == "" && it.Exclusion != "" {
				l.Exclusion = it.Exclusion
			}
			if l.Entry == "" && it.Entry != "" {
				l.Entry = it.Entry
			}
		}
		out = append(out, l)
	}
	return out, nil
}
