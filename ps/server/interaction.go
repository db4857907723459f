package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// Paths of the interaction endpoint (E9) and pending URLs (E10).
const (
	PathInteraction = "/interaction"
	PathPending     = "/pending/:id"
)

// handleInteraction is the interaction endpoint: an agent relays an
// interaction, a payment or a question to its person (P§interaction-endpoint).
func (s *Server) handleInteraction(c *gin.Context, req *SignedRequest) error {
	r, err := interact.ParseRelay(req.Body)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	m, _ := strictjson.DecodeObject(req.Body) // already checked by ParseRelay
	ms, err := s.opt.Missions.Mission(ctx, req.Agent, m, s.opt.Issuer)
	if err != nil {
		return err
	}
	var res interact.Result
	if ms != nil {
		r.MissionS256 = ms.S256
		if r.Capabilities == nil {
			r.Capabilities = ms.Capabilities
		}
		res, err = s.opt.Missions.Relay(ctx, req.Agent, r, ms)
	} else {
		res, err = s.opt.Interact.Relay(ctx, req.Agent, r)
	}
	if err != nil {
		return err
	}
	writePending(c, *res)
	return nil
}

// handlePoll is GET on a pending URL, with Prefer: wait (PS-154).
func (s *Server) handlePoll(c *gin.Context, req *SignedRequest) error {
	id := c.Param("id")
	if err := s.opt.Interact.Settle(c.Request.Context(), id, interact.Requester(req.Agent)); err != nil {
		return err
	}
	res, err := s.opt.Engine.Poll(c.Request.Context(), id, interact.Requester(req.Agent), preferWait(c.Request))
	if err != nil {
		return err
	}
	s.missionHeader(c, id, &res)
	writePending(c, res)
	return nil
}

// handlePendingPost is POST on a pending URL: clarification_response,
// updated_request or cancel (P§agent-response-to-clarification).
func (s *Server) handlePendingPost(c *gin.Context, req *SignedRequest) error {
	res, err := s.opt.Engine.Post(c.Request.Context(), c.Param("id"), interact.Requester(req.Agent), req.Body)
	if err != nil {
		return err
	}
	writePending(c, res)
	return nil
}

// handlePendingDelete cancels a pending request (P§cancel-request).
func (s *Server) handlePendingDelete(c *gin.Context, req *SignedRequest) error {
	res, err := s.opt.Engine.Delete(c.Request.Context(), c.Param("id"), interact.Requester(req.Agent))
	if err != nil {
		return err
	}
	writePending(c, res)
	return nil
}

// preferWait reads Prefer: wait=N (RFC 7240); the engine caps it.
func preferWait(r *http.Request) time.Duration {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "wait") {
				if n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`)); err == nil && n > 0 {
					return time.Duration(n) * time.Second
				}
			}
		}
	}
	return 0
}

// writePending copies an engine response onto the wire.
func writePending(c *gin.Context, res pending.Response) {
	h := c.Writer.Header()
	for k, vs := range res.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	c.Status(res.Status)
	if len(res.Body) > 0 {
		_, _ = c.Writer.Write(res.Body)
	}
	c.Abort()
}
