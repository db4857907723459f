package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/markdown"
	"github.com/aauth-ps/aauth-ps/ps/resourcetoken"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
	"github.com/aauth-ps/aauth-ps/templates"
)

// The "What your agents can access" page (issue 9 item 5): every standing
// grant the person gave an agent, each removable.

func (u *UI) registerGrants(g *gin.RouterGroup) {
	g.GET("/access", u.authed(u.grantsPage))
	g.POST("/access/remove", u.authed(u.removeGrant))
	g.POST("/access/permissions/remove", u.authed(u.removePermissionRule))
	g.POST("/access/access-servers/stop", u.authed(u.stopClaimRelease))
	g.POST("/access/access-servers/share-again", u.authed(u.shareAgain))
	g.POST("/access/standing/remove", u.authed(u.removeStandingApproval))
}

func (u *UI) grantsPage(c *gin.Context, s *session) error {
	grants, err := u.opt.Tokens.Grants(ctx(c), s.person.ID)
	if err != nil {
		return err
	}
	items := make([]templates.GrantItem, len(grants))
	for i, g := range grants {
		items[i] = templates.GrantItem{Kind: string(g.Kind), AgentIss: g.AgentIss, AgentSub: g.AgentSub,
			Resource: g.Resource, Scopes: g.Scopes, GrantedAt: g.GrantedAt, LastUsed: g.LastUsed, R3: r3GrantView(g)}
	}
	rules, err := u.permissionRules(c, s)
	if err != nil {
		return err
	}
	missions, err := u.missionGrants(c, s)
	if err != nil {
		return err
	}
	releases, err := u.claimReleases(c, s)
	if err != nil {
		return err
	}
	var standing []templates.StandingApprovalItem
	if u.opt.StandingApprovals != nil {
		if standing, err = u.opt.StandingApprovals(ctx(c), s.person.ID); err != nil {
			return err
		}
	}
	u.render(c, http.StatusOK, templates.GrantsPage(u.pageFor(c, s, "What your agents can access"),
		templates.GrantsView{Grants: items, Missions: missions, Permissions: rules, Releases: releases, Standing: standing}))
	return nil
}

// missionGrants is the access the person's active missions give their
// agents at the approved resources (issue 9 item 4: within the mission only).
func (u *UI) missionGrants(c *gin.Context, s *session) ([]templates.MissionGrantItem, error) {
	ms, err := u.opt.Missions.ForPerson(ctx(c), s.person.ID)
	if err != nil {
		return nil, err
	}
	now := u.now()
	var out []templates.MissionGrantItem
	for _, m := range ms {
		b, err := m.Parsed()
		if err != nil || len(b.ApprovedResources) == 0 {
			continue
		}
		if active, _ := m.State().Active(now); !active {
			continue
		}
		out = append(out, templates.MissionGrantItem{AgentSub: m.AgentSub, Resources: b.ApprovedResources,
			Title: title(b.Description), URL: "/missions/" + m.S256, ApprovedAt: m.ApprovedAt, ExpiresAt: m.ExpiresAt})
	}
	return out, nil
}

// removeGrant removes one of the session person's grants. The key comes
// from the form, the person from the session only: a key the person holds
// no grant for (another person's included) is refused as not found.
func (u *UI) removeGrant(c *gin.Context, s *session) error {
	key := tokens.GrantKey{Kind: tokens.GrantKind(c.PostForm("kind")), AgentIss: c.PostForm("agent_iss"),
		AgentSub: c.PostForm("agent_sub"), Resource: c.PostForm("resource"), R3S256: c.PostForm("r3_s256")}
	if !key.Valid() {
		return errNotFound
	}
	remove := u.opt.Tokens.RemoveGrant
	if u.opt.RemoveGrant != nil {
		remove = u.opt.RemoveGrant
	}
	err := remove(ctx(c), s.person.ID, key)
	if errors.Is(err, dberr.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	u.log.InfoContext(ctx(c), "person removed a grant", "person", s.person.ID, "username", s.person.Username,
		"kind", string(key.Kind), "agent_iss", key.AgentIss, "agent_sub", key.AgentSub, "resource", key.Resource)
	u.redirectFlash(c, "/access", "Access removed: the agent must ask you again before it can act at "+key.Resource+".")
	return nil
}

// r3GrantView shows a remembered R3 grant: the summary as plain text and
// each operation by its name in the vocabulary.
func r3GrantView(g tokens.Grant) *templates.R3GrantView {
	if g.R3 == nil {
		return nil
	}
	v := &templates.R3GrantView{S256: g.R3.S256, Summary: markdown.Plain(g.R3.Summary)}
	labels := func(raw []byte) []string {
		var ops []json.RawMessage
		_ = json.Unmarshal(raw, &ops)
		out := make([]string, 0, len(ops))
		for _, op := range ops {
			out = append(out, resourcetoken.R3OperationLabel(op))
		}
		return out
	}
	v.Granted, v.PerCall = labels(g.R3.Granted), labels(g.R3.PerCall)
	return v
}
