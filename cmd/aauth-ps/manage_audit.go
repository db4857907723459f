package main

import (
	"context"
	"encoding/json"

	"github.com/aauth-ps/aauth-ps/ps/audit"
)

// auditListLimit is how many of the newest events `audit list` shows.
const auditListLimit = 100

// auditList is `audit list`: the newest administrative changes, as
// /admin/audit shows them (issue 14).
func (m *manager) auditList(ctx context.Context) error {
	events, err := m.a.Store.AuditEvents(ctx, 0, auditListLimit)
	if err != nil {
		return err
	}
	out := []audit.Event{}
	var rows [][]string
	for _, e := range events {
		out = append(out, e)
		detail := "-"
		if len(e.Detail) > 0 {
			b, _ := json.Marshal(e.Detail)
			detail = string(b)
		}
		rows = append(rows, []string{ts(e.At), e.Actor.Kind, orDash(e.Actor.ID), e.Action, orDash(e.Target), detail})
	}
	return m.print(out, "AT\tACTOR\tID\tACTION\tTARGET\tDETAIL", rows)
}
