package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/aauth-ps/aauth-ps/ps/telemetry"
)

// tracing starts each request's server span with tp; the steps below
// (ps/telemetry.Start) and the database calls become its children. The
// span carries the route template, never the path (an invitation's or a
// pending request's secret is in it), nor query, headers or body.
//
// An incoming traceparent is not obeyed: the PS's callers are agents on
// the Internet, which must not choose its trace ids or sampling. A valid
// one is kept as a link, so a caller's trace can still be followed here.
func tracing(tp trace.TracerProvider) gin.HandlerFunc {
	tracer := tp.Tracer(telemetry.ScopeName)
	var prop propagation.TraceContext
	return func(c *gin.Context) {
		route := routeOf(c)
		method := c.Request.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		default:
			method = "_OTHER"
		}
		opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.HTTPRoute(route))}
		if remote := trace.SpanContextFromContext(prop.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))); remote.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: remote}))
		}
		ctx, span := tracer.Start(c.Request.Context(), method+" "+route, opts...)
		defer span.End()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
		status := c.Writer.Status()
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
}
