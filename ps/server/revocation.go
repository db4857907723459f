package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/telemetry"
)

// Paths of the revocation endpoint (E11) and its pending URLs.
const (
	PathRevocation        = "/revoke"
	PathRevocationPending = "/revoke/pending/:id"
)

// revocationPolicy: the callers E11 accepts sign as an agent provider or a
// resource (PS-234); a blocked provider is refused before any fetch.
func (s *Server) revocationPolicy() httpsig.ServerPolicy {
	return httpsig.ServerPolicy{
		DWKs: []string{aauth.DWKAgent, aauth.DWKResource},
		Admit: func(ctx context.Context, id, dwk string) error {
			if s.opt.Providers != nil && dwk == aauth.DWKAgent {
				if err := s.opt.Providers.Admit(ctx, id); errors.Is(err, httpsig.ErrProviderRefused) {
					return aauth.NewProblem(http.StatusForbidden, aauth.ErrUnsupportedIss, "this person server does not accept revocations from this caller")
				} else if err != nil {
					return &aauth.Problem{Status: http.StatusInternalServerError, Code: aauth.ErrServerError, Detail: "internal error", Cause: err}
				}
			}
			return nil
		},
	}
}

type serverHandler func(c *gin.Context, caller *httpsig.Server, body []byte) error

// serverRoute is agentRoute for server callers: the body under the cap,
// then the jwks_uri signature, then h.
func (s *Server) serverRoute(h serverHandler) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.limitClient(c) {
			return
		}
		body, err := readBody(c, s.opt.MaxBodyBytes)
		if err != nil {
			s.renderError(c, err)
			return
		}
		vctx, span := telemetry.Start(c.Request.Context(), "aauth.verify_server")
		caller, err := s.opt.Verifier.VerifyServer(vctx, c.Request, body, s.revocationPolicy())
		telemetry.End(span, err)
		if err != nil {
			s.renderError(c, err)
			return
		}
		if err := jsonBody(c.Request, body); err != nil {
			s.renderError(c, err)
			return
		}
		if err := h(c, caller, body); err != nil {
			s.renderError(c, err)
		}
	}
}

// handleRevoke is E11 (P§revocation-request, P§revocation-response).
func (s *Server) handleRevoke(c *gin.Context, caller *httpsig.Server, body []byte) error {
	ans, err := s.opt.Revocation.Revoke(c.Request.Context(), revocation.Caller{ID: caller.ID, DWK: caller.DWK}, body, preferWait(c.Request))
	if err != nil {
		return err
	}
	writeRevocationAnswer(c, s.opt.Issuer, ans)
	return nil
}

// handleRevocationPoll is the signed GET on a revocation's pending URL: the
// same server identity only; anyone else gets 404 (PS-286).
func (s *Server) handleRevocationPoll(c *gin.Context, caller *httpsig.Server, _ []byte) error {
	ans, err := s.opt.Revocation.Poll(c.Request.Context(), caller.ID, c.Param("id"))
	if err != nil {
		return err
	}
	writeRevocationAnswer(c, s.opt.Issuer, ans)
	return nil
}

// writeRevocationAnswer: 200 with an empty body and no Content-Type
// (PS-287), or 202 with Location, Retry-After and no-store and no
// AAuth-Requirement.
func writeRevocationAnswer(c *gin.Context, issuer string, ans revocation.Answer) {
	c.Header("Cache-Control", "no-store")
	if ans.Status == http.StatusAccepted {
		c.Header("Location", issuer+"/revoke/pending/"+ans.CascadeID)
		c.Header("Retry-After", "5")
		writeJSON(c, http.StatusAccepted, map[string]any{"status": "pending"})
		return
	}
	c.Status(http.StatusOK)
	c.Writer.WriteHeaderNow()
}
