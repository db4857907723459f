package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/internal/loopback"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// MockinScript is where npm installs Mockin's server under the interop
// node directory (conformance/interop/node, `npm ci` there).
const MockinScript = "node_modules/@hellocoop/mockin/src/server.js"

// Peer is a running Mockin: a Node mock Person Server on loopback (plain
// HTTP, as it ships), trusting the load's agent provider.
type Peer struct {
	URL            string
	PersonEndpoint string
	cmd            *exec.Cmd
	log            bytes.Buffer
	out            *limited
}

// StartMockin starts Mockin from nodeDir and preloads ap's metadata and
// JWKS into it (its trusted_servers), so it never fetches them.
func StartMockin(ctx context.Context, nodeDir string, ap *conformance.AgentProvider) (*Peer, error) {
	script := filepath.Join(nodeDir, MockinScript)
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("mockin is not installed (run `npm ci` in %s): %w", nodeDir, err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &Peer{URL: "http://127.0.0.1:" + strconv.Itoa(port)}
	p.cmd = exec.Command("node", MockinScript)
	p.cmd.Dir = nodeDir
	p.cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "IP=127.0.0.1", "ISSUER="+p.URL)
	out := &limited{b: &p.log, n: 64 << 10}
	p.cmd.Stdout, p.cmd.Stderr = out, out // one writer: exec serialises it
	p.out = out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting mockin: %w", err)
	}
	md, err := p.waitReady(ctx)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.PersonEndpoint, _ = md["person_token_endpoint"].(string)
	if p.PersonEndpoint == "" {
		p.Close()
		return nil, fmt.Errorf("mockin metadata has no person_token_endpoint: %v", md)
	}
	trust, err := json.Marshal(map[string]any{"trusted_servers": map[string]any{
		ap.Issuer(): map[string]any{"metadata": ap.Metadata(), "jwks": ap.JWKS()}}})
	if err != nil {
		p.Close()
		return nil, err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, p.URL+"/mock/aauth", bytes.NewReader(trust))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			err = fmt.Errorf("PUT /mock/aauth: status %d", res.StatusCode)
		}
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("configuring mockin: %w", err)
	}
	return p, nil
}

// Pid is the Node process's id, for its CPU and RSS.
func (p *Peer) Pid() int { return p.cmd.Process.Pid }

// Close stops Mockin.
func (p *Peer) Close() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

func (p *Peer) waitReady(ctx context.Context) (map[string]any, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+aauth.WellKnownPath(aauth.DWKPerson), nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			var md map[string]any
			err = json.NewDecoder(io.LimitReader(res.Body, maxAnswer)).Decode(&md)
			res.Body.Close()
			if err == nil {
				return md, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("mockin did not start: %v\n%s", err, p.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PersonToken is one person token request to Mockin, signed by a.
func (p *Peer) PersonToken(ctx context.Context, c *http.Client, a *Agent, resource string) error {
	body, err := json.Marshal(map[string]any{"resource": resource, "load_seq": a.next()})
	if err != nil {
		return err
	}
	req := a.NewRequest(http.MethodPost, p.PersonEndpoint, body).WithContext(ctx)
	if _, err := a.Sign(req, body); err != nil {
		return err
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(io.LimitReader(res.Body, maxAnswer)).Decode(&out); err != nil {
		return fmt.Errorf("mockin answer: %w", err)
	}
	if pt, _ := out["person_token"].(string); res.StatusCode != http.StatusOK || pt == "" {
		return fmt.Errorf("%w from mockin: %d %v", errStatus, res.StatusCode, out)
	}
	return nil
}

// freePort is a port for mockin, which binds it once Node has started.
func freePort() (int, error) {
	addr, err := loopback.FreeAddr()
	if err != nil {
		return 0, err
	}
	_, port, _ := net.SplitHostPort(addr)
	return strconv.Atoi(port)
}

// limited is a writer keeping the first n bytes.
type limited struct {
	mu sync.Mutex
	b  *bytes.Buffer
	n  int
}

func (l *limited) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func (l *limited) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
