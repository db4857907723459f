package app_test

import (
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
	"github.com/aauth-ps/aauth-ps/ps/telemetry"
)

// TestTracingPersonTokenSpanTree (issue 14, must-show 2): one person-token
// request that is issued at once (standing consent) is one trace: the
// server span "POST /person" with, under it, the request's verification
// (the discovery fetches it needed, each saying whether the cache served
// it), the decision, the issuance, and database calls as children of the
// step that made them. The JSON log lines of that request carry its trace
// id, and no span attribute carries the token, the signature or the agent
// token. On both databases.
func TestTracingPersonTokenSpanTree(t *testing.T) {
	t.Parallel()
	for name, dbURL := range map[string]func(testing.TB) string{"sqlite": storetest.NewMigratedSQLiteURL, "postgres": storetest.NewMigratedPostgresURL} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { _ = tp.Shutdown(ctxT()) })
			var logs syncBuffer
			w, b, _ := missionWorld(t, pstest.Options{DatabaseURL: dbURL(t), Logs: &logs, TracerProvider: tp})

			// The first contact fetched the agent provider's documents:
			// a discovery span that missed the cache.
			if !anySpan(exp.GetSpans(), func(s tracetest.SpanStub) bool {
				return s.Name == "aauth.discovery" && attr(s, telemetry.AttrCacheHit) == "false"
			}) {
				t.Fatalf("no discovery span that missed the cache among %v", names(exp.GetSpans()))
			}

			// A standing consent, then the request under test.
			s := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
			open(t, b, s)
			b.Post(t, s.path()+"/approve", nil)
			if r := w.poll(t, w.agent, s.loc); r.status != 200 {
				t.Fatalf("consent poll: %d %s", r.status, r.raw)
			}
			exp.Reset()
			logStart := len(logs.String())
			r := w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`)
			tok, _ := r.body["person_token"].(string)
			if r.status != 200 || tok == "" {
				t.Fatalf("person token: %d %s", r.status, r.raw)
			}

			spans := exp.GetSpans()
			var roots []tracetest.SpanStub
			for _, s := range spans {
				if !s.Parent.IsValid() {
					roots = append(roots, s)
				}
			}
			if len(roots) != 1 || roots[0].Name != "POST /person" || roots[0].SpanKind != trace.SpanKindServer {
				t.Fatalf("roots %v, want one server span POST /person; spans %v", names(roots), names(spans))
			}
			root := roots[0]
			if got := attr(root, "http.route"); got != "/person" {
				t.Errorf("http.route = %q", got)
			}
			if got := attr(root, "http.response.status_code"); got != "200" {
				t.Errorf("http.response.status_code = %q", got)
			}
			byID := map[trace.SpanID]tracetest.SpanStub{}
			for _, s := range spans {
				if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
					t.Errorf("span %s is in another trace", s.Name)
				}
				byID[s.SpanContext.SpanID()] = s
			}
			parentName := func(s tracetest.SpanStub) string { return byID[s.Parent.SpanID()].Name }
			one := func(name string) tracetest.SpanStub {
				t.Helper()
				var found []tracetest.SpanStub
				for _, s := range spans {
					if s.Name == name {
						found = append(found, s)
					}
				}
				if len(found) != 1 {
					t.Fatalf("%d %q spans, want 1; spans %v", len(found), name, names(spans))
				}
				return found[0]
			}
			verify, decide, issue := one("aauth.verify"), one("aauth.decide"), one("aauth.issue")
			for _, s := range []tracetest.SpanStub{verify, decide} {
				if parentName(s) != "POST /person" {
					t.Errorf("%s under %q, want the request's span", s.Name, parentName(s))
				}
			}
			if p := parentName(issue); p != "POST /person" && p != "db.raw" {
				// Issuance runs in the request's transaction.
				t.Errorf("aauth.issue under %q", p)
			}
			if got := attr(decide, telemetry.AttrDecision); got != "consented" {
				t.Errorf("decision = %q, want consented", got)
			}
			if got := attr(issue, telemetry.AttrTokenType); got != "person" {
				t.Errorf("token type = %q, want person", got)
			}
			// Signed before the issuing transaction, and that very token
			// issued: nothing it was signed from changed (issue 12).
			if got := attr(issue, telemetry.AttrPresigned); got != "true" {
				t.Errorf("presigned = %q, want true", got)
			}
			// The documents were cached by now: every discovery is a hit;
			// the resource's metadata is under the request.
			for _, s := range spans {
				if s.Name != "aauth.discovery" {
					continue
				}
				if attr(s, telemetry.AttrCacheHit) != "true" || attr(s, telemetry.AttrIssuer) == "" {
					t.Errorf("discovery span under %q: cache_hit %q, issuer %q", parentName(s), attr(s, telemetry.AttrCacheHit), attr(s, telemetry.AttrIssuer))
				}
			}
			// No discovery of the agent's keys is required under the
			// verification: the agent token verified on the earlier request
			// is served from httpsig's verified-token cache (issue 12).
			// Database calls are children of the steps that made them: the
			// decision read the consent, the issuance wrote the record.
			children := func(of tracetest.SpanStub, prefix string) int {
				n := 0
				for _, s := range spans {
					if s.Parent.SpanID() == of.SpanContext.SpanID() && strings.HasPrefix(s.Name, prefix) {
						n++
					}
				}
				return n
			}
			if children(decide, "db.") == 0 {
				t.Errorf("no database call under aauth.decide: %v", names(spans))
			}
			if children(issue, "db.insert")+children(issue, "db.raw") == 0 {
				t.Errorf("no database write under aauth.issue: %v", names(spans))
			}
			for _, s := range spans {
				if strings.HasPrefix(s.Name, "db.") && attr(s, "db.query.text") == "" {
					t.Errorf("%s without db.query.text", s.Name)
				}
			}

			// No secrets in attributes: not the token, not the agent token,
			// not a signature.
			secrets := []string{tok, w.agent.Token, "Signature", "sig="}
			for _, s := range spans {
				for _, kv := range s.Attributes {
					for _, sec := range secrets {
						if strings.Contains(kv.Value.String(), sec) {
							t.Errorf("span %s attribute %s carries a secret", s.Name, kv.Key)
						}
					}
				}
			}

			// The log lines of the request carry its trace id.
			traceID := root.SpanContext.TraceID().String()
			var requestLog, issuedLog bool
			var requestLogs syncBuffer
			requestLogs.Write([]byte(logs.String()[logStart:]))
			for _, ev := range logEvents(t, &requestLogs) {
				switch ev["msg"] {
				case "http request":
					requestLog = ev["trace_id"] == traceID && ev["route"] == "/person"
				case "token issued":
					issuedLog = ev["trace_id"] == traceID
				}
				if ev["trace_id"] != nil && ev["trace_id"] != traceID {
					t.Errorf("log line %v from another trace", ev)
				}
			}
			if !requestLog || !issuedLog {
				t.Errorf("the request's log lines lack its trace id %s (request %v, issued %v):\n%s", traceID, requestLog, issuedLog, logs.String()[logStart:])
			}
		})
	}
}

func attr[K ~string](s tracetest.SpanStub, key K) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == string(key) {
			return kv.Value.String()
		}
	}
	return ""
}

func anySpan(spans tracetest.SpanStubs, f func(tracetest.SpanStub) bool) bool {
	for _, s := range spans {
		if f(s) {
			return true
		}
	}
	return false
}

func names(spans []tracetest.SpanStub) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
