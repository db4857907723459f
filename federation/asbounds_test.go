package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
)

// What an AS may make the PS do, bounded (review findings 4, 9, 10, 11).

// scriptedAS answers each exchange with the next response (the last one
// again once they run out), taking step of the clock each time.
type scriptedAS struct {
	now   *time.Time
	step  time.Duration
	res   []*fetch.Response
	calls []string
}

func (h *scriptedAS) Do(r *http.Request) (*fetch.Response, error) {
	h.calls = append(h.calls, r.Method)
	if h.now != nil {
		*h.now = h.now.Add(h.step)
	}
	return h.res[min(len(h.calls), len(h.res))-1], nil
}

func pendingRes(requirement, body string) *fetch.Response {
	h := http.Header{}
	h.Set("Location", "https://as.test/token/pending/1")
	h.Set("Retry-After", "0")
	h.Set("AAuth-Requirement", requirement)
	return &fetch.Response{StatusCode: http.StatusAccepted, Header: h, Body: []byte(body)}
}

type admitFunc func(ctx context.Context, rawURL string) error

func (f admitFunc) Admit(ctx context.Context, rawURL string) error { return f(ctx, rawURL) }

// admittingAS is an HTTP that is also an Admitter (as *fetch.Client is).
type admittingAS struct {
	*scriptedAS
	admitFunc
}

// reviewDiscovery and reviewSigner (as_review_test.go) serve as the AS's
// metadata and the PS's signer.

func start(c *Client) (*Outcome, error) {
	return c.Start(context.Background(), &Request{Expect: Expected{AccessServer: "https://as.test"}}, nil)
}

// TestASInteractionURLEgress: an AS's interaction url is shown to the
// person or passed to the agent only when the egress policy admits it
// (PS-REQUIREMENTS §2.6, PS-125): Options.Admit when given, else the
// HTTP client's own Admit, else the production policy; a refusal is
// 502 as_unreachable.
func TestASInteractionURLEgress(t *testing.T) {
	interaction := func(u string) *fetch.Response {
		return pendingRes(`requirement=interaction; url="`+u+`"; code="ABCD1234"`, `{"status":"pending"}`)
	}
	var asked []string
	admit := admitFunc(func(_ context.Context, u string) error {
		asked = append(asked, u)
		if strings.Contains(u, "private") {
			return fetch.ErrEgressDenied
		}
		return nil
	})
	for name, tc := range map[string]struct {
		o  Options
		ok bool
	}{
		"option admits":        {Options{HTTP: &scriptedAS{res: []*fetch.Response{interaction("https://as.test/i")}}, Admit: admit}, true},
		"option refuses":       {Options{HTTP: &scriptedAS{res: []*fetch.Response{interaction("https://private.as.test/i")}}, Admit: admit}, false},
		"client's own refuses": {Options{HTTP: admittingAS{&scriptedAS{res: []*fetch.Response{interaction("https://private.as.test/i")}}, admit}}, false},
		"client's own admits":  {Options{HTTP: admittingAS{&scriptedAS{res: []*fetch.Response{interaction("https://as.test/i")}}, admit}}, true},
		"default: loopback":    {Options{HTTP: &scriptedAS{res: []*fetch.Response{interaction("https://127.0.0.1/i")}}}, false},
		"default: link-local":  {Options{HTTP: &scriptedAS{res: []*fetch.Response{interaction("https://[fe80::1]/i")}}}, false},
		"default: metadata":    {Options{HTTP: &scriptedAS{res: []*fetch.Response{interaction("https://169.254.169.254/i")}}}, false},
		"default: public":      {Options{HTTP: &scriptedAS{res: []*fetch.Response{interaction("https://93.184.215.14/i")}}}, true},
	} {
		o := tc.o
		o.Issuer, o.Discovery, o.Signer = "https://ps.test", reviewDiscovery{}, reviewSigner{}
		out, err := start(New(o))
		if tc.ok != (err == nil) {
			t.Errorf("%s: %+v %v", name, out, err)
			continue
		}
		if !tc.ok && !isUnreachable(err) {
			t.Errorf("%s: want as_unreachable, got %v", name, err)
		}
		if tc.ok && (out.Wait == nil || out.Wait.URL == "") {
			t.Errorf("%s: no interaction wait: %+v", name, out)
		}
	}
	if len(asked) != 4 {
		t.Fatalf("the admit check was asked %d times, want 4: %v", len(asked), asked)
	}
}

func isUnreachable(err error) bool {
	var p *aauth.Problem
	return errors.As(err, &p) && p.Code == aauth.ErrASUnreachable && p.Status == http.StatusBadGateway
}

// TestClaimsRoundsWithinBudget: claims rounds count against the budget
// like polls (PS-124, PS-127): an AS that keeps asking stops the loop at
// the budget with a pending Wait on its Location, the next Resume meets
// the claims again; one that grants after a claims round still delivers
// within it (here as as_unreachable, the fake AS's token being no token).
func TestClaimsRoundsWithinBudget(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	claims := pendingRes("requirement=claims", `{"status":"pending","required_claims":["email"]}`)
	as := &scriptedAS{now: &now, step: 3 * time.Second, res: []*fetch.Response{claims}}
	c := New(Options{Issuer: "https://ps.test", Discovery: reviewDiscovery{}, Signer: reviewSigner{}, HTTP: as, Now: func() time.Time { return now }})
	begin := now
	out, err := start(c)
	if err != nil || out.Wait == nil || out.Wait.Requirement != WaitPending || out.Wait.Location != "https://as.test/token/pending/1" {
		t.Fatalf("want a pending wait at the budget: %+v %v", out, err)
	}
	// POST at 0 (3 s), claims at 3, 6, 9 (< 10 s), stopped at 12.
	if spent := now.Sub(begin); spent > c.Budget()+as.step || len(as.calls) != 4 {
		t.Fatalf("spent %v in %d exchanges (%v); budget %v", spent, len(as.calls), as.calls, c.Budget())
	}
	// The next Resume polls, meets the claims and posts them within its
	// own budget.
	as.calls = nil
	if out, err := c.Resume(context.Background(), &Request{Expect: Expected{AccessServer: "https://as.test"}}, out.Wait.Location, nil); err != nil || out.Wait == nil {
		t.Fatalf("resume: %+v %v", out, err)
	}
	if len(as.calls) < 2 || as.calls[0] != http.MethodGet || as.calls[1] != http.MethodPost {
		t.Fatalf("resume exchanges %v, want a poll then claims", as.calls)
	}
	// Claims then a grant: followed at once.
	granted := &fetch.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: []byte(`{"auth_token":"x"}`)}
	as2 := &scriptedAS{now: &now, step: time.Second, res: []*fetch.Response{claims, granted}}
	c2 := New(Options{Issuer: "https://ps.test", Discovery: reviewDiscovery{}, Signer: reviewSigner{}, HTTP: as2, Now: func() time.Time { return now }})
	if _, err := start(c2); !isUnreachable(err) || len(as2.calls) != 2 {
		t.Fatalf("claims then grant: %v after %v", err, as2.calls)
	}
}

// TestClarificationQuestionBounds: an AS's question is kept only as the
// PS's own would be (8 KiB of text without NUL, PS-126); options without
// NUL; anything else is refused (the caller answers as_unreachable).
func TestClarificationQuestionBounds(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := func(m map[string]any) []byte { b, _ := json.Marshal(m); return b }
	if w, err := clarification(body(map[string]any{"clarification": strings.Repeat("q", maxQuestionBytes)}), now); err != nil || len(w.Question) != maxQuestionBytes {
		t.Fatalf("a question of exactly %d bytes: %v", maxQuestionBytes, err)
	}
	for name, b := range map[string][]byte{
		"one byte over": body(map[string]any{"clarification": strings.Repeat("q", maxQuestionBytes+1)}),
		"NUL":           []byte(`{"clarification":"Which\u0000 calendar?"}`),
		"NUL option":    []byte(`{"clarification":"Which?","options":["a\u0000"]}`),
	} {
		if w, err := clarification(b, now); err == nil {
			t.Errorf("%s accepted (%d bytes)", name, len(w.Question))
		}
	}
}

// TestDistrustedASReceivesNothing: whatever the person chose, an AS the
// policy refuses (distrusted; under allow-list, not trusted) is offered,
// allowed and released nothing, and no choice is recorded for it; the
// operator's release rule comes back with a later trust (PS-124,
// docs/federation.md Operators).
func TestDistrustedASReceivesNothing(t *testing.T) {
	ctx := context.Background()
	const as = "https://as.test"
	have := map[string]any{"email": "alice@example.com", "name": "Alice"}
	for _, policy := range []Policy{AllowAny, AllowList} {
		st := &reviewTrustStore{as: map[string]AccessServer{}} // as_review_test.go's in-memory Store
		tr := NewTrust(st, policy, nil)
		if err := tr.Set(ctx, as, StatusTrusted, []string{"email"}, "op"); err != nil {
			t.Fatal(err)
		}
		if got, err := tr.Allow(ctx, "p1", as, []string{"email"}, have); err != nil || got["email"] == nil {
			t.Fatalf("%s: the person's yes: %v %v", policy, got, err)
		}
		refused := []Status{StatusDistrusted}
		if policy == AllowList {
			refused = append(refused, StatusSeen)
		}
		for _, status := range refused {
			if err := tr.Set(ctx, as, status, nil, "op"); err != nil {
				t.Fatal(err)
			}
			n := len(st.rel)
			offer, err1 := tr.Offer(ctx, as, []string{"email"}, have)
			allow, err2 := tr.Allow(ctx, "p2", as, []string{"email"}, have)
			release, err3 := tr.Release(ctx, "p1", as, []string{"email"}, have)
			if len(offer)+len(allow)+len(release) != 0 || errors.Join(err1, err2, err3) != nil || len(st.rel) != n {
				t.Fatalf("%s, %s: offer %v allow %v release %v (%v %v %v), %d releases recorded",
					policy, status, offer, allow, release, err1, err2, err3, len(st.rel)-n)
			}
		}
		if err := tr.Set(ctx, as, StatusTrusted, nil, "op"); err != nil {
			t.Fatal(err)
		}
		if got, err := tr.Release(ctx, "p1", as, []string{"email"}, have); err != nil || got["email"] == nil {
			t.Fatalf("%s: trusted again, the rule and the person's yes hold again: %v %v", policy, got, err)
		}
	}
}
