package web

import (
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/markdown"
	"github.com/aauth-ps/aauth-ps/templates"
)

// asClaimsView is an access server's request for the person's details:
// what this PS verified and would send apart from what the AS says.
func asClaimsView(c *interact.ASClaims) *templates.ASClaimsView {
	if c == nil {
		return nil
	}
	v := &templates.ASClaimsView{AccessServer: c.AccessServer, Name: markdown.Plain(c.Name)}
	for _, w := range c.Withheld {
		v.Withheld = append(v.Withheld, markdown.Plain(w))
	}
	for _, a := range c.Asked {
		v.Asked = append(v.Asked, markdown.Plain(a))
	}
	for _, r := range c.Release {
		v.Release = append(v.Release, templates.ClaimValueView{Name: r.Name, Value: r.Value})
	}
	return v
}

// asQuestionView is an access server's question to the person (its
// Markdown rendered and sanitized).
func asQuestionView(q *interact.ASQuestion) *templates.ASQuestionView {
	return &templates.ASQuestionView{AccessServer: q.AccessServer, Question: markdown.Render(q.Question), InMission: q.InMission,
		Options: q.Options, Deadline: q.Deadline}
}
