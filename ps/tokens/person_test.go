package tokens_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

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

func setup(t *testing.T, st *store.Store) (*tokens.Service, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	storetest.SeedPersons(t, st, "p1", "p2")
	sealer, err := keys.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	km := keys.NewManager(st, sealer, c.Now, keys.Options{})
	if _, err := km.EnsureActive(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err := tokens.New(tokens.Options{Issuer: "https://ps.example", Signer: km, Store: st, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// PS-077: one directed sub per (person, resource), even when many requests
// for a resource the person never used arrive at once (replicas, a burst
// from one agent): every caller gets the same value.
func TestDirectedSubConcurrentFirstUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := setup(t, st)
		ctx := context.Background()
		const n = 20
		subs := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				subs[i], errs[i] = s.DirectedSub(ctx, "p1", "https://rs.example")
			}()
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if subs[i] == "" || subs[i] != subs[0] {
				t.Fatalf("caller %d got %q, caller 0 got %q", i, subs[i], subs[0])
			}
		}
		if rows := storetest.CountRows(t, st, "pairwise_subjects"); rows != 1 {
			t.Fatalf("%d pairwise rows", rows)
		}
		// PS-078, PS-079: other resources and other persons get other subs.
		other, _ := s.DirectedSub(ctx, "p1", "https://rs2.example")
		p2, _ := s.DirectedSub(ctx, "p2", "https://rs.example")
		if other == subs[0] || p2 == subs[0] || other == p2 {
			t.Fatalf("subs collide: %s %s %s", subs[0], other, p2)
		}
		if id, _ := s.PersonBySub(ctx, "https://rs.example", subs[0]); id != "p1" {
			t.Fatalf("PersonBySub = %q", id)
		}
	})
}

func agentKey(t *testing.T) *jose.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jose.PublicJWK(pub, "")
	if err != nil {
		t.Fatal(err)
	}
	k, err := jose.ParsePublicJWK(jwk, aauth.SupportedAlgs)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// PS-075: exp is the earliest of iat + 1 h, the agent token's exp and the
// mission's expires_at; under 5 s left is refused. PS-259: the issuance
// record outlives exp by the 300 s clock skew, then Purge removes it.
func TestIssueCapsAndRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, c := setup(t, st)
		ctx := context.Background()
		now := c.Now()
		key := agentKey(t)
		base := tokens.PersonTokenRequest{PersonID: "p1", Resource: "https://rs.example", Agent: tokens.Agent{Iss: "https://ap.example",
			Sub: "aauth:a@ap.example", TokenJTI: "at-1", Key: key, TokenExp: now.Add(2 * time.Hour)}}
		mexp := now.Add(90 * time.Second)
		// Issuance reads the mission again in its transaction (issue 8):
		// it must be stored.
		a := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:a@ap.example", PersonID: "p1", Description: "# Caps",
			Resources: []string{"https://rs.example"}, ExpiresAt: &mexp}
		var ms *mission.Record
		if _, err := a.Mint("https://ps.example", now, func(r *mission.Record) error { ms = r; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateMission(ctx, ms); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			edit func(r *tokens.PersonTokenRequest)
			want time.Time
		}{
			{"one hour", func(*tokens.PersonTokenRequest) {}, now.Add(time.Hour)},
			{"agent token", func(r *tokens.PersonTokenRequest) { r.Agent.TokenExp = now.Add(5 * time.Minute) }, now.Add(5 * time.Minute)},
			{"mission", func(r *tokens.PersonTokenRequest) { r.Mission = ms }, mexp},
		}
		for _, tc := range cases {
			r := base
			tc.edit(&r)
			iss, err := s.IssuePersonToken(ctx, r)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if !iss.Exp.Equal(tc.want) {
				t.Fatalf("%s: exp %v, want %v", tc.name, iss.Exp, tc.want)
			}
			tok, err := jose.ParseCompact(iss.Token)
			if err != nil {
				t.Fatal(err)
			}
			if exp, _, _ := tok.NumericDate("exp"); exp != tc.want.Unix() {
				t.Fatalf("%s: exp claim %d", tc.name, exp)
			}
			if _, has := tok.Claims["scope"]; has {
				t.Fatal("scope in a person token (PS-076)")
			}
		}
		r := base
		r.Agent.TokenExp = now.Add(4 * time.Second)
		if _, err := s.IssuePersonToken(ctx, r); !errors.Is(err, tokens.ErrTooShort) {
			t.Fatalf("4 s of validity: %v", err)
		}
		recs, err := s.Records(ctx, "")
		if err != nil || len(recs) != 3 {
			t.Fatalf("records: %d %v", len(recs), err)
		}
		for _, rec := range recs {
			if rec.Aud != "https://rs.example" || rec.CnfThumbprint != key.Thumbprint || rec.AgentTokenJTI != "at-1" || rec.JTI == "" {
				t.Fatalf("record %+v", rec)
			}
		}
		if mr, _ := s.Records(ctx, ms.S256); len(mr) != 1 || !mr[0].Exp.Equal(mexp) {
			t.Fatalf("mission records %+v", mr)
		}
		// The mission token expires first: at exp + 300 s it is kept, one
		// second later it is purged, the others stay.
		c.Add(90*time.Second + tokens.ClockSkew)
		if n, err := s.Purge(ctx); err != nil || n != 0 {
			t.Fatalf("purge at exp+300s: %d %v", n, err)
		}
		c.Add(time.Second)
		if n, err := s.Purge(ctx); err != nil || n != 1 {
			t.Fatalf("purge at exp+301s: %d %v", n, err)
		}
		if recs, _ = s.Records(ctx, ""); len(recs) != 2 {
			t.Fatalf("%d records left", len(recs))
		}
	})
}

// Consent is per (person, agent, resource) and idempotent; the rate-limit
// input counts resources granted in the window (PS-070).
func TestConsentAndNewResources(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, c := setup(t, st)
		ctx := context.Background()
		start := c.Now()
		for _, res := range []string{"https://a.example", "https://b.example", "https://a.example"} {
			if err := s.GrantConsent(ctx, "p1", "https://ap.example", "aauth:a@ap.example", res); err != nil {
				t.Fatal(err)
			}
			c.Add(time.Minute)
		}
		if ok, _ := s.HasConsent(ctx, "p1", "https://ap.example", "aauth:a@ap.example", "https://a.example"); !ok {
			t.Fatal("consent not recorded")
		}
		for _, other := range [][3]string{{"p2", "https://ap.example", "aauth:a@ap.example"}, {"p1", "https://ap.example", "aauth:A@ap.example"}} {
			if ok, _ := s.HasConsent(ctx, other[0], other[1], other[2], "https://a.example"); ok {
				t.Fatalf("consent leaked to %v", other)
			}
		}
		if n, _ := s.NewResourcesSince(ctx, "https://ap.example", "aauth:a@ap.example", start); n != 2 {
			t.Fatalf("new resources = %d, want 2", n)
		}
		if n, _ := s.NewResourcesSince(ctx, "https://ap.example", "aauth:a@ap.example", start.Add(30*time.Second)); n != 1 {
			t.Fatalf("new resources since +30s = %d, want 1", n)
		}
	})
}
