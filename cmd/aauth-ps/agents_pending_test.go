package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// movedClock is the running PS's clock, moved ahead between polls so
// that no poll is slow_down.
type movedClock struct{ off atomic.Int64 }

func (c *movedClock) Now() time.Time               { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *movedClock) advance(d time.Duration)      { c.off.Add(int64(d)) }
func (c *movedClock) offset() time.Duration        { return time.Duration(c.off.Load()) }
func (c *movedClock) sign() conformance.SignOption { return conformance.WithCreatedOffset(c.offset()) }

// agentAnswer is an answer to a signed agent request, read in full.
type agentAnswer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// TestAgentsRevokeEndsPendingRequests: A-40 (c), PS-112, PS-154, PS-165
// through the operator's command. A running PS holds two requests of the
// agent for alice: a question she connected the agent from, and a
// person-token request awaiting her consent, both open on her pages.
// `aauth-ps agents revoke alice BINDING`, its own process on the PS's
// database, ends them in its transaction: each poll gets 403 denied
// ("the person revoked this agent"), and a long poll already waiting at
// the PS answers within a couple of seconds of the command, not when its
// wait ends: on PostgreSQL through LISTEN/NOTIFY, on SQLite through the
// mark the command moves and the server reads while polls wait
// (ps/pending/markwake). Alice answering and approving afterwards changes
// nothing: no token, no consent, and the polls are 410.
func TestAgentsRevokeEndsPendingRequests(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		env := pstest.NewEnv(t)
		ap := env.StartAP(t, "ap.test")
		clock := &movedClock{}
		ps := env.Start(t, pstest.Options{DatabaseURL: db, Now: clock.Now})
		agent, err := ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a1@ap.test"})
		if err != nil {
			t.Fatal(err)
		}
		ps.CreatePerson(t, "alice", false)
		alice := ps.NewBrowser(t)
		alice.Login(t, "alice")

		send := func(method, path string, body []byte, prefer string) agentAnswer {
			t.Helper()
			url := path
			if !strings.HasPrefix(url, "https://") {
				url = ps.URL(path)
			}
			req := agent.NewRequest(method, url, body)
			if prefer != "" {
				req.Header.Set("Prefer", prefer)
			}
			if _, err := agent.Sign(req, body, clock.sign()); err != nil {
				t.Error(err)
				return agentAnswer{}
			}
			res, err := env.Client.Do(req)
			if err != nil {
				t.Error(err)
				return agentAnswer{}
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			a := agentAnswer{status: res.StatusCode, header: res.Header, raw: string(raw)}
			_ = json.Unmarshal(raw, &a.body)
			return a
		}
		poll := func(loc string) agentAnswer {
			t.Helper()
			clock.advance(6 * time.Second)
			return send(http.MethodGet, loc, nil, "")
		}
		// start sends an agent request expecting 202 requirement=interaction;
		// alice opens its link (her page stays open).
		type started struct{ loc, path string }
		start := func(path, body string) started {
			t.Helper()
			r := send(http.MethodPost, path, []byte(body), "")
			req, err := conformance.ParseRequirement(r.header.Values(aauth.HeaderAAuthRequirement))
			if r.status != http.StatusAccepted || err != nil || req.Token != "interaction" {
				t.Fatalf("%s: %d %s %v", path, r.status, r.raw, err)
			}
			if pg := alice.Get(t, req.Params["url"]+"?code="+req.Params["code"]); pg.Status != http.StatusOK {
				t.Fatalf("opening %s: %d\n%s", req.Params["url"], pg.Status, pg.HTML)
			}
			return started{loc: r.header.Get("Location"), path: strings.TrimPrefix(req.Params["url"], ps.Issuer)}
		}
		expectRevoked := func(r agentAnswer) {
			t.Helper()
			if r.status != http.StatusForbidden || r.body["error"] != aauth.ErrDenied || r.body["detail"] != "the person revoked this agent" ||
				r.header.Get("Content-Type") != aauth.ProblemContentType {
				t.Fatalf("poll after the revocation: %d %s", r.status, r.raw)
			}
		}

		q := start("/interaction", `{"type":"question","question":"What is the secret?","capabilities":["interaction"]}`)
		if pg := alice.Post(t, q.path+"/approve", nil); pg.Status != http.StatusSeeOther {
			t.Fatalf("connect: %d\n%s", pg.Status, pg.HTML)
		}
		pt := start("/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`)
		if r := poll(q.loc); r.status != http.StatusAccepted { // "interacting" is news: told at once
			t.Fatalf("poll: %d %s", r.status, r.raw)
		}
		b, err := ps.App.Agents.Lookup(context.Background(), ap.Issuer(), agent.ID)
		if err != nil {
			t.Fatal(err)
		}

		type heldAnswer struct {
			agentAnswer
			at time.Time
		}
		held := make(chan heldAnswer, 1)
		go func() {
			r := send(http.MethodGet, q.loc, nil, "wait=10")
			held <- heldAnswer{r, time.Now()}
		}()
		waitLongPoll(t, ps, q.loc)
		if out := cli(t, db, "agents", "revoke", "alice", b.ID); !strings.Contains(out, "agent revoked") {
			t.Fatalf("agents revoke: %s", out)
		}
		done := time.Now()
		r := <-held
		if late := r.at.Sub(done); late > 2*time.Second {
			t.Fatalf("the long poll was not woken by the command's commit: %d %s %v after the command", r.status, r.raw, late)
		}
		expectRevoked(r.agentAnswer)
		expectRevoked(poll(pt.loc))

		before := storetest.TableCounts(t, ps.App.Store)
		for _, d := range []struct {
			path string
			form map[string]string
		}{{q.path + "/answer", map[string]string{"answer": "secret answer"}}, {pt.path + "/approve", nil}} {
			pg := alice.Post(t, d.path, d.form)
			if pg.Status == http.StatusSeeOther {
				pg = alice.Follow(t, pg)
			}
			if !strings.Contains(pg.HTML, "you revoked this agent") {
				t.Fatalf("%s: the page does not say the request ended with the revocation:\n%s", d.path, pg.HTML)
			}
		}
		for _, loc := range []string{q.loc, pt.loc} {
			if r := poll(loc); r.status != http.StatusGone {
				t.Fatalf("a poll after the ended request's answer: %d %s", r.status, r.raw)
			}
		}
		after := storetest.TableCounts(t, ps.App.Store)
		delete(before, "replay_cache")
		delete(after, "replay_cache")
		for table, n := range after {
			if before[table] != n {
				t.Fatalf("deciding after the revocation wrote %s: %d → %d", table, before[table], n)
			}
		}
	})
}

// waitLongPoll waits until the PS records a long poll waiting on the
// pending request at loc (pending_requests.long_poll_until_ms, set once
// the poll subscribed to wake-ups).
func waitLongPoll(t *testing.T, ps *pstest.PS, loc string) {
	t.Helper()
	id := loc[strings.LastIndex(loc, "/")+1:]
	for deadline := time.Now().Add(5 * time.Second); ; {
		var until *int64
		if err := ps.App.Store.QuerySQL(context.Background(), &until, `SELECT long_poll_until_ms FROM pending_requests WHERE id = ?`, id); err != nil {
			t.Fatal(err)
		}
		if until != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the long poll was never seen waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
