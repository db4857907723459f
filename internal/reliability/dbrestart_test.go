package reliability

import (
	"net/http"
	"testing"
	"time"
)

// TestDatabaseRestart (issue 12): PostgreSQL (the test's own cluster) is
// stopped under load and started again. Meanwhile every request is
// answered 503 temporarily_unavailable with Retry-After — never a 401, a
// 404 or a token that was not recorded — and /readyz answers 503; once
// the database is back, /readyz is 200 again and person tokens are issued
// by the same process, which was never restarted. PS-250 (503 with
// Retry-After for a transient failure).
func TestDatabaseRestart(t *testing.T) {
	pg := newCluster(t)
	w := newWorld(t, pg.url())
	p := w.start(t)
	pid := p.cmd.Process.Pid
	alice := w.person(t, p, "alice")
	agents := workers(t, w, p, alice, 2)

	l := startLoad(p, agents, 2, true)
	defer l.cancel()
	l.waitOK(t, 20, time.Minute)
	for range 2 {
		pg.stop(t)
		waitStatus(t, p, http.StatusServiceUnavailable, 30*time.Second)
		_, before, _ := l.counts()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if _, u, _ := l.counts(); u >= before+10 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no 503 under load while the database was down")
			}
		}
		pg.start(t)
		waitStatus(t, p, http.StatusOK, 60*time.Second)
		l.waitOK(t, 20, time.Minute)
	}
	l.stop(t)
	select {
	case <-p.exited:
		t.Fatalf("the PS exited:\n%s", p.logs)
	default:
	}
	if p.cmd.Process.Pid != pid {
		t.Fatal("the PS was restarted")
	}
}

// waitStatus waits until /readyz answers status.
func waitStatus(t *testing.T, p *proc, status int, within time.Duration) {
	t.Helper()
	got := 0
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = p.ready(); got == status {
			return
		}
	}
	t.Fatalf("/readyz answered %d for %v, want %d\n%s", got, within, status, p.logs)
}
