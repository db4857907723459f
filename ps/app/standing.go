package app

import (
	"context"

	"github.com/aauth-ps/aauth-ps/ps/markdown"
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

// standingAnswersOf shows a mission's standing answers to access servers
// (issue 11) on the mission page: the AS's question is its Markdown,
// sanitized as on the question page.
func standingAnswersOf(st *store.Store) func(ctx context.Context, s256 string) ([]templates.StandingAnswerItem, error) {
	return func(ctx context.Context, s256 string) ([]templates.StandingAnswerItem, error) {
		as, err := st.StandingAnswers(ctx, s256)
		if err != nil {
			return nil, err
		}
		out := make([]templates.StandingAnswerItem, len(as))
		for i, a := range as {
			out[i] = templates.StandingAnswerItem{ID: a.ID, AccessServer: a.AccessServer, Question: markdown.Render(a.Question),
				Answer: a.Answer, KeptAt: a.CreatedAt}
		}
		return out, nil
	}
}
