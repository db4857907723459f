package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/conformance/suite"
	"github.com/aauth-ps/aauth-ps/internal/loopback"
)

// mockinDir is the Node project pinning @hellocoop/mockin (npm ci by
// .ci/prereqs).
const mockinDir = "../../conformance/interop/node"

// startMockin runs @hellocoop/mockin as https://mockin.test: node on a
// loopback port (plain HTTP, as mockin serves), behind a TLS front with a
// certificate from ca. resolve maps the suite's provider hosts for
// mockin's fetches (resolve.mjs), trusted through caPEM. It returns the
// front's address.
func startMockin(t *testing.T, ca *conformance.CA, resolve []string, caPEM string) string {
	t.Helper()
	server := filepath.Join(mockinDir, "node_modules/@hellocoop/mockin/src/server.js")
	if _, err := os.Stat(server); err != nil {
		t.Fatalf("@hellocoop/mockin is not installed (run ./.ci/prereqs, or npm ci in %s): %v", mockinDir, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: the mockin interop run needs Node.js")
	}
	addr, err := loopback.FreeAddr() // mockin binds it when Node has started
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "--import", "./resolve.mjs", "node_modules/@hellocoop/mockin/src/server.js")
	cmd.Dir = mockinDir
	logs := &syncBuf{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), "PORT="+port, "IP=127.0.0.1", "ISSUER=https://mockin.test",
		"AAUTH_RESOLVE="+strings.Join(resolve, ","), "NODE_EXTRA_CA_CERTS="+caPEM)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("mockin output:\n%s", logs)
		}
	})
	backend := "http://127.0.0.1:" + port
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res, err := http.Get(backend + "/.well-known/aauth-person.json")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mockin did not start: %v\n%s", err, logs)
		}
	}
	target, _ := url.Parse(backend)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // mockin verifies @authority
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	cert, err := ca.Issue("mockin.test")
	if err != nil {
		t.Fatal(err)
	}
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		_ = srv.Serve(tls.NewListener(front, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return front.Addr().String()
}

// mockinDifferences are the checks @hellocoop/mockin 2.0.0 fails, each
// explained in docs/interop.md. The test fails when the set changes, so
// the account stays true.
var mockinDifferences = []string{
	"PS-001 unsigned GET of the metadata: 200 application/json object",
	"PS-006 scopes_supported and claims_supported are arrays of strings",
	"PS-008 JWKS: unique kids, fully-specified algs, public keys only",
	"PS-012 missing Signature",
	"PS-012 missing Signature-Input",
	"PS-012 missing Signature-Key",
	"PS-030 garbage Signature-Input",
	"PS-030 garbage Signature",
	"PS-030 garbage Signature-Key",
	"PS-019 two signatures",
	"PS-014 omit @method",
	"PS-014 omit @authority",
	"PS-014 omit @path",
	"PS-014 omit signature-key",
	"PS-015 omit content-type",
	"PS-015 omit content-digest",
	"PS-016 created absent",
	"PS-016 created not an integer",
	"PS-016 created stale (twice the window)",
	"PS-016 created ahead (twice the window)",
	"PS-016 expires past",
	"PS-018 scheme hwk",
	"PS-018 scheme jkt-jwt",
	"PS-018 scheme jwks_uri",
	"PS-018 scheme x509",
	"PS-018 scheme cached",
	"PS-018 scheme unknown",
	"PS-019 Signature-Key label differs",
	"PS-020 signed by another key",
	"PS-021 tamper method",
	"PS-021 tamper path",
	"PS-021 tamper authority",
	"PS-021 tamper content-type",
	"PS-021 tamper Signature-Key",
	"PS-021 tamper Content-Digest",
	"PS-022 foreign authority",
	"PS-023 digest of another body",
	"PS-023 digest with unknown algorithm only",
	"PS-023 digest covered but absent",
	"PS-023 body changed after signing",
	"PS-024 cnf.jwk without alg",
	"PS-024 cnf.jwk alg EdDSA",
	"PS-024 cnf.jwk alg HS256",
	"PS-024 cnf.jwk alg none",
	"PS-025 cnf.jwk without kty",
	"PS-025 cnf.jwk OKP without x",
	"PS-025 cnf.jwk EC without y",
	"PS-025 cnf.jwk with private d",
	"PS-025 cnf.jwk Ed25519 alg with EC kty",
	"PS-025 cnf.jwk ES256 with P-384",
	"PS-031 person token as credential",
	"PS-031 typ JWT",
	"PS-031 typ missing",
	"PS-032 JWT two parts",
	"PS-032 JWT bad base64url",
	"PS-032 JWT header not JSON",
	"PS-032 JWT alg none",
	"PS-032 JWT alg EdDSA",
	"PS-032 JWT alg HS256",
	"PS-032 JWT without kid",
	"PS-032 JWT crit header",
	"PS-033 dwk aauth-person.json",
	"PS-033 dwk missing",
	"PS-034 iss over http (nothing fetched)",
	"PS-034 iss upper-case (nothing fetched)",
	"PS-034 iss with a port (nothing fetched)",
	"PS-034 iss with a path (nothing fetched)",
	"PS-034 iss with a trailing slash (nothing fetched)",
	"PS-035 metadata without issuer",
	"PS-035 metadata with another issuer",
	"PS-036 unknown kid",
	"PS-037 tampered payload",
	"PS-037 unpublished key under published kid",
	"PS-038 exp past",
	"PS-038 exp missing",
	"PS-038 iat missing",
	"PS-038 iat ahead",
	"PS-039 sub missing",
	"PS-039 jti missing",
	"PS-039 cnf missing",
	"PS-039 cnf.jwk missing",
	"PS-039 sub with space",
	"PS-039 sub empty local",
	"PS-039 sub scheme in domain",
	"PS-039 sub bad character",
	"PS-039 sub local over 255",
	"PS-039 ps not https",
	"PS-039 parent_agent invalid",
	"PS-040 sub in another domain",
	"PS-041 sub-agent",
	"PS-045 JWKS key without alg",
	"PS-045 JWKS key alg differs from header",
	"PS-029 bad signature and malformed JSON",
	"PS-023 sha-512 digest",
	"PS-023 unknown digest algorithm beside sha-256",
	"PS-027 exact replay refused, first use accepted",
	"PS-027 ES256 signature re-encoded as (r, n-s) refused as a replay",
	"PS-055 GET on the endpoint gets 405 with Allow",
	"PS-055 PUT on the endpoint gets 405 with Allow",
	"PS-055 DELETE on the endpoint gets 405 with Allow",
	"PS-065 a new agent gets no person token before it is connected",
	"PS-063 the first person token waits for the person (202)",
	"PS-059 E3 with a malformed mission_s256 gets 400",
	"PS-260 E4 without presented_token gets 400 invalid_request",
	"PS-260 E4 without presented_token gets 400 even when the PS issued the named token",
	"PS-261 a presented_token that is no PS token gets 400 invalid_presented_token",
	"PS-096 another agent redeeming an RT that names this agent's person token gets 400 invalid_presented_token",
	"PS-265 an RT naming a person token that has since expired gets 400 expired_presented_token",
	"PS-103 a valid resource token with consent gives 200 {auth_token, expires_in}",
	"PS-066 E3 with a subagent_token that does not verify gets 400 invalid_subagent_token",
	"PS-140 E4 with a subagent_token that does not verify gets 400 invalid_subagent_token",
	"PS-142 a sub-agent's auth token: the sub-agent's key, no agent named",
	// confC: request bodies, upstream_token, agent ids, the relay.
	"PS-048 E3: a body that is no JSON object gets 400 invalid_request as problem+json",
	"PS-048 E4: a body that is no JSON object gets 400 invalid_request as problem+json",
	"PS-052 E4: known members of the wrong JSON type get 400 invalid_request",
	"PS-069 an upstream_token that fails verification gets 400 invalid_upstream_token",
	"PS-225 E9 interaction without an https url without fragment, or question without text, gets 400",
	"PS-226 E9 interaction relay with max_wait, never engaged: a terminal answer once it passed",
	"PS-226 E9 interaction relay: a terminal answer once the person followed the link",
	"PS-228 E9 question: the person's answer comes back as 200 {answer}",
	"PS-230 E9 naming an unknown mission gets 404 mission_not_found",
	"PS-255 an agent id differing from a connected one only in case is a new, unconnected agent",
	// Four-party federation, call chaining and R3 (docs/interop.md
	// "Federation, call chaining, sub-agents and R3").
	"PS-117 the PS reads the AS metadata and posts to its auth_token_endpoint",
	"PS-118 AS metadata missing, naming another issuer or without auth_token_endpoint: 502 as_unreachable, no POST",
	"PS-119 the PS→AS request covers the profile's components with a fresh created and a right Content-Digest",
	"PS-120 the PS→AS request is signed as the PS: jwks_uri scheme, id the issuer, dwk aauth-person.json, a kid of its JWKS",
	"PS-121 the PS→AS body carries the exact resource_token, agent_token and presented_token",
	"PS-122 a good AS token reaches the agent unchanged as {auth_token, expires_in}",
	"PS-132 an agent token, a resource token or a badly signed token as upstream_token gets 400 invalid_upstream_token",
	"PS-134 an intermediary whose agent token iss is not the upstream aud gets 400 invalid_upstream_token",
	"PS-134 the upstream cnf is not compared with the intermediary's key: the chained person token is bound to the intermediary",
	"PS-135 an upstream person token of another PS, or an auth token naming another PS, gets 400 invalid_upstream_token",
	"PS-139 an upstream token in Signature-Key gets 401 invalid_jwt",
	"PS-241 the PS fetches r3_uri signed as itself",
	"PS-245 the auth token carries r3_uri, r3_s256 and r3_granted within the document, no r3_conditional",
}

// TestInteropMockin is Must-show 3 (`make interop-mockin`): the suite
// against another PS implementation, @hellocoop/mockin, on loopback. Its
// summary table is logged (and written to $AAUTH_MOCKIN_REPORT when set).
// mockin approves every consent step itself, so the person step is a
// no-op command.
func TestInteropMockin(t *testing.T) {
	state := filepath.Join(t.TempDir(), "provider")
	p, err := startProvider(state, providerAddr(t), "ap.test", true)
	if err != nil {
		t.Fatal(err)
	}
	var resolve []string
	for _, h := range p.Hosts() {
		resolve = append(resolve, h+"="+p.set.Listen)
	}
	// The provider keeps its port until run starts it again: closed
	// earlier, a parallel test took the port while mockin started.
	closeProvider := sync.OnceFunc(p.Close)
	defer closeProvider()
	ca, err := conformance.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	addr := startMockin(t, ca, resolve, filepath.Join(state, caFile))
	psCA := filepath.Join(t.TempDir(), "mockin-ca.pem")
	if err := ca.WriteFile(psCA); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "report.json")
	out, errOut := &syncBuf{}, &syncBuf{}
	closeProvider()
	err = run(t.Context(), []string{"run", "--ps", "https://mockin.test", "--ps-addr", addr, "--ps-ca", psCA, "--provider-state", state,
		"--approve", "cmd:true", "--report", "json:" + file}, out, errOut)
	t.Logf("run: %v", err)
	b, rerr := os.ReadFile(file)
	if rerr != nil {
		t.Fatalf("%v\n%s", rerr, errOut)
	}
	var rep suite.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	var failed []string
	for _, r := range rep.Results {
		if r.Status == suite.StatusFail {
			failed = append(failed, r.Key())
			fmt.Fprintf(&text, "%s [%s %s]: %s\n", r.Key(), r.Level, r.FailedLevel, firstLine(r.Detail))
		}
	}
	for _, r := range rep.Results {
		if r.Status == suite.StatusSkip {
			fmt.Fprintf(&text, "SKIP %s: %s\n", r.Key(), firstLine(r.Detail))
		}
	}
	text.WriteString("\n" + rep.Table())
	t.Log("\n" + text.String())
	if f := os.Getenv("AAUTH_MOCKIN_REPORT"); f != "" {
		if err := os.WriteFile(f, []byte(text.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(failed)
	want := slices.Clone(mockinDifferences)
	slices.Sort(want)
	if !slices.Equal(failed, want) {
		t.Errorf("mockin's failures changed; update docs/interop.md and mockinDifferences:\n%q", failed)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 240 {
		s = s[:240] + "…"
	}
	return s
}
