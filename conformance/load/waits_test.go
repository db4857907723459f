package load

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestScrapeWaitsReportsTheSQLiteWAL (issue 12, finding 61): a phase's
// waits carry the WAL restarts during the phase and the WAL's length at
// its end, as the PS's /metrics gives them; on PostgreSQL (no such
// series) the summary says nothing of a WAL.
func TestScrapeWaitsReportsTheSQLiteWAL(t *testing.T) {
	var restarts, frames int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# HELP aauth_ps_store_sqlite_wal_frames x\naauth_ps_store_writer_turns_total 10\n"+
			"aauth_ps_store_sqlite_wal_restarts_total %d\naauth_ps_store_sqlite_wal_frames %d\n", restarts, frames)
	}))
	defer srv.Close()
	target := &Target{Issuer: srv.URL, Client: srv.Client()}
	ctx := context.Background()
	restarts, frames = 2, 60000
	before := target.ScrapeWaits(ctx)
	restarts, frames = 5, 1200
	after := target.ScrapeWaits(ctx)
	if before == nil || after == nil {
		t.Fatal("scrape failed")
	}
	phase := after.Sub(before)
	if phase.WALRestarts != 3 || phase.WALFrames != 1200 {
		t.Fatalf("restarts %d, frames %d: want 3 and the later reading, 1200", phase.WALRestarts, phase.WALFrames)
	}
	if got := phase.Summary(100, 0, 0); !strings.Contains(got, "the WAL started over 3 times (1200 pages at the last checkpoint)") {
		t.Fatalf("summary: %s", got)
	}
	if got := (&Waits{ServerTime: time.Second, Requests: 10}).Summary(100, 0, 0); strings.Contains(got, "WAL") {
		t.Fatalf("a PS without the series: %s", got)
	}
}
