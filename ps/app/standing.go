package app

import (
	"context"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/templates"
)

// standingApprovalsOf shows the person's standing approvals (issue 10)
// on Your access.
func standingApprovalsOf(st *store.Store) func(ctx context.Context, personID string) ([]templates.StandingApprovalItem, error) {
	return func(ctx context.Context, personID string) ([]templates.StandingApprovalItem, error) {
		ts, err := st.PersonTemplates(ctx, personID, "", "")
		if err != nil {
			return nil, err
		}
		out := make([]templates.StandingApprovalItem, len(ts))
		for i, t := range ts {
			out[i] = templates.StandingApprovalItem{ID: t.ID, AgentIss: t.AgentIss, AgentSub: t.AgentSub,
				Resources: t.Resources, Tools: t.Tools, CreatedAt: t.CreatedAt}
		}
		return out, nil
	}
}
