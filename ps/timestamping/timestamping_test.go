package timestamping_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/internal/tsatest"
	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
	"github.com/aauth-ps/aauth-ps/ps/timestamping"
)

// replica is one PS process's anchoring on the shared database, asking
// the TSA at url.
func replica(t *testing.T, st *store.Store, srv *httptest.Server, now func() time.Time) *timestamping.Service {
	t.Helper()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	c, err := fetch.New(fetch.Config{EgressAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, RootCAs: pool,
		Timeout: timestamping.RequestTimeout, MaxBytes: timestamping.MaxResponseBytes})
	if err != nil {
		t.Fatal(err)
	}
	s, err := timestamping.New(timestamping.Options{URL: srv.URL + "/tsr", HTTP: c, DB: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signedHead writes a mission, a record and a signed head over it, the
// head queued by s in the same transaction; it returns the head.
func signedHead(t *testing.T, st *store.Store, s *timestamping.Service, at time.Time) evidence.Stored {
	t.Helper()
	ctx := t.Context()
	storetest.SeedPersons(t, st, "p1")
	a := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:A@ap.example", PersonID: "p1", Description: "# Stamp"}
	m, err := a.Mint("https://ps.example", at, func(r *mission.Record) error { return st.CreateMission(ctx, r) })
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	var head evidence.Stored
	err = st.InTx(ctx, func(tx *store.Store) error {
		rec, err := evidence.Append(nil, m.S256, evidence.Record{Mission: evidence.MissionRef{Origin: "https://ps.example", ID: m.S256},
			Type: evidence.MissionActivated, Actor: evidence.Actor{Kind: "ps"}}, at)
		if err != nil {
			return err
		}
		if head, err = evidence.SignHead(rec, evidence.JWSSigner{Alg: "Ed25519", Kid: "k", Key: priv}, evidence.Actor{Kind: "ps"}, at); err != nil {
			return err
		}
		for _, r := range []evidence.Stored{rec, head} {
			if err := tx.InsertEvidence(ctx, m.S256, r); err != nil {
				return err
			}
		}
		return s.Queue(ctx, tx, m.S256, head)
	})
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// TestReplicasAskOnceAndBadAnswersStoreNothing (design §7, Level 4): two
// replicas sweeping one database at once ask a slow TSA once for a head
// (the claim keeps the other off) and store one token; an answer larger
// than a time-stamp reply needs, or an error status, stores nothing and
// leaves the head due again after the back-off — on both databases.
func TestReplicasAskOnceAndBadAnswersStoreNothing(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		a, err := tsatest.New()
		if err != nil {
			t.Fatal(err)
		}
		var asked atomic.Int32
		var mode atomic.Value
		mode.Store("slow")
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			asked.Add(1)
			switch mode.Load() {
			case "huge":
				_, _ = w.Write(make([]byte, timestamping.MaxResponseBytes+1))
				return
			case "error":
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			time.Sleep(200 * time.Millisecond) // both replicas are sweeping meanwhile
			a.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		st := storetest.OpenURL(t, db, false)
		now := time.Now()
		clock := func() time.Time { return now }
		r1, r2 := replica(t, st, srv, clock), replica(t, st, srv, clock)
		// Queued but not asked at its commit: mode "huge" answers the kick,
		// then the sweeps.
		mode.Store("huge")
		head := signedHead(t, st, r1, now)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		r1.WaitIdle(ctx)
		if got, _ := st.Timestamps(t.Context(), head.Record.Chain); len(got) != 0 || asked.Load() != 1 {
			t.Fatalf("an oversized answer: %d tokens stored, %d requests", len(got), asked.Load())
		}
		if n, err := r1.AnchorDue(t.Context()); n != 0 || err != nil {
			t.Fatalf("a sweep within the back-off: %d %v", n, err)
		}
		now = now.Add(time.Minute)
		mode.Store("error")
		if n, err := r2.AnchorDue(t.Context()); n != 0 || err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("an error status: %d %v", n, err)
		}
		now = now.Add(2 * time.Minute)
		mode.Store("slow")
		asked.Store(0)
		var wg sync.WaitGroup
		var anchored atomic.Int32
		for _, r := range []*timestamping.Service{r1, r2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := r.AnchorDue(t.Context())
				if err != nil {
					t.Error(err)
				}
				anchored.Add(int32(n))
			}()
		}
		wg.Wait()
		got, err := st.Timestamps(t.Context(), head.Record.Chain)
		if err != nil || len(got) != 1 || got[0].Seq != head.Record.Seq || anchored.Load() != 1 || asked.Load() != 1 {
			t.Fatalf("two replicas: %d tokens (%v), %d anchored, the TSA asked %d times; want 1, 1, 1", len(got), err, anchored.Load(), asked.Load())
		}
	})
}
