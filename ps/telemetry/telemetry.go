package telemetry

import (
	"context"
	"errors"
	"log/slog"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// ScopeName is the instrumentation scope of the PS's own spans.
const ScopeName = "github.com/aauth-ps/aauth-ps"

// Attribute keys of the PS's spans.
const (
	// AttrCacheHit: a discovery document was served from the cache.
	AttrCacheHit = attribute.Key("aauth.discovery.cache_hit")
	// AttrDocument: the discovery document's kind (metadata, jwks).
	AttrDocument = attribute.Key("aauth.discovery.document")
	// AttrIssuer: the public issuer a discovery fetch is for.
	AttrIssuer = attribute.Key("aauth.issuer")
	// AttrDecision: what a decision point chose (issue, ask, …).
	AttrDecision = attribute.Key("aauth.decision")
	// AttrTokenType: the kind of token issued (person, auth).
	AttrTokenType = attribute.Key("aauth.token_type")
	// AttrMission: the mission's s256 (public: it is in tokens' claims).
	AttrMission = attribute.Key("aauth.mission")
	// AttrErrorCode: the problem's error code of a failed step.
	AttrErrorCode = attribute.Key("aauth.error")
	// AttrPresigned: the token issued was the one signed before its
	// transaction (false: signed in it).
	AttrPresigned = attribute.Key("aauth.token.presigned")
)

// Start begins a child span of ctx's span, made by that span's provider.
// Without a span in ctx it returns ctx and a span that records nothing.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(ScopeName).Start(ctx, name, trace.WithAttributes(attrs...))
}

// End ends span; a non-nil err marks it failed with the problem's code (or
// "error"), never the message, which may quote input.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		code := "error"
		var p *aauth.Problem
		if errors.As(err, &p) && p.Code != "" {
			code = p.Code
		}
		var se *aauth.SignatureError
		if errors.As(err, &se) {
			code = string(se.Code)
		}
		span.SetAttributes(AttrErrorCode.String(code))
		span.SetStatus(codes.Error, code)
	}
	span.End()
}

// ContextProvider is a TracerProvider for instrumentation libraries that
// take one at set-up (the gorm plugin): each span it starts is made by the
// provider of the span in the context it is given, or not at all.
func ContextProvider() trace.TracerProvider { return contextProvider{} }

type contextProvider struct{ embedded.TracerProvider }

func (contextProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return contextTracer{name: name, opts: opts}
}

type contextTracer struct {
	embedded.Tracer
	name string
	opts []trace.TracerOption
}

func (t contextTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(t.name, t.opts...).Start(ctx, name, opts...)
}

// LogHandler adds trace_id and span_id to each record logged with a
// context that carries a valid span, so the log lines of one request can
// be found from its trace and the reverse.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{h}
}

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as)}
}

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.Handler.WithGroup(name)} }

// Decided ends a decision point's span with what it chose.
func Decided(span trace.Span, decision string, err error) {
	span.SetAttributes(AttrDecision.String(decision))
	End(span, err)
}
