package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// nodeAgentDir holds the independent Node agent (package.json pins
// @hellocoop/httpsig; `make prereqs` runs npm ci there).
const nodeAgentDir = "../../conformance/interop/node"

// enrollHandler is the agent provider's test enrolment endpoint for an
// agent that made its own key: POST {"jwk":{…},"sub":"aauth:…"} →
// {"agent_token":…} bound to that key (what a real provider does after
// authenticating its agent, which a test need not).
func enrollHandler(t *testing.T, ap *conformance.AgentProvider) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var in struct {
			JWK map[string]any `json:"jwk"`
			Sub string         `json:"sub"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(http.MaxBytesReader(rw, r.Body, 4096)).Decode(&in) != nil || in.JWK == nil ||
			!strings.HasSuffix(in.Sub, "@"+ap.Host()) {
			http.Error(rw, "bad enrolment", http.StatusBadRequest)
			return
		}
		tok, err := ap.MintAgentToken(conformance.TokenSpec{CnfJWK: in.JWK, Sub: in.Sub})
		if err != nil {
			t.Errorf("enrol: %v", err)
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(map[string]string{"agent_token": tok})
	})
}

// nodeEvent is one line the Node agent prints.
type nodeEvent struct {
	Event          string         `json:"event"`
	Step           string         `json:"step"`
	URL            string         `json:"url"`
	Code           string         `json:"code"`
	AuthToken      string         `json:"auth_token"`
	AgentJKT       string         `json:"agent_jkt"`
	ResourceStatus int            `json:"resource_status"`
	ResourceBody   map[string]any `json:"resource_body"`
}

// TestNodeAgentObtainsAuthToken is must-show 2 of issue 8: an independent
// client — a Node script signing with @hellocoop/httpsig, no code of ours
// — enrols its own Ed25519 key at the test agent provider, gets a person
// token (the person connects the agent and consents in the browser), is
// challenged by the test resource with a resource token, obtains an auth
// token (the person consents again) and the resource accepts it.
// PS-103, PS-104, PS-105, PS-107, PS-109 (the auth token's claims, as the
// resource checks them), PS-282 (justification shown as the agent's).
func TestNodeAgentObtainsAuthToken(t *testing.T) {
	t.Parallel()
	node := nodeBinary(t)
	var err error
	var rs *conformance.Resource
	w := newWorldWith(t, pstest.Options{}, func(env *pstest.Env) {
		if rs, err = conformance.StartResource(env.CA, env.Resolver, "rs.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
	})
	w.ap.Handle("/enroll", enrollHandler(t, w.ap))
	b := w.person(t, "alice", false)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "agent.mjs", "--ps", w.ps.Issuer, "--ap", w.ap.Issuer(),
		"--resource", rs.Issuer()+conformance.ResourceAPIPath,
		"--justification", "I need to **read** your calendar to find a slot.")
	cmd.Dir = nodeAgentDir
	cmd.Env = nodeEnviron(t, w.env)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	// The person acts on each interaction the agent reports, in the
	// browser, as they would on the agent's link.
	var done *nodeEvent
	var steps []string
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		var ev nodeEvent
		if err := json.Unmarshal(lines.Bytes(), &ev); err != nil {
			t.Fatalf("node agent printed %q", lines.Text())
		}
		switch ev.Event {
		case "interaction":
			steps = append(steps, ev.Step)
			s := started{url: ev.URL, code: ev.Code, id: pathID(ev.URL)}
			pg := open(t, b, s)
			if ev.Step == "auth" {
				// The agent's justification is in the agent-asserted
				// region, never the resource's (PS-282).
				if !strings.Contains(section(pg.HTML, "assert-agent"), "<strong>read</strong>") ||
					strings.Contains(section(pg.HTML, "assert-resource"), "find a slot") {
					t.Errorf("justification not in the agent's region:\n%s", pg.HTML)
				}
			}
			approveAll(t, b, s, ev.Step)
		case "done":
			done = &ev
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node agent: %v\n%s", err, stderr.String())
	}
	if done == nil {
		t.Fatalf("node agent ended without an auth token\n%s", stderr.String())
	}
	if !slices.Equal(steps, []string{"person", "auth"}) {
		t.Fatalf("interactions %v, want the person token's then the auth token's", steps)
	}

	// What the resource accepted is what the agent printed, and it is an
	// auth token of this PS for this resource, bound to the Node key.
	if acc := rs.AcceptedAuthTokens(); len(acc) != 1 || acc[0] != done.AuthToken || done.ResourceStatus != http.StatusOK {
		t.Fatalf("the resource accepted %d tokens, status %d", len(acc), done.ResourceStatus)
	}
	_, c, err := conformance.DecodeJWT(done.AuthToken)
	if err != nil {
		t.Fatal(err)
	}
	cnf, _ := c["cnf"].(map[string]any)
	jwk, _ := cnf["jwk"].(map[string]any)
	if c["iss"] != w.ps.Issuer || c["aud"] != rs.Issuer() || c["scope"] != conformance.ResourceAPIScope || jwk["x"] == nil {
		t.Fatalf("auth token claims %v", c)
	}
	recs, err := w.ps.App.Tokens.AuthRecords(ctxT(), "")
	if err != nil || len(recs) != 1 || recs[0].JTI != c["jti"] || recs[0].CnfThumbprint != done.AgentJKT {
		t.Fatalf("auth token records %+v %v (the Node key's thumbprint %s)", recs, err, done.AgentJKT)
	}
}

// approveAll approves the interaction s, and every further decision the
// same link asks for (a first contact connects the agent, then consents).
func approveAll(t *testing.T, b *pstest.Browser, s started, step string) {
	t.Helper()
	for range 3 {
		pg := b.Post(t, s.path()+"/approve", nil)
		if pg.Status != http.StatusSeeOther {
			t.Fatalf("approve %s: %d\n%s", step, pg.Status, pg.HTML)
		}
		next := b.Follow(t, pg)
		if !strings.Contains(next.HTML, `action="`+s.path()+`/approve"`) {
			return
		}
	}
	t.Fatalf("%s: still asking after three approvals", step)
}
