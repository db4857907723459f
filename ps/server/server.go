package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/persontoken"
	"github.com/aauth-ps/aauth-ps/ps/ratelimit"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/telemetry"
)

// Pinger is the readiness probe's view of the database.
type Pinger interface {
	Ping(ctx context.Context) error
}

// KeySource publishes the PS's public keys.
type KeySource interface {
	JWKS(ctx context.Context) ([]byte, error)
}

// Options configure a Server. Every field is required unless marked.
type Options struct {
	Issuer      string
	Name        string // optional display name in metadata
	Description string // optional
	// TrustedProxies are CIDRs allowed to reach a plain-HTTP listener; when
	// set (and TLS is terminated upstream) requests from elsewhere are refused.
	TrustedProxies []string
	// RequireProxy refuses non-proxy peers (plain HTTP behind a proxy).
	RequireProxy    bool
	MaxBodyBytes    int64
	SignatureWindow time.Duration
	Verifier        *httpsig.Verifier
	DB              Pinger
	Keys            KeySource
	Logger          *slog.Logger
	Metrics         *Metrics // optional; a fresh registry when nil
	// Tracing starts a span per request (issue 14); nil: no tracing.
	Tracing  trace.TracerProvider
	Engine   *pending.Engine
	Interact *interact.Service
	// Web registers the browser pages (optional).
	Web         interface{ Register(e *gin.Engine) }
	PersonToken *persontoken.Service
	// AuthToken is the auth token endpoint; advertised and routed only
	// when set (PS-005: only endpoints that work are advertised).
	AuthToken TokenEndpoint
	Missions  *missionflow.Flows
	// Revocation is the revocation endpoint; advertised and routed only
	// when set.
	Revocation *revocation.Service
	// Providers applies the agent-provider policy to revoking providers
	// (optional).
	Providers   httpsig.ProviderGate
	Identifiers aauth.IdentifierPolicy
	// AfterVerify runs after an agent request verified (records the
	// provider as seen); optional.
	AfterVerify func(ctx context.Context, providerIssuer string)
	// AgentAccepted records the agent token's (iss, jti) and sub for
	// revocation cascades (PS-293) once an agent request is accepted,
	// before its answer goes out (acceptedWriter); an error answers 500
	// instead. Optional.
	AgentAccepted func(ctx context.Context, a *httpsig.Agent) error
	// Permission is the permission endpoint (E7: 200, 202 or an error,
	// like a token endpoint); advertised and routed only when set.
	Permission TokenEndpoint
	// Limits are the request-rate limits per client address, agent and
	// agent provider (optional: nil limits nothing).
	Limits *ratelimit.Set
}

// Server is the PS's HTTP application.
type Server struct {
	opt      Options
	log      *slog.Logger
	metrics  *Metrics
	engine   *gin.Engine
	proxies  []netip.Prefix
	metadata []byte
	// rateLimited counts 429s from Limits.
	rateLimited *prometheus.CounterVec
}

// Endpoint paths (PS-REQUIREMENTS §2.3 recommended paths). Clients learn the
// real URLs from metadata.
const (
	PathMetadata    = "/.well-known/aauth-person.json"
	PathJWKS        = "/.well-known/jwks.json"
	PathPersonToken = "/person"
	PathAuthToken   = "/token"
	PathHealthz     = "/healthz"
	PathReadyz      = "/readyz"
	PathMetrics     = "/metrics"
)

// New builds the Server and its route table.
func New(opt Options) (*Server, error) {
	if opt.Verifier == nil || opt.DB == nil || opt.Keys == nil || opt.Issuer == "" || opt.Engine == nil || opt.Interact == nil ||
		opt.PersonToken == nil || opt.Missions == nil {
		return nil, errors.New("server: Issuer, Verifier, DB, Keys, Engine, Interact, PersonToken and Missions are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics()
	}
	opt.Metrics.registerStore(opt.DB)
	if opt.MaxBodyBytes == 0 {
		opt.MaxBodyBytes = 64 * 1024
	}
	s := &Server{opt: opt, log: opt.Logger, metrics: opt.Metrics, rateLimited: newRateLimitedCounter(opt.Metrics.Registry)}
	for _, p := range opt.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		s.proxies = append(s.proxies, pfx)
	}
	md, err := s.buildMetadata()
	if err != nil {
		return nil, err
	}
	s.metadata = md

	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RemoveExtraSlash = false
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	if err := e.SetTrustedProxies(opt.TrustedProxies); err != nil {
		return nil, err
	}
	if opt.Tracing != nil {
		e.Use(tracing(opt.Tracing))
	}
	e.Use(s.recoverer(), s.metrics.middleware(), s.accessLog(), s.proxyGate(), s.bodyCap())
	e.NoRoute(func(c *gin.Context) {
		if s.browserError(c, http.StatusNotFound) {
			return
		}
		s.renderError(c, aauth.NewProblem(http.StatusNotFound, aauth.ErrNotFound, "no such endpoint"))
	})
	e.NoMethod(func(c *gin.Context) {
		if s.browserError(c, http.StatusMethodNotAllowed) {
			return
		}
		s.renderError(c, &aauth.Problem{Status: http.StatusMethodNotAllowed, Code: aauth.ErrMethodNotAllowed,
			Detail: "method not allowed on this endpoint", Header: http.Header{"Allow": c.Writer.Header().Values("Allow")}})
	})

	e.GET(PathMetadata, s.handleMetadata)
	e.GET(PathJWKS, s.handleJWKS)
	e.GET(PathHealthz, s.handleHealthz)
	e.GET(PathReadyz, s.handleReadyz)
	e.GET(PathMetrics, gin.WrapH(promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{})))

	// Agent-facing endpoints.
	e.POST(PathPersonToken, s.agentRoute(httpsig.Policy{}, s.tokenHandler(opt.PersonToken)))
	if opt.AuthToken != nil {
		e.POST(PathAuthToken, s.agentRoute(httpsig.Policy{}, s.tokenHandler(opt.AuthToken)))
	}
	if opt.Permission != nil {
		e.POST(PathPermission, s.agentRoute(httpsig.Policy{}, s.tokenHandler(opt.Permission)))
	}
	e.POST(PathMission, s.agentRouteLimit(httpsig.Policy{}, MissionBodyLimit, s.handleMissionPropose))
	e.POST(PathMissionURL, s.agentRoute(httpsig.Policy{}, s.handleMissionURL))
	e.POST(PathInteraction, s.agentRoute(httpsig.Policy{}, s.handleInteraction))
	e.POST(PathAudit, s.agentRoute(httpsig.Policy{}, s.handleAudit))
	// A chained request's intermediary polls with the agent token whose
	// foreign ps the strict check let through on the chained request.
	pendingPolicy := httpsig.Policy{ForeignPS: true}
	e.GET(PathPending, s.agentRoute(pendingPolicy, s.handlePoll))
	e.POST(PathPending, s.agentRoute(pendingPolicy, s.handlePendingPost))
	e.DELETE(PathPending, s.agentRoute(pendingPolicy, s.handlePendingDelete))
	if opt.Revocation != nil {
		e.POST(PathRevocation, s.serverRoute(s.handleRevoke))
		e.GET(PathRevocationPending, s.serverRoute(s.handleRevocationPoll))
	}
	if opt.Web != nil {
		opt.Web.Register(e)
	}

	s.engine = e
	return s, nil
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.engine }

// SignedRequest is what a signed handler receives: the verified agent and
// the body the signature covered.
type SignedRequest struct {
	Agent *httpsig.Agent
	Body  []byte
}

type signedHandler func(c *gin.Context, req *SignedRequest) error

// agentRoute reads the body under the size cap (413 before any parsing or
// fetching, PS-050), verifies the signature (PS-029: before the body is
// interpreted), then calls h with the verified principal.
func (s *Server) agentRoute(pol httpsig.Policy, h signedHandler) gin.HandlerFunc {
	return s.agentRouteLimit(pol, s.opt.MaxBodyBytes, h)
}

// agentRouteLimit is agentRoute with its own body cap.
func (s *Server) agentRouteLimit(pol httpsig.Policy, limit int64, h signedHandler) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.limitClient(c) {
			return
		}
		body, err := readBody(c, limit)
		if err != nil {
			s.renderError(c, err)
			return
		}
		vctx, span := telemetry.Start(c.Request.Context(), "aauth.verify")
		agent, err := s.opt.Verifier.Verify(vctx, c.Request, body, pol)
		telemetry.End(span, err)
		if err != nil {
			s.renderError(c, err)
			return
		}
		if !s.limitAgent(c, agent.Provider, agent.ID) {
			return
		}
		if err := jsonBody(c.Request, body); err != nil {
			s.renderError(c, err)
			return
		}
		// gin's ClientIP honours X-Forwarded-For only from --trusted-proxy.
		agent.ClientAddr, _ = netip.ParseAddr(c.ClientIP())
		var accepted *acceptedWriter
		if s.opt.AgentAccepted != nil {
			accepted = &acceptedWriter{ResponseWriter: c.Writer, s: s, c: c, agent: agent}
			c.Writer = accepted
		}
		if err := h(c, &SignedRequest{Agent: agent, Body: body}); err != nil {
			s.renderError(c, err)
			return
		}
		if accepted != nil {
			accepted.settle() // an answer without a body
		}
		// Only a request that succeeded leaves a trace: a refused one
		// changes nothing.
		if s.opt.AfterVerify != nil && c.Writer.Status() < 400 {
			s.opt.AfterVerify(c.Request.Context(), agent.Provider)
		}
	}
}

// jsonBody refuses a body whose Content-Type is not application/json
// with 400 invalid_request (PS-049, A-35); parameters such as
// charset=utf-8 are allowed. It runs after the signature, which covers
// Content-Type, so a header changed in transit stays invalid_signature
// (PS-021), and before the body is read as JSON.
func jsonBody(r *http.Request, body []byte) error {
	if len(body) == 0 {
		return nil
	}
	ct := r.Header.Get(aauth.HeaderContentType)
	if ct == "application/json" {
		return nil // the usual case, without parsing parameters
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return aauth.BadRequest("the request body must be application/json")
	}
	return nil
}

func readBody(c *gin.Context, limit int64) ([]byte, error) {
	if c.Request.ContentLength > limit {
		return nil, aauth.NewProblem(http.StatusRequestEntityTooLarge, aauth.ErrInvalidRequest, "request body too large")
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, aauth.NewProblem(http.StatusRequestEntityTooLarge, aauth.ErrInvalidRequest, "request body too large")
		}
		return nil, aauth.BadRequest("the request body could not be read")
	}
	return b, nil
}

func (s *Server) handleHealthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz is readiness: the database answers and the PS holds an
// active signing key (when Keys can tell). A replica that is not ready
// answers 503 so a load balancer sends its traffic elsewhere; it recovers
// by itself when the database does (issue 12).
func (s *Server) handleReadyz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{"status": "ready", "database": "ok"}
	ready := true
	if err := s.opt.DB.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: database unreachable", "err", err)
		status["database"], ready = "unreachable", false
	}
	if k, ok := s.opt.Keys.(interface{ Ready(context.Context) error }); ok {
		status["keys"] = "ok"
		if err := k.Ready(ctx); err != nil {
			s.log.WarnContext(ctx, "readiness: no signing key loaded", "err", err)
			status["keys"], ready = "unavailable", false
		}
	}
	if !ready {
		status["status"] = "unavailable"
		c.Header("Retry-After", "5")
		writeJSON(c, http.StatusServiceUnavailable, status)
		return
	}
	writeJSON(c, http.StatusOK, status)
}

// proxyGate refuses, on a plain-HTTP listener behind a TLS-terminating
// proxy, requests that did not come through that proxy: they bypassed TLS.
func (s *Server) proxyGate() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.opt.RequireProxy || c.Request.TLS != nil || c.Request.URL.Path == PathHealthz {
			return
		}
		host, _, err := net.SplitHostPort(c.Request.RemoteAddr)
		addr, perr := netip.ParseAddr(host)
		if err == nil && perr == nil {
			for _, p := range s.proxies {
				if p.Contains(addr.Unmap()) {
					return
				}
			}
		}
		s.renderError(c, aauth.NewProblem(http.StatusForbidden, "proxy_required", "requests must arrive through the configured TLS proxy"))
	}
}

func (s *Server) recoverer() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler { //nolint:errorlint // sentinel compared by identity per net/http
					panic(r)
				}
				s.log.ErrorContext(c.Request.Context(), "panic serving request", "route", routeOf(c), "panic", r)
				if !c.Writer.Written() {
					writeProblem(c, aauth.NewProblem(http.StatusInternalServerError, aauth.ErrServerError, "internal error"))
				}
			}
		}()
		c.Next()
	}
}

// accessLog writes one structured line per request. It logs no header
// values and no bodies: tokens travel in both.
func (s *Server) accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "http request",
			slog.String("method", c.Request.Method),
			slog.String("route", routeOf(c)),
			slog.Int("status", c.Writer.Status()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("client_ip", c.ClientIP()),
		)
	}
}
