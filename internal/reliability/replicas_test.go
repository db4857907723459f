package reliability

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestReplicas (issue 12): two aauth-ps processes on one PostgreSQL
// database, as behind a load balancer.
//   - A signed request accepted by one is refused as a replay by the other
//     (PS-027: the replay cache is the database's).
//   - A pending request started on one is decided by the person on the
//     other; the first one's (long) poll gets the answer, delivered once:
//     the other's poll afterwards is 410.
//   - A mission proposed on one, approved on the other, is polled on the
//     other; the person tokens it issued are usable on both.
func TestReplicas(t *testing.T) {
	db := storetest.NewPostgresURL(t)
	w := newWorld(t, db)
	one, two := w.start(t), w.start(t)
	alice := w.person(t, one, "alice")
	aliceTwo := two.browser(t, alice)
	a, err := w.ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a1@ap.test"})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, one, alice, a)

	t.Run("a signature used on one replica is a replay on the other", func(t *testing.T) {
		body := []byte(`{"resource":"` + rsIssuer + `","replay":1}`)
		req := a.NewRequest(http.MethodPost, issuer+"/person", body)
		if _, err := a.Sign(req, body); err != nil {
			t.Fatal(err)
		}
		again := a.NewRequest(http.MethodPost, issuer+"/person", body)
		again.Header = req.Header.Clone() // the same bytes, signature and all
		first, err := do(one.Client, req)
		if err != nil || first.status == http.StatusUnauthorized {
			t.Fatalf("first use on replica one: %v %v", first, err)
		}
		replay, err := do(two.Client, again)
		if err != nil {
			t.Fatal(err)
		}
		if replay.status != http.StatusUnauthorized || replay.body["error"] != string(aauth.SigInvalidSignature) ||
			replay.header.Get(aauth.HeaderSignatureError) == "" {
			t.Fatalf("the replay on replica two: %s %v, want 401 invalid_signature", replay, replay.header)
		}
	})

	t.Run("a pending request started on one completes on the other", func(t *testing.T) {
		s := interaction(t, must(t, one.Client, a, http.MethodPost, issuer+"/person", `{"resource":"`+rsIssuer+`","capabilities":["interaction"]}`))
		held := make(chan answer, 1)
		go func() {
			r, err := poll(t.Context(), one.Client, a, s.loc)
			if err != nil {
				r = answer{status: -1, raw: []byte(err.Error())}
			}
			held <- r
		}()
		decide(t, aliceTwo, s, "approve")
		var r answer
		for r = <-held; r.status == http.StatusAccepted; {
			r = pollDone(t, one.Client, a, s.loc)
		}
		if r.status != http.StatusOK || r.body["person_token"] == nil {
			t.Fatalf("the poll on replica one after the decision on two: %s", r)
		}
		if r := pollDone(t, two.Client, a, s.loc); r.status != http.StatusGone {
			t.Fatalf("a poll on replica two after delivery: %s, want 410", r)
		}
	})

	t.Run("a mission proposed on one is approved and polled on the other", func(t *testing.T) {
		s := propose(t, one, a, "Across replicas")
		decide(t, aliceTwo, s, "approve")
		m := approval(t, pollDone(t, two.Client, a, s.loc))
		if r := pollDone(t, one.Client, a, s.loc); r.status != http.StatusGone {
			t.Fatalf("a poll on replica one after delivery: %s, want 410", r)
		}
		for i, p := range []*proc{one, two} {
			r := must(t, p.Client, a, http.MethodPost, issuer+"/person",
				`{"resource":"`+rsIssuer+`","mission_s256":"`+m.s256+`","replica":`+strconv.Itoa(i)+`}`)
			if r.status != http.StatusOK || r.body["person_token"] == nil {
				t.Fatalf("a person token within the mission on %s: %s", p.addr, r)
			}
		}
	})
}
