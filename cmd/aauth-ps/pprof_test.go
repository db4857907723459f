package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestServePprof: --pprof serves the profiles on its own loopback
// listener and stops with the server's context (issue 12).
func TestServePprof(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addr, err := servePprof(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/allocs?debug=1", "/debug/pprof/goroutine?debug=1"} {
		resp, err := http.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") && !strings.Contains(string(body), "heap") {
			t.Fatalf("GET %s: %d %.200s", p, resp.StatusCode, body)
		}
	}
	cancel()
	client := &http.Client{}
	for range 100 {
		if _, err = client.Get("http://" + addr + "/debug/pprof/"); err != nil {
			break
		}
		client.CloseIdleConnections()
	}
	if err == nil {
		t.Fatal("the pprof listener still answers after the context ended")
	}
}
