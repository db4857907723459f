package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/telemetry"
)

// TestStartFollowsTheContext: without a span in the context nothing is
// recorded (tracing off); under a span, the child is made by that span's
// provider, and ContextProvider does the same for libraries.
func TestStartFollowsTheContext(t *testing.T) {
	ctx := context.Background()
	if c2, span := telemetry.Start(ctx, "x"); span.IsRecording() || c2 != ctx {
		t.Fatal("a span was recorded without a parent")
	}
	if _, span := telemetry.ContextProvider().Tracer("lib").Start(ctx, "x"); span.IsRecording() {
		t.Fatal("ContextProvider recorded a span without a parent")
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, root := tp.Tracer("test").Start(ctx, "root")
	_, child := telemetry.Start(ctx, "child", telemetry.AttrIssuer.String("https://ap.test"))
	telemetry.End(child, aauth.NewProblem(http.StatusForbidden, aauth.ErrUserUnreachable, "the detail quotes input"))
	_, lib := telemetry.ContextProvider().Tracer("lib").Start(ctx, "lib")
	lib.End()
	root.End()
	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	for _, s := range spans[:2] {
		if s.Parent.SpanID() != root.SpanContext().SpanID() {
			t.Errorf("%s is not a child of root", s.Name)
		}
	}
	if st := spans[0].Status; st.Code != codes.Error || st.Description != aauth.ErrUserUnreachable {
		t.Errorf("status %+v, want the problem's code and not its detail", st)
	}
}

// TestEndWithoutProblem: a plain error is recorded as "error", never its
// message.
func TestEndWithoutProblem(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, root := tp.Tracer("test").Start(context.Background(), "root")
	_, span := telemetry.Start(ctx, "step")
	telemetry.End(span, errors.New("secret aaps_xyz in a message"))
	root.End()
	if st := exp.GetSpans()[0].Status; st.Description != "error" {
		t.Errorf("status %+v", st)
	}
}

// TestLogHandlerAddsTraceIDs: a record logged with a traced context has
// trace_id and span_id; one without has neither.
func TestLogHandlerAddsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "x")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "root")
	log.InfoContext(ctx, "traced")
	log.Info("untraced")
	span.End()
	dec := json.NewDecoder(&buf)
	var traced, untraced map[string]any
	if err := dec.Decode(&traced); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&untraced); err != nil {
		t.Fatal(err)
	}
	if traced["trace_id"] != span.SpanContext().TraceID().String() || traced["span_id"] != span.SpanContext().SpanID().String() || traced["component"] != "x" {
		t.Errorf("traced line %v", traced)
	}
	if _, ok := untraced["trace_id"]; ok {
		t.Errorf("untraced line %v has a trace id", untraced)
	}
}
