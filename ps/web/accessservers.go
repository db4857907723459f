package web

import (
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/templates"
)

// claimReleases groups the person's releases per access server.
func (u *UI) claimReleases(c *gin.Context, s *session) ([]templates.ClaimReleaseItem, error) {
	if u.opt.AccessServers == nil {
		return nil, nil
	}
	rel, err := u.opt.AccessServers.Releases(ctx(c), s.person.ID)
	if err != nil {
		return nil, err
	}
	var out []templates.ClaimReleaseItem
	for _, r := range rel {
		if len(out) == 0 || out[len(out)-1].AccessServer != r.AccessServer {
			out = append(out, templates.ClaimReleaseItem{AccessServer: r.AccessServer, Stopped: r.StoppedAt})
		}
		it := &out[len(out)-1]
		if r.Claim == "" {
			continue // a stop before anything was released
		}
		it.Claims = append(it.Claims, r.Claim)
		if at := r.ReleasedAt; it.LastSent == nil || at.After(*it.LastSent) {
			it.LastSent = &at
		}
	}
	for i := range out {
		slices.Sort(out[i].Claims)
	}
	return out, nil
}

// stopClaimRelease stops future release to the access server named in the
// form, for the session person only; an AS they never dealt with is not
// found (no oracle: the same answer as a made-up one). The stop is in the
// audit trail, as its undo (shareAgain) is.
func (u *UI) stopClaimRelease(c *gin.Context, s *session) error {
	as := c.PostForm("access_server")
	if u.opt.AccessServers == nil || as == "" {
		return errNotFound
	}
	rel, err := u.opt.AccessServers.Releases(ctx(c), s.person.ID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(rel, func(r federation.Release) bool { return r.AccessServer == as }) {
		return errNotFound
	}
	rec := u.auditChange(s, false, "access-server.stop", "access-server:"+as, "person stopped releasing details to an access server",
		map[string]any{"access_server": as})
	if err := u.audited(c, &rec, func(tx *store.Store) error {
		return u.opt.AccessServers.WithStore(tx).StopRelease(ctx(c), s.person.ID, as)
	}); err != nil {
		return err
	}
	u.redirectFlash(c, "/access", "Stopped: "+as+" receives nothing more about you from this person server.")
	return nil
}

// shareAgain undoes the session person's stop (or refusal) for the access
// server named in the form; without such a stop, not found. The undo is in
// the audit trail (it lets details flow again; the stop's time is not
// kept once undone).
func (u *UI) shareAgain(c *gin.Context, s *session) error {
	as := c.PostForm("access_server")
	if u.opt.AccessServers == nil || as == "" {
		return errNotFound
	}
	rec := u.auditChange(s, false, "access-server.share-again", "access-server:"+as, "person shares details with an access server again",
		map[string]any{"access_server": as})
	err := u.audited(c, &rec, func(tx *store.Store) error {
		ok, err := u.opt.AccessServers.WithStore(tx).ShareAgain(ctx(c), s.person.ID, as)
		if err == nil && !ok {
			return errNotFound
		}
		return err
	})
	if err != nil {
		return err
	}
	u.redirectFlash(c, "/access", "Sharing again: "+as+" may receive the details you allowed before; it asks you for others.")
	return nil
}
