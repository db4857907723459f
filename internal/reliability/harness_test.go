package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/internal/loopback"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// binary is the aauth-ps executable built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aauth-ps-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "aauth-ps")
	build := exec.Command("go", "build", "-tags", "nomsgpack", "-o", binary, "github.com/aauth-ps/aauth-ps/cmd/aauth-ps")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: building aauth-ps:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const (
	issuer = "https://" + pstest.DefaultHost
	secret = pstest.SecretForTests
	// rsIssuer is the resource the agents ask person tokens for.
	rsIssuer = "https://rs.test"
)

// world is what the PS processes share: a CA, an agent provider and a
// resource on loopback, TLS files for ps.test, and one database URL.
type world struct {
	env      *pstest.Env
	ap       *conformance.AgentProvider
	db       string
	dir      string
	certFile string
	keyFile  string
	caFile   string
}

func newWorld(t *testing.T, db string) *world {
	t.Helper()
	env := pstest.NewEnv(t)
	w := &world{env: env, ap: env.StartAP(t, "ap.test"), db: db, dir: t.TempDir()}
	startRS(t, env, "rs.test")
	cert, err := env.CA.Issue(pstest.DefaultHost)
	if err != nil {
		t.Fatal(err)
	}
	w.certFile, w.keyFile, w.caFile = filepath.Join(w.dir, "tls.crt"), filepath.Join(w.dir, "tls.key"), filepath.Join(w.dir, "ca.pem")
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	for path, block := range map[string]*pem.Block{w.certFile: {Type: "CERTIFICATE", Bytes: cert.Certificate[0]}, w.keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.CA.WriteFile(w.caFile); err != nil {
		t.Fatal(err)
	}
	return w
}

// startRS serves a resource's metadata at https://host (the PS shows it
// on the consent page).
func startRS(t *testing.T, env *pstest.Env, host string) {
	t.Helper()
	cert, err := env.CA.Issue(host)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"issuer": "https://" + host, "name": "Fixture Calendar",
		"jwks_uri": "https://" + host + "/.well-known/jwks.json"})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/aauth-resource.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	env.Resolver.Set(host, srv.Listener.Addr().String())
}

// syncBuf collects a process's output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// proc is one aauth-ps process serving https://ps.test at addr, with a
// client (and a person's view) that reach this process only.
type proc struct {
	w      *world
	addr   string
	extra  []string
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *syncBuf
	Client *http.Client
	view   *pstest.PS
}

// freeAddr is a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// start runs `aauth-ps serve` on a new loopback port (request-rate limits
// off unless extra sets them: the load loops would trip them) and waits
// until it is ready.
func (w *world) start(t *testing.T, extra ...string) *proc {
	t.Helper()
	res := conformance.NewResolver()
	for h, a := range w.env.Resolver.Map() {
		res.Set(h, a)
	}
	p := &proc{w: w, addr: freeAddr(t), extra: extra}
	res.Set(pstest.DefaultHost, p.addr)
	p.Client = conformance.NewHTTPClient(w.env.CA, res)
	p.Client.Timeout = 30 * time.Second
	p.view = &pstest.PS{Env: &pstest.Env{CA: w.env.CA, Resolver: res, Client: p.Client}, Issuer: issuer, Addr: p.addr}
	p.run(t)
	t.Cleanup(p.stop)
	p.waitReady(t, 90*time.Second)
	return p
}

func (w *world) config() []string {
	args := []string{"--database-url", w.db, "--key-encryption-key", secret, "--issuer", issuer,
		"--tls-cert", w.certFile, "--tls-key", w.keyFile}
	return args
}

// run starts the process (again) on p.addr.
func (p *proc) run(t *testing.T) {
	t.Helper()
	args := append([]string{"serve", "--listen", p.addr,
		"--trust-ca", p.w.caFile, "--egress-allow", "127.0.0.1/32", "--log-level", "warn", "--shutdown-timeout", "2s",
		"--rate-limit-agent", "0", "--rate-limit-provider", "0", "--rate-limit-client", "0"}, p.w.config()...)
	for _, r := range p.w.env.Resolver.Flags() {
		args = append(args, "--resolve", r)
	}
	args = append(args, p.extra...)
	p.logs = &syncBuf{}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(p.cmd, p.exited)
}

// cleanEnv is the environment without AAUTH_PS_* settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AAUTH_PS_") {
			env = append(env, kv)
		}
	}
	return env
}

// ready reports /readyz's status (0 when unreachable).
func (p *proc) ready() int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/readyz", nil)
	res, err := p.Client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func (p *proc) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case <-p.exited:
			t.Fatalf("aauth-ps exited before it was ready:\n%s", p.logs)
		default:
		}
		if p.ready() == http.StatusOK {
			return
		}
	}
	t.Fatalf("aauth-ps not ready within %v:\n%s", within, p.logs)
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// restart starts the process again on the same address and waits for it.
func (p *proc) restart(t *testing.T) {
	t.Helper()
	p.run(t)
	p.waitReady(t, 90*time.Second)
}

// stop ends the process gracefully (SIGTERM), then by force.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// cli runs an administrative command of the binary on the world's database.
func (w *world) cli(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append(args, w.config()...)...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aauth-ps %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// person creates a person with the test password (through the CLI) and
// returns a browser logged in as them at p.
func (w *world) person(t *testing.T, p *proc, username string) *pstest.Browser {
	t.Helper()
	pw := filepath.Join(w.dir, username+".password")
	if err := os.WriteFile(pw, []byte(pstest.TestPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	w.cli(t, "persons", "create", username, "--password-file", pw)
	return p.browser(t, nil)
}

// browser is a browser at p; with from, it shares from's cookies (the
// same logged-in person, as behind a load balancer).
func (p *proc) browser(t *testing.T, from *pstest.Browser) *pstest.Browser {
	t.Helper()
	b := p.view.NewBrowser(t)
	if from != nil {
		b.Client.Jar = from.Client.Jar
		return b
	}
	b.Login(t, "alice")
	return b
}

// answer is a response read in full.
type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, a.raw) }

// seq makes every signed body distinct: two identical signed requests in
// one second would be replays.
var seq atomic.Int64

// send signs and sends a request as agent a through c.
func send(ctx context.Context, c *http.Client, a *conformance.Agent, method, url string, body []byte, header http.Header) (answer, error) {
	req := a.NewRequest(method, url, body).WithContext(ctx)
	for k, vs := range header {
		req.Header[k] = vs
	}
	if _, err := a.Sign(req, body); err != nil {
		return answer{}, err
	}
	return do(c, req)
}

func do(c *http.Client, req *http.Request) (answer, error) {
	res, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a, nil
}

// must is send that fails the test on a transport error.
func must(t *testing.T, c *http.Client, a *conformance.Agent, method, url, body string) answer {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	r, err := send(t.Context(), c, a, method, url, b, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// started is a pending request waiting for the person.
type started struct{ loc, url, code string }

func (s started) path() string { return strings.TrimPrefix(s.url, issuer) }

var (
	urlParam  = regexp.MustCompile(`url="([^"]+)"`)
	codeParam = regexp.MustCompile(`code="([^"]+)"`)
)

// interaction expects a 202 requirement=interaction.
func interaction(t *testing.T, r answer) started {
	t.Helper()
	req := r.header.Get("AAuth-Requirement")
	u, c := urlParam.FindStringSubmatch(req), codeParam.FindStringSubmatch(req)
	if r.status != http.StatusAccepted || r.header.Get("Location") == "" || u == nil || c == nil {
		t.Fatalf("want 202 requirement=interaction: %s %v", r, r.header)
	}
	return started{loc: r.header.Get("Location"), url: u[1], code: c[1]}
}

// decide opens the interaction link and submits action (approve, deny).
func decide(t *testing.T, b *pstest.Browser, s started, action string) {
	t.Helper()
	if pg := b.Get(t, s.url+"?code="+s.code); pg.Status != http.StatusOK {
		t.Fatalf("opening %s: %d\n%s", s.url, pg.Status, pg.HTML)
	}
	if pg := b.Post(t, s.path()+"/"+action, nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("%s: %d\n%s", action, pg.Status, pg.HTML)
	}
}

// poll long-polls loc (Prefer: wait, so no slow_down) as a through c.
func poll(ctx context.Context, c *http.Client, a *conformance.Agent, loc string) (answer, error) {
	return send(ctx, c, a, http.MethodGet, loc, nil, http.Header{"Prefer": {"wait=10"}})
}

// pollDone polls until the answer is no longer 202.
func pollDone(t *testing.T, c *http.Client, a *conformance.Agent, loc string) answer {
	t.Helper()
	for range 10 {
		r, err := poll(t.Context(), c, a, loc)
		if err != nil {
			t.Fatalf("poll %s: %v", loc, err)
		}
		if r.status != http.StatusAccepted {
			return r
		}
	}
	t.Fatalf("%s still pending", loc)
	return answer{}
}

// bind connects agent a to the person of b the way a real agent does: a
// question with the interaction capability, answered by the person.
func bind(t *testing.T, p *proc, b *pstest.Browser, a *conformance.Agent) {
	t.Helper()
	s := interaction(t, must(t, p.Client, a, http.MethodPost, issuer+"/interaction",
		`{"type":"question","question":"Shall we connect?","capabilities":["interaction"]}`))
	decide(t, b, s, "approve")
	if pg := b.Post(t, s.path()+"/answer", map[string]string{"answer": "yes"}); pg.Status != http.StatusSeeOther {
		t.Fatalf("answer: %d\n%s", pg.Status, pg.HTML)
	}
	if r := pollDone(t, p.Client, a, s.loc); r.status != http.StatusOK || r.body["answer"] != "yes" {
		t.Fatalf("binding question: %s", r)
	}
}

// consent has the person approve a person token for rs.test.
func consent(t *testing.T, p *proc, b *pstest.Browser, a *conformance.Agent) {
	t.Helper()
	s := interaction(t, must(t, p.Client, a, http.MethodPost, issuer+"/person", `{"resource":"`+rsIssuer+`","capabilities":["interaction"]}`))
	decide(t, b, s, "approve")
	if r := pollDone(t, p.Client, a, s.loc); r.status != http.StatusOK || r.body["person_token"] == nil {
		t.Fatalf("consent: %s", r)
	}
}

// propose starts a mission proposal for rs.test.
func propose(t *testing.T, p *proc, a *conformance.Agent, name string) started {
	t.Helper()
	return interaction(t, must(t, p.Client, a, http.MethodPost, issuer+"/mission",
		`{"description":"`+name+`","resources":["`+rsIssuer+`"],"capabilities":["interaction"]}`))
}

// mission is an approval as the agent received it.
type mission struct {
	s256 string
	blob []byte
}

// approval checks an approval answer: s256 is the SHA-256 of the blob.
func approval(t *testing.T, r answer) mission {
	t.Helper()
	s256, _ := r.body["s256"].(string)
	enc, _ := r.body["mission"].(string)
	blob, err := base64.RawURLEncoding.DecodeString(enc)
	sum := sha256.Sum256(blob)
	if r.status != http.StatusOK || err != nil || s256 == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != s256 {
		t.Fatalf("mission approval: %s", r)
	}
	return mission{s256: s256, blob: blob}
}

// isTransport reports a failure to reach the process (down, restarting).
func isTransport(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "EOF") ||
		// A pooled connection the dying server closed as a request reused it.
		strings.Contains(err.Error(), "server closed idle connection")
}

// workers are n agents bound to the person of b, each holding her consent
// for rs.test: what the load loops send as.
func workers(t *testing.T, w *world, p *proc, b *pstest.Browser, n int) []*conformance.Agent {
	t.Helper()
	var agents []*conformance.Agent
	for i := range n {
		a, err := w.ap.NewAgent(conformance.TokenSpec{Sub: "aauth:worker" + strconv.Itoa(i) + "@ap.test"})
		if err != nil {
			t.Fatal(err)
		}
		bind(t, p, b, a)
		consent(t, p, b, a)
		agents = append(agents, a)
	}
	return agents
}
