package server

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Metrics are the PS's Prometheus series. Each Server owns a registry so
// tests and several servers in one process do not collide.
type Metrics struct {
	Registry       *prometheus.Registry
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	verifyFailures *prometheus.CounterVec
}

// NewMetrics registers the PS series and the Go runtime collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aauth_ps_http_requests_total",
			Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aauth_ps_http_request_duration_seconds",
			Help:    "HTTP request latency by route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aauth_ps_signature_verification_failures_total",
			Help: "Signed requests refused, by Signature-Error code.",
		}, []string{"code"}),
	}
	reg.MustRegister(m.requests, m.duration, m.verifyFailures,
		// The collector's target and heap goal among the runtime series:
		// serve sets its own target unless GOGC is set (issue 12).
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, code := range aauth.AllSigCodes {
		m.verifyFailures.WithLabelValues(string(code))
	}
	return m
}

// registerStore adds the store's pool and writer-turn series (ps/store
// Collectors) when db has them; a registry that holds them already (two
// servers on one Metrics) keeps its own.
func (m *Metrics) registerStore(db any) {
	c, ok := db.(interface{ Collectors() []prometheus.Collector })
	if !ok {
		return
	}
	for _, col := range c.Collectors() {
		_ = m.Registry.Register(col)
	}
}

// routeOf is the route template, never the raw path, to bound cardinality.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

func (m *Metrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := routeOf(c)
		m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}
}
