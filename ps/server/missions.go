package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// Paths of the mission endpoint (E5) and a mission's own URL (E6).
const (
	PathMission    = "/mission"
	PathMissionURL = "/mission/:s256"
	// MissionBodyLimit is the larger body cap of the mission endpoint (PS-050).
	MissionBodyLimit = 256 << 10
	// PathMissionControl is the control plane for the person and
	// administrators (served by the web UI: session authentication).
	PathMissionControl = "/mission-control"
	// PathAudit is the audit endpoint (E8).
	PathAudit = "/audit"
)

// TokenEndpoint is a token endpoint's flow: the person token endpoint
// (E3) and the auth token endpoint answer 200 with a token, 202 while the
// person is asked, or an error.
type TokenEndpoint interface {
	Handle(ctx context.Context, a *httpsig.Agent, body []byte) (int, any, *pending.Response, error)
}

// tokenHandler serves a token endpoint.
func (s *Server) tokenHandler(ep TokenEndpoint) signedHandler {
	return func(c *gin.Context, req *SignedRequest) error {
		status, body, pend, err := ep.Handle(c.Request.Context(), req.Agent, req.Body)
		if err != nil {
			return err
		}
		if pend != nil {
			writePending(c, *pend)
			return nil
		}
		c.Header("Cache-Control", "no-store")
		writeJSON(c, status, body)
		return nil
	}
}

// handleMissionPropose is POST {mission_endpoint} (E5).
func (s *Server) handleMissionPropose(c *gin.Context, req *SignedRequest) error {
	res, err := s.opt.Missions.Propose(c.Request.Context(), req.Agent, req.Body, s.opt.Identifiers)
	if err != nil {
		return err
	}
	writePending(c, *res)
	return nil
}

// handleMissionURL is POST {mission_endpoint}/{s256} (E6).
func (s *Server) handleMissionURL(c *gin.Context, req *SignedRequest) error {
	res, body, err := s.opt.Missions.MissionURL(c.Request.Context(), req.Agent, c.Param("s256"), req.Body)
	if err != nil {
		return err
	}
	if res != nil {
		writePending(c, *res)
		return nil
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusOK, body)
	return nil
}

// missionHeader adds the April form to an approval delivered through a
// pending URL: AAuth-Mission: approver="<issuer>";s256="<s256>".
func (s *Server) missionHeader(c *gin.Context, id string, res *pending.Response) {
	if res.Status != http.StatusOK {
		return
	}
	r, err := s.opt.Engine.Get(c.Request.Context(), id)
	if err != nil || r.Kind != missionflow.KindProposal {
		return
	}
	var b struct {
		S256 string `json:"s256"`
	}
	if json.Unmarshal(res.Body, &b) == nil && b.S256 != "" {
		res.Header.Set(missionflow.HeaderAAuthMission, missionflow.ApprovalHeader(s.opt.Issuer, b.S256))
	}
}

// handleAudit is POST {audit_endpoint} (E8): 201 with an empty body once
// the record is in the mission log; never deferred (PS-223).
func (s *Server) handleAudit(c *gin.Context, req *SignedRequest) error {
	if err := s.opt.Missions.Audit(c.Request.Context(), req.Agent, req.Body, s.opt.Issuer); err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusCreated)
	return nil
}
