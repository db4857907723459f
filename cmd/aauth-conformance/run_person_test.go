package main

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance/suite"
)

// TestPersons: --approve manual prints the link and waits for Enter;
// cmd: runs the command with URL, code and decision; bad modes are usage
// errors.
func TestPersons(t *testing.T) {
	in := suite.Interaction{URL: "https://ps.test/interact/x", Code: "ABCD-EFGH", Approve: true, What: "connect an agent"}
	out := &syncBuf{}
	m, err := newPerson("manual", personConfig{stdin: strings.NewReader("\n"), out: out})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Decide(t.Context(), in); err != nil || !strings.Contains(out.String(), "https://ps.test/interact/x?code=ABCD-EFGH") {
		t.Fatalf("manual: %v %q", err, out)
	}

	dir := t.TempDir()
	file, script := filepath.Join(dir, "args"), filepath.Join(dir, "approve.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntest \"$AAUTH_LINK\" = \"$1?code=$2\" && echo \"$@\" > "+file+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := newPerson("cmd:"+script, personConfig{out: &syncBuf{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Decide(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	in.Approve = false
	if err := c.Decide(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != "https://ps.test/interact/x ABCD-EFGH deny\n" {
		t.Fatalf("cmd: got %q", b)
	}
	// A person who asks the agent a question (PS-174) or answers one
	// (PS-228) gets the text in AAUTH_TEXT.
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$3 $AAUTH_DECISION $AAUTH_TEXT\" > "+file+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for want, ask := range map[string]suite.Interaction{
		"ask ask why?\n":       {URL: in.URL, Code: in.Code, Ask: "why?"},
		"answer answer teal\n": {URL: in.URL, Code: in.Code, Answer: "teal"},
		"approve approve \n":   {URL: in.URL, Code: in.Code, Approve: true},
	} {
		if err := c.Decide(t.Context(), ask); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(file); string(b) != want {
			t.Errorf("cmd: got %q, want %q", b, want)
		}
	}
	if got := (suite.Interaction{URL: in.URL}).Link(); got != in.URL {
		t.Errorf("a link without a code is %q", got)
	}
	// The agent's callback rides along, escaped (PS-170), and reaches a
	// command in AAUTH_LINK and AAUTH_CALLBACK.
	withCallback := suite.Interaction{URL: in.URL, Code: in.Code, Approve: true, Callback: "https://ap.test/callback?cf=1"}
	if got := withCallback.Link(); got != in.URL+"?code=ABCD-EFGH&callback=https%3A%2F%2Fap.test%2Fcallback%3Fcf%3D1" {
		t.Errorf("a link with a callback is %q", got)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$AAUTH_CALLBACK $AAUTH_LINK\" > "+file+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.Decide(t.Context(), withCallback); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != withCallback.Callback+" "+withCallback.Link()+"\n" {
		t.Errorf("cmd with a callback: got %q", b)
	}
	fail, _ := newPerson("cmd:false", personConfig{out: &syncBuf{}})
	if err := fail.Decide(t.Context(), in); err == nil {
		t.Fatal("a failing command is a successful person step")
	}

	t.Setenv(envPersonPassword, "")
	for _, mode := range []string{"bogus", "cmd:", "cmd: ", "browser"} {
		if _, err := newPerson(mode, personConfig{user: "alice"}); err == nil {
			t.Errorf("--approve %q accepted", mode)
		}
	}
}

// TestBrowserPersonReadsAgainWhenThePageChangesUnderTheClick: the browser
// person found the approve button, and the page replaced it before the
// click landed (a redirect or a waiting page reloading itself, seen in
// CI as "Could not find node with given id"). Nothing was clicked, so it
// reads the page again and approves once, instead of failing the flow.
func TestBrowserPersonReadsAgainWhenThePageChangesUnderTheClick(t *testing.T) {
	opens, approvals := approveThrough(t, func(w http.ResponseWriter, _ int32) {
		fmt.Fprint(w, `<!DOCTYPE html><title>Approve</title><h1>Your agent asks</h1>
<form method="post" action="/interact/x/approve"><button id="go">Allow</button></form>
<script>
// The first time the click's visibility check reads the marked button,
// the page swaps it for a new one: the node the browser found is gone.
const b = document.getElementById("go");
const width = Object.getOwnPropertyDescriptor(HTMLElement.prototype, "offsetWidth").get;
Object.defineProperty(b, "offsetWidth", { get() {
  const w = width.call(this);
  if (this.hasAttribute("data-aauth-conformance")) {
    const fresh = document.createElement("button");
    fresh.textContent = "Allow";
    this.replaceWith(fresh);
  }
  return w;
} });
</script>`)
	})
	if opens != 1 || approvals != 1 {
		t.Fatalf("page loads %d, approvals %d: want 1 and 1", opens, approvals)
	}
}

// TestBrowserPersonOpensTheLinkAgainWhenANavigationAbortedIt: Chromium
// drops the browser person's navigation to the link (net::ERR_ABORTED),
// as when the page the last decision left open (a waiting page whose
// wait.js reloads it) navigates at the same moment; browsertest's open
// met it in CI. The person opens the link again. The server answers the
// first open with 204 No Content, which Chromium ends the same way.
func TestBrowserPersonOpensTheLinkAgainWhenANavigationAbortedIt(t *testing.T) {
	opens, approvals := approveThrough(t, func(w http.ResponseWriter, n int32) {
		if n == 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		fmt.Fprint(w, `<!DOCTYPE html><title>Approve</title><h1>Your agent asks</h1>
<form method="post" action="/interact/x/approve"><button>Allow</button></form>`)
	})
	if opens != 2 || approvals != 1 {
		t.Fatalf("link opened %d times, approvals %d: want 2 (the aborted one and again) and 1", opens, approvals)
	}
}

// approveThrough has a browser person approve at a loopback HTTPS server
// (as example.com, the name its certificate holds) whose interaction page
// is page (n counts its loads, from 1) and whose approve form answers
// "Done". It returns how often the page was opened and approved.
func approveThrough(t *testing.T, page func(w http.ResponseWriter, n int32)) (opens, approvals int32) {
	t.Helper()
	var o, a atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/interact/x":
			page(w, o.Add(1))
		case r.Method == http.MethodPost && r.URL.Path == "/interact/x/approve":
			a.Add(1)
			fmt.Fprint(w, `<!DOCTYPE html><title>Done</title><h1>Done</h1><p>You allowed it.</p>`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envPersonPassword, "unused")
	p, err := newBrowserPerson(personConfig{host: "example.com", addr: srv.Listener.Addr().String(), caFile: ca, user: "unused"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Decide(t.Context(), suite.Interaction{URL: "https://example.com/interact/x", Code: "ABCD", Approve: true}); err != nil {
		t.Fatalf("Decide: %v", err)
	}
	return o.Load(), a.Load()
}
