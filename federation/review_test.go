package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
)

// Security review (branch rev): expected to FAIL until fixed.

// TestReviewClarificationQuestionBounded: an AS's clarification text is
// not bounded by the PS (federation.clarification bounds options but not
// the question). On the agent path Engine.Ask refuses more than
// pending.MaxMarkdown (8 KiB) — after stepAS already stored it in the
// payload and in AgentAsked — and on the person path (StageASQuestion) it
// is stored in the pending payload and rendered as Markdown whatever its
// size, up to the fetcher's 256 KiB body cap, past pending's MaxBytes
// (Engine.Update does not apply it). The PS's own questions are bounded
// at 8 KiB; an AS's should be refused (as_unreachable) beyond the same.
func TestReviewClarificationQuestionBounded(t *testing.T) {
	q := strings.Repeat("Which calendar? ", 200<<10/16)
	body, _ := json.Marshal(map[string]any{"clarification": q})
	if w, err := clarification(body, time.Unix(1_800_000_000, 0)); err == nil {
		t.Fatalf("an AS clarification of %d bytes was accepted (question kept: %d bytes); want it refused beyond 8 KiB", len(q), len(w.Question))
	}
}

type reviewDiscovery struct{}

func (reviewDiscovery) Key(context.Context, string, string, string) (fetch.KeyResult, error) {
	return fetch.KeyResult{}, errors.New("no keys")
}
func (reviewDiscovery) RefreshKey(context.Context, string, string, string) (fetch.KeyResult, error) {
	return fetch.KeyResult{}, errors.New("no keys")
}
func (reviewDiscovery) Metadata(_ context.Context, issuer, _ string) (map[string]any, error) {
	return map[string]any{"issuer": issuer, "auth_token_endpoint": issuer + "/token"}, nil
}

type reviewHTTP struct{ res *fetch.Response }

func (h reviewHTTP) Do(*http.Request) (*fetch.Response, error) { return h.res, nil }

type reviewSigner struct{}

func (reviewSigner) Sign(context.Context, *http.Request, []byte) error { return nil }

// TestReviewASInteractionURLNotAdmitted: an AS's requirement=interaction
// url is checked for shape only (checkInteraction: https, no query or
// fragment), never against the egress policy, then shown to the person as
// a PS redirect (decideAS: Wait.URL?code=…) or passed to the agent. The
// resource's own interaction url is refused unless fetch.Client.Admit
// admits it (authtoken.verify: "not admitted by this person server's
// egress policy"); an AS's url naming a loopback, private or link-local
// address (or a name resolving to one) goes through. Expected: the PS
// applies Admit and answers as_unreachable.
func TestReviewASInteractionURLNotAdmitted(t *testing.T) {
	h := http.Header{}
	h.Set("Location", "https://as.test/token/pending/1")
	h.Set("AAuth-Requirement", `requirement=interaction; url="https://10.0.0.5/admin"; code="ABCD1234"`)
	c := New(Options{Issuer: "https://ps.test", Discovery: reviewDiscovery{}, Signer: reviewSigner{},
		HTTP: reviewHTTP{res: &fetch.Response{StatusCode: http.StatusAccepted, Header: h, Body: []byte(`{"status":"pending"}`)}}})
	out, err := c.Start(context.Background(), &Request{Expect: Expected{AccessServer: "https://as.test"}}, nil)
	if err == nil && out.Wait != nil {
		t.Fatalf("an AS interaction url on a private address was admitted and would be shown/passed on: %+v", out.Wait)
	}
}

type reviewSlowAS struct {
	now   *time.Time
	calls int
}

func (h *reviewSlowAS) Do(*http.Request) (*fetch.Response, error) {
	h.calls++
	*h.now = h.now.Add(4 * time.Second) // each answer takes 4 s (under the fetcher's 5 s)
	hd := http.Header{}
	hd.Set("Location", "https://as.test/token/pending/1")
	hd.Set("AAuth-Requirement", "requirement=claims")
	return &fetch.Response{StatusCode: http.StatusAccepted, Header: hd, Body: []byte(`{"status":"pending","required_claims":["email"]}`)}, nil
}

// TestReviewClaimsLoopIgnoresBudget: Options.Budget "bounds how long one
// Start or Resume keeps polling an AS" (10 s), but a requirement=claims
// answer is followed by the next claims POST at once (loopUntil `continue`)
// without looking at the deadline: an AS that answers every claims POST
// with another requirement=claims, each just under the fetcher's timeout,
// holds the agent's (or, from approveAS, the person's) request for
// maxRounds × 5 s ≈ 160 s. Expected: the loop stops at the budget with a
// Wait, as for approval.
func TestReviewClaimsLoopIgnoresBudget(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	as := &reviewSlowAS{now: &now}
	c := New(Options{Issuer: "https://ps.test", Discovery: reviewDiscovery{}, Signer: reviewSigner{}, HTTP: as,
		Now: func() time.Time { return now }})
	start := now
	_, _ = c.Start(context.Background(), &Request{Expect: Expected{AccessServer: "https://as.test"}}, nil)
	if spent := now.Sub(start); spent > 15*time.Second {
		t.Fatalf("one Start spent %v in %d exchanges with an AS that keeps asking for claims; budget %v", spent, as.calls, c.Budget())
	}
}

// reviewTrustStore is an in-memory Store for Trust.
type reviewTrustStore struct {
	as  map[string]AccessServer
	rel []Release
}

func (s *reviewTrustStore) AccessServer(_ context.Context, issuer string) (*AccessServer, error) {
	a, ok := s.as[issuer]
	if !ok {
		return nil, dberr.ErrNotFound
	}
	return &a, nil
}
func (s *reviewTrustStore) AccessServers(context.Context) ([]AccessServer, error) { return nil, nil }
func (s *reviewTrustStore) SetAccessServer(_ context.Context, a AccessServer) error {
	s.as[a.Issuer] = a
	return nil
}
func (s *reviewTrustStore) SetAccessServerBilling(context.Context, string, string, time.Time) error {
	return nil
}
func (s *reviewTrustStore) ClaimReleases(_ context.Context, personID string) ([]Release, error) {
	var out []Release
	for _, r := range s.rel {
		if r.PersonID == personID {
			out = append(out, r)
		}
	}
	return out, nil
}
func (s *reviewTrustStore) RecordClaimRelease(_ context.Context, personID, as, claim string, at time.Time) error {
	s.rel = append(s.rel, Release{PersonID: personID, AccessServer: as, Claim: claim, ReleasedAt: at})
	return nil
}
func (s *reviewTrustStore) StopClaimRelease(context.Context, string, string, time.Time) error {
	return nil
}
func (s *reviewTrustStore) ResumeClaimRelease(context.Context, string, string) (bool, error) {
	return false, nil
}
func (s *reviewTrustStore) RecordPresentation(context.Context, string, string, string, time.Time) error {
	return nil
}
func (s *reviewTrustStore) Presentations(context.Context, string) ([]string, error) { return nil, nil }

// TestReviewDistrustedASStillReleasedClaims: the operator distrusts an AS
// (`access-servers distrust`): new resource tokens naming it are refused
// (Admit), but Trust.Set keeps its release rule and Offer/Allow/Release
// read the record whatever its status (admitted returns it), and the
// background loop of a request already federated with it (stepAS →
// Client.Resume → release) never asks Trusted again: the person's
// details keep going to the AS the operator just distrusted (and its
// tokens keep being delivered). Expected: nothing is released to, and no
// more is exchanged with, a distrusted AS.
func TestReviewDistrustedASStillReleasedClaims(t *testing.T) {
	ctx := context.Background()
	st := &reviewTrustStore{as: map[string]AccessServer{}}
	tr := NewTrust(st, AllowAny, nil)
	const as = "https://as.test"
	if err := tr.Set(ctx, as, StatusTrusted, []string{"email"}, "op"); err != nil {
		t.Fatal(err)
	}
	have := map[string]any{"email": "alice@example.com"}
	if got, err := tr.Allow(ctx, "p1", as, []string{"email"}, have); err != nil || got["email"] == nil {
		t.Fatalf("the person's yes: %v %v", got, err)
	}
	if err := tr.Set(ctx, as, StatusDistrusted, nil, "op"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Admit(ctx, as); err == nil {
		t.Fatal("a distrusted AS is admitted")
	}
	if got, err := tr.Release(ctx, "p1", as, []string{"email"}, have); err != nil || len(got) != 0 {
		t.Fatalf("claims released to an AS the operator distrusted: %v %v", got, err)
	}
}
