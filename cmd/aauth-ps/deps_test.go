package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The release binary leaves out code the PS never runs, because every
// linked package's pages count in its idle RSS (issue 12): gin's
// MessagePack codec (build tag nomsgpack, in the Makefile's and the
// Dockerfile's builds) and OpenTelemetry's metric and log exporters
// (ps/telemetry/otlp picks the span exporter itself instead of linking
// autoexport).
func TestReleaseBinaryLeavesOutUnusedCodecsAndExporters(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "nomsgpack", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, unwanted := range []string{"github.com/ugorji/go/codec", "go.opentelemetry.io/contrib/exporters/autoexport",
		"go.opentelemetry.io/otel/sdk/metric", "go.opentelemetry.io/otel/sdk/log"} {
		for _, dep := range deps {
			if dep == unwanted || strings.HasPrefix(dep, unwanted+"/") {
				t.Errorf("aauth-ps links %s", dep)
			}
		}
	}
	// Both release builds pass the tag: without it gin links the codec.
	for file, build := range map[string]*regexp.Regexp{
		"../../Makefile":   regexp.MustCompile(`(?m)^BUILD_TAGS\s*:=\s*nomsgpack\s*$[\s\S]*^build:\n\t.*\$\(GO\) build [^\n]*-tags '\$\(BUILD_TAGS\)'[^\n]*\./cmd/aauth-ps$`),
		"../../Dockerfile": regexp.MustCompile(`go build -trimpath -tags nomsgpack \\\n[^\n]*\n[^\n]*\./cmd/aauth-ps`),
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !build.Match(b) {
			t.Errorf("%s: the aauth-ps build does not pass -tags nomsgpack", file)
		}
	}
}
