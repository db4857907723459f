package server

import (
	"errors"
	"net/http"
	"net/netip"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/ratelimit"
)

// limitClient counts the request against its client address's bucket,
// before the body is read or anything verified, so floods of unsigned or
// badly signed requests are bounded too. It renders the refusal and
// reports false when over.
func (s *Server) limitClient(c *gin.Context) bool {
	addr, _ := netip.ParseAddr(c.ClientIP())
	return s.limited(c, s.opt.Limits.CheckClient(addr))
}

// limitAgent counts a verified agent's request against its own and its
// provider's buckets.
func (s *Server) limitAgent(c *gin.Context, provider, agent string) bool {
	return s.limited(c, s.opt.Limits.CheckAgent(provider, agent))
}

// limited renders err when it is a rate-limit refusal: 429 with
// Retry-After and the draft's code — slow_down on a poll of a pending URL
// (P§polling-error-codes: the agent adds 5 s to its interval), rate_limited
// everywhere else (P§revocation-response's code, used by the PS for every
// request-rate and creation bound). It reports whether the request may go on.
func (s *Server) limited(c *gin.Context, err error) bool {
	var ex *ratelimit.Exceeded
	if !errors.As(err, &ex) {
		return true
	}
	code, detail := aauth.ErrRateLimited, "too many requests from this "+ex.Limit+"; retry later"
	if c.Request.Method == http.MethodGet && c.FullPath() == PathPending {
		code, detail = aauth.ErrSlowDown, "polling too fast for this "+ex.Limit+"; increase the interval by 5 seconds"
	}
	s.rateLimited.WithLabelValues(ex.Limit).Inc()
	s.log.WarnContext(c.Request.Context(), "security: request rate limited", "limit", ex.Limit,
		"route", routeOf(c), "client_ip", c.ClientIP())
	p := aauth.NewProblem(http.StatusTooManyRequests, code, detail)
	p.RetryAfter = ex.RetryAfterSeconds()
	p.Cause = ex
	s.renderError(c, p)
	return false
}

// newRateLimitedCounter registers the refusals series on reg.
func newRateLimitedCounter(reg *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aauth_ps_rate_limited_total",
		Help: "Requests refused with 429 by a request-rate limit, by limit (agent, provider, client).",
	}, []string{"limit"})
	reg.MustRegister(c)
	for _, l := range []string{"agent", "provider", "client"} {
		c.WithLabelValues(l)
	}
	return c
}

// bodyCap bounds every request body, the web UI's forms and JSON included,
// at the largest cap of any agent endpoint: a declared length beyond it is
// 413 before anything is read, an undeclared one stops being read there.
// The agent endpoints keep their own, smaller caps (readBody).
func (s *Server) bodyCap() gin.HandlerFunc {
	limit := max(s.opt.MaxBodyBytes, MissionBodyLimit)
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			s.renderError(c, aauth.NewProblem(http.StatusRequestEntityTooLarge, aauth.ErrInvalidRequest, "request body too large"))
			return
		}
		if c.Request.Body != nil && c.Request.Body != http.NoBody {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
	}
}
