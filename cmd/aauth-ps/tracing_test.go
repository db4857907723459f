package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// otlpCollector is an OTLP/HTTP trace receiver on loopback: it keeps the
// spans it is sent, with their resource's service.name.
type otlpCollector struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	service []string
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err != nil || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				c.service = append(c.service, kv.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	c.mu.Unlock()
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// TestServeExportsTracesOverOTLP (issue 14): with only the standard
// OTEL_EXPORTER_OTLP_ENDPOINT set, `aauth-ps serve` exports each request's
// trace over OTLP/HTTP to that collector (flushed when it stops), as the
// service aauth-ps; the JSON log line of that request carries the
// exported span's trace id. Without OTEL_* the same serve sends nothing.
func TestServeExportsTracesOverOTLP(t *testing.T) {
	var col otlpCollector
	srv := httptest.NewServer(&col)
	defer srv.Close()
	db := storetest.NewMigratedSQLiteURL(t)
	const route = "/.well-known/aauth-person.json"

	// Off by default: no OTEL_* variable, nothing exported.
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"} {
		t.Setenv(k, "")
	}
	request := func(errb *syncBuffer) {
		t.Helper()
		resp, err := http.Get("http://" + listenAddr(t, errb.String()) + route)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", route, resp.StatusCode)
		}
	}
	_, errb, stop := startServe(t, db, os.Getenv)
	request(errb)
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, errb.String())
	}
	col.mu.Lock()
	exported := len(col.spans)
	col.mu.Unlock()
	if exported != 0 || strings.Contains(errb.String(), "OpenTelemetry tracing on") {
		t.Fatalf("serve traced without OTEL_* set: %d spans", exported)
	}

	// autoexport reads the process environment; serve's getenv is it.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	_, errb, stop = startServe(t, db, os.Getenv)
	if !strings.Contains(errb.String(), "OpenTelemetry tracing on") {
		t.Fatalf("serve does not say tracing is on:\n%s", errb.String())
	}
	request(errb)
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, errb.String())
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	var served *tracepb.Span
	for _, s := range col.spans {
		if s.GetName() == "GET "+route && s.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
			served = s
		}
	}
	if served == nil {
		t.Fatalf("the collector got no server span for GET %s (%d spans)", route, len(col.spans))
	}
	for _, name := range col.service {
		if name != "aauth-ps" {
			t.Errorf("service.name %q, want aauth-ps", name)
		}
	}
	if len(col.service) == 0 {
		t.Error("no service.name in the exported resource")
	}
	traceID := hex.EncodeToString(served.GetTraceId())
	found := false
	sc := bufio.NewScanner(strings.NewReader(errb.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "http request" && line["route"] == route {
			found = line["trace_id"] == traceID
		}
	}
	if !found {
		t.Errorf("the request's log line does not carry the exported trace id %s:\n%s", traceID, errb.String())
	}
}

// listenAddr is the address serve logged it listens on.
func listenAddr(t *testing.T, logs string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line struct {
			Msg    string `json:"msg"`
			Listen string `json:"listen"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "aauth-ps listening" {
			return line.Listen
		}
	}
	t.Fatalf("serve did not log its address:\n%s", logs)
	return ""
}
