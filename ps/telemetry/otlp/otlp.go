// Package otlp turns the standard OTEL_* environment variables into the
// PS's tracer provider (issue 14): the OpenTelemetry SDK with the span
// exporter the specification's variables pick (OTLP over HTTP/protobuf by
// default, gRPC with OTEL_EXPORTER_OTLP_PROTOCOL=grpc or
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc, console with
// OTEL_TRACES_EXPORTER=console), as contrib's autoexport picks it.
//
// autoexport itself is not used: it links the metric and log exporters
// and the Prometheus bridge too, which the PS never starts, and every
// linked page counts in its idle RSS (1.3 MB of the binary; docs/decisions.md,
// issue 12).
//
// Tracing is off unless the environment asks for it: OTEL_TRACES_EXPORTER
// (other than "none") or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, and OTEL_SDK_DISABLED is not
// "true". The sampler (OTEL_TRACES_SAMPLER), the batch span processor
// (OTEL_BSP_*), the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES)
// and the exporter's own variables are read by the SDK as documented.
package otlp

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// Enabled reports whether the environment asks for traces.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	if e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e != "" {
		return e != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// FromEnv returns the tracer provider the environment configures, or nil
// when tracing is off. The caller must Shutdown a non-nil provider (it
// flushes the spans still queued).
func FromEnv(ctx context.Context, getenv func(string) string, serviceVersion string) (*sdktrace.TracerProvider, error) {
	if !Enabled(getenv) {
		return nil, nil
	}
	exp, err := spanExporter(ctx, getenv)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry trace exporter: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (WithFromEnv, last)
	// win over the PS's own defaults.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithAttributes(semconv.ServiceName("aauth-ps"), semconv.ServiceVersion(serviceVersion)),
		resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// spanExporter is the exporter OTEL_TRACES_EXPORTER names (otlp when
// unset; Enabled has already ruled out "none"), over the protocol
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or else OTEL_EXPORTER_OTLP_PROTOCOL
// names (http/protobuf when unset). The exporters read their endpoint,
// headers, timeout and TLS variables themselves.
func spanExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	switch name := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); name {
	case "", "otlp":
		proto := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
		if proto == "" {
			proto = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
		}
		switch proto {
		case "", "http/protobuf":
			return otlptracehttp.New(ctx)
		case "grpc":
			return otlptracegrpc.New(ctx)
		default:
			return nil, fmt.Errorf("OTLP protocol %q: want grpc or http/protobuf", proto)
		}
	case "console":
		return stdouttrace.New()
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER %q: want otlp, console or none", name)
	}
}
