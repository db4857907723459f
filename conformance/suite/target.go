package suite

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// maxResponse bounds what the suite reads of a response body.
const maxResponse = 1 << 20

// Response is a PS answer read in full.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	// Body is the JSON object in Raw, or nil.
	Body map[string]any
}

// String summarises the response for failure details.
func (r *Response) String() string {
	raw := string(r.Raw)
	if len(raw) > 300 {
		raw = raw[:300] + "…"
	}
	return fmt.Sprintf("%d %s", r.Status, strings.TrimSpace(raw))
}

// Do sends req with t.Client under ctx and reads the whole answer.
func (t *Target) Do(ctx context.Context, req *http.Request) (*Response, error) {
	res, err := t.Client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL, err)
	}
	r := &Response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	_ = json.Unmarshal(raw, &r.Body)
	return r, nil
}

// get sends an unsigned GET.
func (t *Target) get(ctx context.Context, u string) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return t.Do(ctx, req)
}

// MetadataURL is where the PS metadata is fetched from.
func (t *Target) MetadataURL() string { return t.Issuer + aauth.WellKnownPath(aauth.DWKPerson) }

// Metadata fetches the PS metadata once (a success is cached).
func (t *Target) Metadata(ctx context.Context) (map[string]any, error) {
	t.mu.Lock()
	md := t.md
	t.mu.Unlock()
	if md != nil {
		return md, nil
	}
	r, err := t.get(ctx, t.MetadataURL())
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK || r.Body == nil {
		return nil, fmt.Errorf("GET %s: %s", t.MetadataURL(), r)
	}
	t.mu.Lock()
	t.md = r.Body
	t.mu.Unlock()
	return r.Body, nil
}

// advertised returns the metadata member name as a string, "" when absent.
func (t *Target) advertised(ctx context.Context, name string) (string, error) {
	md, err := t.Metadata(ctx)
	if err != nil {
		return "", err
	}
	s, _ := md[name].(string)
	return s, nil
}

// endpoint is Target.Endpoint or the auth_token_endpoint.
func (t *Target) endpoint(ctx context.Context) (string, error) {
	if t.Endpoint != "" {
		return t.Endpoint, nil
	}
	ep, err := t.advertised(ctx, "auth_token_endpoint")
	if err != nil {
		return "", err
	}
	if ep == "" {
		return "", errors.New("the metadata has no auth_token_endpoint to send signed requests to")
	}
	return ep, nil
}

func (t *Target) body() []byte {
	if t.Body != nil {
		return t.Body
	}
	return DefaultBody
}

// window is the signature window the PS advertises (default 60 s).
func (t *Target) window(ctx context.Context) time.Duration {
	md, err := t.Metadata(ctx)
	if err == nil {
		if n, ok := md["signature_window"].(float64); ok && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return aauth.DefaultSignatureWindowSeconds * time.Second
}

// apHost is the host of the agent provider ap.
func apHost(ap *conformance.AgentProvider) string { return ap.Host() }

// local is the local part of the target agent's identifier.
func (t *Target) local() string {
	id := strings.TrimPrefix(t.Agent.ID, "aauth:")
	if i := strings.LastIndex(id, "@"); i >= 0 {
		return id[:i]
	}
	return id
}

// mintFrom mints an agent token from ap for the target agent's key with
// spec's changes (Sub defaults to the target agent's local part at ap).
func (t *Target) mintFrom(ap *conformance.AgentProvider, spec conformance.TokenSpec) (*conformance.Agent, error) {
	if spec.Agent == nil {
		spec.Agent = t.Agent.Key
	}
	if spec.Sub == "" {
		spec.Sub = "aauth:" + t.local() + "@" + apHost(ap)
	}
	tok, err := ap.MintAgentToken(spec)
	if err != nil {
		return nil, err
	}
	return &conformance.Agent{Key: spec.Agent, Token: tok, ID: spec.Sub, Issuer: ap.Issuer()}, nil
}

// mint mints a token from the target AP (see mintFrom).
func (t *Target) mint(spec conformance.TokenSpec) (*conformance.Agent, error) {
	if spec.Sub == "" {
		spec.Sub = t.Agent.ID
	}
	return t.mintFrom(t.AP, spec)
}

// fresh is the target agent with a newly minted token.
func (t *Target) fresh() (*conformance.Agent, error) { return t.mint(conformance.TokenSpec{}) }

// sign builds and signs a request as a.
func sign(a *conformance.Agent, method, u string, body []byte, opts ...conformance.SignOption) (*http.Request, error) {
	req, err := newRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	if _, err := a.Sign(req, body, opts...); err != nil {
		return nil, err
	}
	return req, nil
}

// newRequest is conformance.NewRequest without its panic.
func newRequest(method, u string, body []byte) (*http.Request, error) {
	if _, err := url.Parse(u); err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// signedToEndpoint signs t.Body for Endpoint as a fresh token of the agent.
func (t *Target) signedToEndpoint(ctx context.Context, opts ...conformance.SignOption) (*http.Request, error) {
	ep, err := t.endpoint(ctx)
	if err != nil {
		return nil, err
	}
	a, err := t.fresh()
	if err != nil {
		return nil, err
	}
	return sign(a, http.MethodPost, ep, t.body(), opts...)
}

// signedAs signs t.Body for Endpoint as agent a.
func (t *Target) signedAs(ctx context.Context, a *conformance.Agent, opts ...conformance.SignOption) (*http.Request, error) {
	ep, err := t.endpoint(ctx)
	if err != nil {
		return nil, err
	}
	return sign(a, http.MethodPost, ep, t.body(), opts...)
}

// checkVerified applies Target.Verified to answers from Endpoint and
// ExpectVerified to the rest.
func (t *Target) checkVerified(ctx context.Context, req *http.Request, r *Response) error {
	if ep, err := t.endpoint(ctx); err == nil && t.Verified != nil && req.URL.String() == ep {
		return t.Verified(r)
	}
	return ExpectVerified(r)
}

// revoke makes the PS hold a revocation of agent token (iss, jti).
func (t *Target) revoke(ctx context.Context, iss, jti string, exp time.Time) error {
	if t.Revoke != nil {
		return t.Revoke(ctx, iss, jti, exp)
	}
	ep, err := t.advertised(ctx, "revocation_endpoint")
	if err != nil {
		return err
	}
	if ep == "" {
		return NotApplicable("revocation_endpoint not advertised and no revocation harness (Target.Revoke)")
	}
	body, err := json.Marshal(map[string]any{"jti": jti, "exp": exp.Unix()})
	if err != nil {
		return err
	}
	req, err := newRequest(http.MethodPost, ep, body)
	if err != nil {
		return err
	}
	if _, err := t.AP.ServerSigner().Sign(req, body); err != nil {
		return err
	}
	r, err := t.Do(ctx, req)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK && r.Status != http.StatusAccepted {
		return fmt.Errorf("revoking the agent token at %s (signed as %s): %s, want 200 or 202", ep, t.AP.Issuer(), r)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
