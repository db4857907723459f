package missionflow_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// clock is a fake instant tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const issuer = "https://ps.example"

// setup builds a Service on st with a frozen clock and one person row
// (missions reference persons).
func setup(t *testing.T, st *store.Store) (*missionflow.Service, *clock) {
	t.Helper()
	c := &clock{t: time.UnixMilli(1_800_000_000_123).UTC()}
	storetest.SeedPersons(t, st, "p1", "p2")
	s, err := missionflow.New(missionflow.Options{Issuer: issuer, Store: st, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func approval() mission.Approval {
	return mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:Assistant@ap.example", PersonID: "p1",
		Description: "# Trip\n\nBook it.", Tools: []mission.Tool{{Name: "WebSearch"}}, Resources: []string{"https://rs.example"},
		Capabilities: []string{"interaction"}}
}

// A-47, PS-189: two identical approvals at the same instant get approved_at
// values 1 ms apart, hence different s256; the stored bytes are the bytes
// hashed and parse back to the approval.
func TestCreateBumpsApprovedAtOnCollision(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, c := setup(t, st)
		ctx := context.Background()
		m1, err := s.Create(ctx, approval())
		if err != nil {
			t.Fatal(err)
		}
		m2, err := s.Create(ctx, approval())
		if err != nil {
			t.Fatal(err)
		}
		m3, err := s.Create(ctx, approval())
		if err != nil {
			t.Fatal(err)
		}
		if m1.S256 == m2.S256 || m2.S256 == m3.S256 || m1.S256 == m3.S256 {
			t.Fatal("identical approvals at one instant share an s256")
		}
		if d := m2.ApprovedAt.Sub(m1.ApprovedAt); d != time.Millisecond {
			t.Fatalf("second approved_at is %v after the first, want 1ms", d)
		}
		if d := m3.ApprovedAt.Sub(m1.ApprovedAt); d != 2*time.Millisecond {
			t.Fatalf("third approved_at is %v after the first, want 2ms", d)
		}
		b1, _ := m1.Parsed()
		b2, _ := m2.Parsed()
		if b1.ApprovedAt != mission.FormatTime(c.Now()) || b2.ApprovedAt != mission.FormatTime(c.Now().Add(time.Millisecond)) {
			t.Fatalf("approved_at %s / %s", b1.ApprovedAt, b2.ApprovedAt)
		}
		for _, m := range []*mission.Record{m1, m2, m3} {
			got, err := s.Get(ctx, m.S256)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Blob) != string(m.Blob) || mission.S256(got.Blob) != m.S256 {
				t.Fatal("the stored bytes are not the hashed bytes (PS-188)")
			}
			b, _ := got.Parsed()
			if b.Approver != issuer || b.Agent != "aauth:Assistant@ap.example" || len(b.ApprovedResources) != 1 {
				t.Fatalf("blob %s", got.Blob)
			}
		}
	})
}

// Ownership is checked in the same query as existence: another
// agent's mission is exactly as absent as an unknown one, and only the
// owner sees the state.
func TestOwnedAndActive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := setup(t, st)
		ctx := context.Background()
		m, err := s.Create(ctx, approval())
		if err != nil {
			t.Fatal(err)
		}
		for _, who := range [][2]string{
			{"https://ap.example", "aauth:assistant@ap.example"}, // case differs: another agent (PS-255)
			{"https://ap2.example", "aauth:Assistant@ap.example"},
		} {
			if _, err := s.Owned(ctx, m.S256, who[0], who[1]); !errors.Is(err, missionflow.ErrNotFound) {
				t.Fatalf("%v: %v", who, err)
			}
			_, err := s.Active(ctx, m.S256, who[0], who[1])
			if p, ok := aauth.AsProblem(err); !ok || p.Status != http.StatusNotFound || p.Code != aauth.ErrMissionNotFound {
				t.Fatalf("%v: %v", who, err)
			}
		}
		if _, err := s.Active(ctx, m.S256, "https://ap.example", "aauth:Assistant@ap.example"); err != nil {
			t.Fatal(err)
		}
	})
}

// A terminated mission never returns to active, and a second termination
// keeps the first reason (P§mission-management); one termination entry is
// logged.
func TestTerminateIsOneWay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, c := setup(t, st)
		ctx := context.Background()
		m, err := s.Create(ctx, approval())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Terminate(ctx, m.S256, mission.ReasonRevoked, "person"); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Second)
		for _, r := range []mission.Reason{mission.ReasonCompleted, mission.ReasonSuperseded, mission.ReasonExpired} {
			if err := s.Terminate(ctx, m.S256, r, "admin"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Get(ctx, m.S256)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Terminated || got.Reason != mission.ReasonRevoked || got.EndedBy != "person" || got.EndedAt == nil {
			t.Fatalf("after re-termination: %+v", got)
		}
		_, err = s.Active(ctx, m.S256, m.AgentIss, m.AgentSub)
		p, ok := aauth.AsProblem(err)
		if !ok || p.Status != http.StatusForbidden || p.Code != aauth.ErrMissionTerminated || p.Extra["termination_reason"] != "revoked" ||
			p.Extra["mission_status"] != "terminated" {
			t.Fatalf("Active on a revoked mission: %v", err)
		}
		// The only write path back to 'active' does not exist; the CHECK
		// constraint and the WHERE state = 'active' guard make re-activation
		// by Terminate impossible.
		es, err := s.Entries(ctx, m.S256)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range es {
			if e.Kind == "termination" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d termination entries, want 1", n)
		}
	})
}

// A-39, PS-211: expiry needs no background job; the first observation
// records reason expired, which a later revocation does not overwrite. A
// mission with under 5 s left already counts as expired.
func TestExpiryIsObservedAndRecorded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, c := setup(t, st)
		ctx := context.Background()
		a := approval()
		exp := c.Now().Add(time.Hour).Truncate(time.Second)
		a.ExpiresAt = &exp
		m, err := s.Create(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := m.Parsed(); b.ExpiresAt != mission.FormatTime(exp) {
			t.Fatalf("expires_at %q", b.ExpiresAt)
		}
		c.Add(time.Hour - 10*time.Second)
		if _, err := s.Active(ctx, m.S256, m.AgentIss, m.AgentSub); err != nil {
			t.Fatalf("10 s before expiry: %v", err)
		}
		c.Add(6 * time.Second)
		_, err = s.Active(ctx, m.S256, m.AgentIss, m.AgentSub)
		if p, ok := aauth.AsProblem(err); !ok || p.Code != aauth.ErrMissionTerminated || p.Extra["termination_reason"] != "expired" {
			t.Fatalf("4 s before expiry: %v", err)
		}
		got, _ := s.Get(ctx, m.S256)
		if !got.Terminated || got.Reason != mission.ReasonExpired || got.EndedBy != "ps" {
			t.Fatalf("expiry not recorded: %+v", got)
		}
		_ = s.Terminate(ctx, m.S256, mission.ReasonRevoked, "person")
		if got, _ = s.Get(ctx, m.S256); got.Reason != mission.ReasonExpired {
			t.Fatalf("reason became %s", got.Reason)
		}
	})
}

// The mission log is ordered: concurrent appends (several replicas, or
// one busy agent) get distinct, gap-free sequence numbers.
func TestLogSequenceUnderConcurrentAppends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := setup(t, st)
		ctx := context.Background()
		m, err := s.Create(ctx, approval())
		if err != nil {
			t.Fatal(err)
		}
		const workers, each = 20, 3
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					body := []byte(fmt.Sprintf(`{"action":"update","description":"w%d-%d"}`, w, i))
					if err := s.Log(ctx, m.S256, mission.Entry{Kind: "update", Actor: "agent", Summary: "u", Body: body}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("append: %v", err)
		}
		es, err := s.Entries(ctx, m.S256)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != workers*each {
			t.Fatalf("%d entries, want %d", len(es), workers*each)
		}
		for i, e := range es {
			if e.Seq != int64(i+1) {
				t.Fatalf("entry %d has seq %d", i, e.Seq)
			}
			if e.Digest != mission.S256(e.Body) {
				t.Fatalf("entry %d digest %s is not the s256 of its body", i, e.Digest)
			}
		}
		ups, _ := s.Updates(ctx, m.S256)
		if len(ups) != workers*each {
			t.Fatalf("%d updates", len(ups))
		}
	})
}

// A mission past expires_at has ended as expired even when nothing
// observed it yet: a later revocation or administrative
// termination must not record another reason, so mission control never
// reports "expired" first and "revoked" after.
func TestTerminateAfterUnobservedExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, c := setup(t, st)
		ctx := context.Background()
		a := approval()
		exp := c.Now().Add(time.Hour).Truncate(time.Second)
		a.ExpiresAt = &exp
		m, err := s.Create(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		c.Add(2 * time.Hour)
		if err := s.Terminate(ctx, m.S256, mission.ReasonRevoked, "person"); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Get(ctx, m.S256)
		if !got.Terminated || got.Reason != mission.ReasonExpired {
			t.Fatalf("revoking an expired mission recorded %q, want expired", got.Reason)
		}
	})
}
