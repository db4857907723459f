package server

import (
	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/httperr"
)

// renderError writes err through the one problem renderer (ps/httperr),
// counting signature failures and logging server errors with the route.
func (s *Server) renderError(c *gin.Context, err error) {
	if se, ok := aauth.AsSignatureError(err); ok {
		s.metrics.verifyFailures.WithLabelValues(string(se.Code)).Inc()
		s.log.InfoContext(c.Request.Context(), "signed request refused",
			"route", routeOf(c), "code", se.Code, "reason", se.Error())
	}
	if p := httperr.Write(c, err); p != nil && p.Status >= 500 {
		s.log.ErrorContext(c.Request.Context(), "request failed", "route", routeOf(c), "status", p.Status, "code", p.Code, "err", errText(p))
	}
}

func errText(p *aauth.Problem) string {
	if p.Cause != nil {
		return p.Cause.Error()
	}
	return p.Detail
}

// writeJSON writes a 2xx JSON document.
func writeJSON(c *gin.Context, status int, v any) { httperr.JSON(c, status, v) }

// writeProblem writes p (the recoverer's last word, when no error value is
// at hand).
func writeProblem(c *gin.Context, p *aauth.Problem) { httperr.Write(c, p) }

// browserError lets the web UI, when there is one, answer a browser's page
// load that matched no route or method with an HTML page (it reports
// whether it did); everyone else gets problem+json.
func (s *Server) browserError(c *gin.Context, status int) bool {
	b, ok := s.opt.Web.(interface {
		BrowserError(c *gin.Context, status int) bool
	})
	return ok && b.BrowserError(c, status)
}
