package missionflow

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// KindAudit is the mission-log kind of an agent's audit record.
const KindAudit = "audit"

// Bounds of an audit record (IMPL): the endpoint's body cap bounds the
// whole request; these bound each part the person reads.
const (
	MaxAuditAction = 256
	MaxAuditObject = 16 << 10 // parameters and result, each as re-encoded JSON
)

// AuditRecord is a validated audit request (P§audit-request).
type AuditRecord struct {
	S256        string
	Action      string
	Description string
	Parameters  json.RawMessage // nil when absent
	Result      json.RawMessage // nil when absent
}

// ParseAudit validates an audit body: mission_s256 (or the April mission
// object) and action are required, description is a string, parameters
// and result are objects (PS-220). Unknown members are ignored, as at the
// other endpoints.
func ParseAudit(body []byte, issuer string) (*AuditRecord, error) {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, aauth.BadRequest("the body must be a JSON object: " + err.Error())
	}
	s256, err := mission.Reference(m, issuer)
	if err != nil {
		return nil, err
	}
	if s256 == "" {
		return nil, aauth.BadRequest("mission_s256 is required: there is no audit outside a mission")
	}
	r := &AuditRecord{S256: s256}
	action, ok := m["action"].(string)
	if !ok || strings.TrimSpace(action) == "" || len(action) > MaxAuditAction {
		return nil, aauth.BadRequest("action is required: a non-empty string of at most 256 bytes")
	}
	r.Action = action
	if v, present := m["description"]; present {
		d, ok := v.(string)
		if !ok || len(d) > mission.MaxDescription {
			return nil, aauth.BadRequest("description must be a Markdown string of at most 8 KiB")
		}
		r.Description = d
	}
	if r.Parameters, err = auditObject(m, "parameters"); err != nil {
		return nil, err
	}
	if r.Result, err = auditObject(m, "result"); err != nil {
		return nil, err
	}
	return r, nil
}

// auditObject reads an optional JSON-object member, bounded.
func auditObject(m map[string]any, name string) (json.RawMessage, error) {
	v, present := m[name]
	if !present {
		return nil, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, aauth.BadRequest(name + " must be a JSON object")
	}
	b, err := json.Marshal(o)
	if err != nil || len(b) > MaxAuditObject {
		return nil, aauth.BadRequest(name + " must be a JSON object of at most 16 KiB")
	}
	return b, nil
}

// entry is the record as the person reads it in the mission log: the
// agent's own words (Markdown, shown as agent-asserted), with parameters
// and result as JSON blocks; the exact request bytes are kept with their
// digest.
func (r *AuditRecord) entry(body []byte) mission.Entry {
	var b strings.Builder
	b.WriteString("Audit record: " + r.Action)
	if strings.TrimSpace(r.Description) != "" {
		b.WriteString("\n\n" + r.Description)
	}
	for _, part := range []struct {
		label string
		raw   json.RawMessage
	}{{"Parameters", r.Parameters}, {"Result", r.Result}} {
		if part.raw != nil {
			b.WriteString("\n\n" + part.label + ":\n\n```json\n" + string(part.raw) + "\n```")
		}
	}
	return mission.Entry{Kind: KindAudit, Actor: "agent", Summary: b.String(), Body: body}
}

// Audit handles POST {audit_endpoint} (P§audit-endpoint): the record joins
// the log of the agent's active mission, or the request is refused and
// nothing is written (404 mission_not_found for an unknown or another
// agent's mission, 403 mission_terminated for an ended one; PS-219..PS-222).
func (f *Flows) Audit(ctx context.Context, a *httpsig.Agent, body []byte, issuer string) error {
	r, err := ParseAudit(body, issuer)
	if err != nil {
		return err
	}
	// Outside the transaction, so an expiry observed here is recorded.
	if _, err := f.Missions.Active(ctx, r.S256, a.Provider, a.ID); err != nil {
		return err
	}
	return f.DB.InTx(ctx, func(tx *store.Store) error {
		if err := f.Missions.WithStore(tx).LogWhileActive(ctx, r.S256, a.Provider, a.ID, r.entry(body)); err != nil {
			return err
		}
		// An audit record may attest a checkpoint of the mission's
		// Authority Set (ordering only: agent-asserted).
		if f.Decisions != nil {
			_, err := f.Decisions.Attest(ctx, tx, r.S256, a.ID, r.Action)
			return err
		}
		return nil
	})
}
