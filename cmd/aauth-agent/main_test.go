package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/internal/loopback"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/app"
	"github.com/aauth-ps/aauth-ps/ps/config"
)

// syncBuf is a goroutine-safe output buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestDemoAgentAgainstDevPS runs the README walkthrough: a PS in
// development mode on http://localhost, the demo agent asks a question,
// the development person logs in, connects the agent and answers.
func TestDemoAgentAgainstDevPS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	dir := t.TempDir()
	cfg, _, err := config.Parse("serve", []string{"--dev", "--issuer", issuer, "--database-url", "sqlite:" + filepath.Join(dir, "ps.db")},
		func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler), app.Options{Argon2: account.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	user, pass, err := a.EnsureDevLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.Serve(ctx, ln) }()

	agentAddr, err := loopback.FreeAddr() // the agent's provider binds it later
	if err != nil {
		t.Fatal(err)
	}

	out := &syncBuf{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--ps", issuer, "--state", filepath.Join(dir, "agent"), "--listen", agentAddr,
			"ask", "Which flight should I book?"}, strings.NewReader(""), out)
	}()

	linkRE := regexp.MustCompile(`(http://localhost:\d+/interact/([\w-]+))\?code=([\w-]+)`)
	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		m = linkRE.FindStringSubmatch(out.String())
	}
	if m == nil {
		t.Fatalf("the demo agent printed no link:\n%s", out.String())
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := func(path string, v url.Values) *http.Response {
		res, err := c.PostForm(issuer+path, v)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	form("/login", url.Values{"username": {user}, "password": {pass}, "next": {"/"}})
	res, err := c.Get(m[1] + "?code=" + m[3])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if csrf == nil {
		t.Fatalf("no consent page:\n%s", page)
	}
	// Each decision sends back the version of the page it was made on
	// (the hidden "shown" field), so the question is answered from its
	// own page, read after connecting.
	shownRE := regexp.MustCompile(`name="shown" value="([^"]+)"`)
	shown := shownRE.FindSubmatch(page)
	if shown == nil {
		t.Fatalf("no version on the consent page:\n%s", page)
	}
	form("/interact/"+m[2]+"/approve", url.Values{"csrf": {string(csrf[1])}, "shown": {string(shown[1])}})
	if res, err = c.Get(m[1]); err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if shown = shownRE.FindSubmatch(page); shown == nil {
		t.Fatalf("no question page:\n%s", page)
	}
	form("/interact/"+m[2]+"/answer", url.Values{"csrf": {string(csrf[1])}, "shown": {string(shown[1])}, "answer": {"The 9:00 one"}})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo agent: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo agent did not finish:\n%s", out.String())
	}
	if !strings.Contains(out.String(), `"answer": "The 9:00 one"`) {
		t.Fatalf("output:\n%s", out.String())
	}
	// Issue 9 item 12: the interaction block is printed once, not on
	// every poll.
	if n := strings.Count(out.String(), "Your person server needs you"); n != 1 {
		t.Fatalf("the interaction block was printed %d times:\n%s", n, out.String())
	}
}

// TestDecodedAnswer (issue 9 item 12): the tokens and the mission blob in
// a final answer are printed decoded.
func TestDecodedAnswer(t *testing.T) {
	enc := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	jwt := enc(`{"typ":"aa-person+jwt","alg":"EdDSA"}`) + "." + enc(`{"aud":"https://rs.test","sub":"directed"}`) + ".c2ln"
	body := `{"person_token":"` + jwt + `","person_tokens":{"https://b.test":"` + jwt + `"},"mission":"` + enc(`{"description":"Trip"}`) + `"}`
	got := decoded([]byte(body))
	for _, want := range []string{"person_token (decoded, not verified)", `"typ": "aa-person+jwt"`, `"aud": "https://rs.test"`,
		"person_tokens[https://b.test]", "mission (decoded", `"description": "Trip"`} {
		if !strings.Contains(got, want) {
			t.Fatalf("decoded output lacks %q:\n%s", want, got)
		}
	}
	if decoded([]byte(`{"answer":"yes"}`)) != "" || decoded([]byte(`not json`)) != "" {
		t.Fatal("an answer without tokens printed something")
	}
}
