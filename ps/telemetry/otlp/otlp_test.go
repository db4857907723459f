package otlp_test

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/aauth-ps/aauth-ps/ps/telemetry/otlp"
)

// TestEnabled: tracing is off unless OTEL_* asks for it.
func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_SERVICE_NAME": "ps"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, false},
	} {
		if got := otlp.Enabled(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("%v: Enabled = %v, want %v", c.env, got, c.want)
		}
	}
}

// TestFromEnv: off gives no provider; the console exporter gives one whose
// resource names the service.
func TestFromEnv(t *testing.T) {
	ctx := context.Background()
	if tp, err := otlp.FromEnv(ctx, func(string) string { return "" }, "test"); tp != nil || err != nil {
		t.Fatalf("unset environment: %v, %v", tp, err)
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_SERVICE_NAME", "ps-under-test")
	tp, err := otlp.FromEnv(ctx, func(k string) string { return map[string]string{"OTEL_TRACES_EXPORTER": "console"}[k] }, "test")
	if err != nil || tp == nil {
		t.Fatalf("console exporter: %v, %v", tp, err)
	}
	defer tp.Shutdown(ctx)
	_, span := tp.Tracer("t").Start(ctx, "x")
	span.End()
	if got, ok := sdkResource(span); !ok || got != "ps-under-test" {
		t.Errorf("service.name %q, want OTEL_SERVICE_NAME's", got)
	}
}

func sdkResource(span trace.Span) (string, bool) {
	ro, ok := span.(sdktrace.ReadOnlySpan)
	if !ok {
		return "", false
	}
	v, ok := ro.Resource().Set().Value("service.name")
	return v.AsString(), ok
}

// TestFromEnvPicksTheExporter: the exporter and protocol variables pick
// what contrib's autoexport would (the traces protocol over the general
// one, http/protobuf by default), and a value it would refuse is an error,
// not a PS running without the traces its operator asked for.
func TestFromEnvPicksTheExporter(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		env     map[string]string
		wantErr string
	}{
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: `OTLP protocol "http/json"`},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift"}, wantErr: `OTLP protocol "thrift"`},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: `OTEL_TRACES_EXPORTER "zipkin"`},
	} {
		tp, err := otlp.FromEnv(ctx, func(k string) string { return c.env[k] }, "test")
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || tp != nil {
				t.Errorf("%v: %v, %v; want an error naming %s", c.env, tp, err, c.wantErr)
			}
			continue
		}
		if err != nil || tp == nil {
			t.Errorf("%v: %v, %v; want a provider", c.env, tp, err)
			continue
		}
		_ = tp.Shutdown(ctx) // nothing was exported: no collector is needed
	}
}
