package conformance

import (
	"bytes"
	"io"
	"net/http"
)

// Agent bundles an agent's key, its agent token and identifier: the
// default credential of a signed request (SR in PS-REQUIREMENTS §3).
type Agent struct {
	Key    *AgentKey
	Token  string
	ID     string // agent identifier (the token's sub)
	Issuer string // the AP that issued Token
}

// WithToken returns a copy of the agent presenting tok instead (same key),
// for example a token minted with bad claims.
func (a *Agent) WithToken(tok string) *Agent {
	c := *a
	c.Token = tok
	return &c
}

// Signer returns a Signer presenting the agent token under the jwt scheme.
func (a *Agent) Signer() *Signer { return &Signer{Key: a.Key, Token: a.Token} }

// NewRequest is the package-level NewRequest.
func (a *Agent) NewRequest(method, url string, body []byte) *http.Request {
	return NewRequest(method, url, body)
}

// Sign signs req as the agent; see Signer.Sign and the SignOptions.
func (a *Agent) Sign(req *http.Request, body []byte, opts ...SignOption) (*Signed, error) {
	return a.Signer().Sign(req, body, opts...)
}

// Do builds, signs and sends a request with client c.
func (a *Agent) Do(c *http.Client, method, url string, body []byte, opts ...SignOption) (*http.Response, error) {
	req := NewRequest(method, url, body)
	if _, err := a.Sign(req, body, opts...); err != nil {
		return nil, err
	}
	return c.Do(req)
}

// NewRequest builds a request for method and url. A non-nil body is set as
// the request body with Content-Type: application/json. It panics on an
// invalid method or URL, like httptest.NewRequest: these are programming
// errors in a test.
func NewRequest(method, url string, body []byte) *http.Request {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		panic("conformance: NewRequest: " + err.Error())
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}
