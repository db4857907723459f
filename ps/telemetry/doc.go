// Package telemetry is the PS's tracing vocabulary (issue 14): Start and
// End for the spans at each step of a request (verify, discovery, decide,
// issue), a slog handler that puts the current trace and span ids on every
// log line written with a traced context, and ContextProvider for
// instrumentation libraries (the gorm plugin).
//
// Spans are made by the tracer provider of the span already in the
// context, never by a global one: the HTTP middleware (ps/server) starts
// the request's span with the provider the App was given, and everything
// under it follows. A context without a span (tracing off, housekeeping)
// makes no spans at all, at the cost of one interface call.
//
// Attributes never carry a token, a key, a secret or a request body:
// identifiers that are public (issuers, routes, mission s256, outcomes)
// only. Errors are recorded by their problem code, not their message.
//
// The SDK and the OTLP exporter live in ps/telemetry/otlp, so the domain
// packages that call Start import the OpenTelemetry API only.
package telemetry
