package revocation

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
)

// Metadata is the cached discovery of a recipient's metadata (*fetch.Discovery).
type Metadata interface {
	Metadata(ctx context.Context, issuer, dwk string) (map[string]any, error)
}

// Doer sends a request under the egress policy (*fetch.Client).
type Doer interface {
	Do(req *http.Request) (*fetch.Response, error)
}

// RequestSigner signs a request as the PS (*pssign.Signer).
type RequestSigner interface {
	Sign(ctx context.Context, req *http.Request, body []byte) error
}

// HTTPSender sends the PS's revocations to resources: the recipient's
// `revocation_endpoint` from its metadata, a POST of `{jti, exp}` signed as
// the PS and covering content-type and content-digest (PS-292), through
// the egress-guarded client. Outcomes as in P§revocation-response.
type HTTPSender struct {
	Metadata Metadata
	Client   Doer
	Signer   RequestSigner
	// PresentedTo lists the access servers a person token was presented
	// to (four-party): such a recipient's metadata is aauth-access.json.
	PresentedTo func(ctx context.Context, jti string) ([]string, error)
}

// Send implements Sender.
func (h *HTTPSender) Send(ctx context.Context, recipient, jti string, exp time.Time) string {
	dwk := aauth.DWKResource
	if h.PresentedTo != nil {
		if ases, err := h.PresentedTo(ctx, jti); err == nil && slices.Contains(ases, recipient) {
			dwk = aauth.DWKAccess
		}
	}
	md, err := h.Metadata.Metadata(ctx, recipient, dwk)
	if err != nil {
		return OutcomeUnavailable
	}
	endpoint, _ := md["revocation_endpoint"].(string)
	if endpoint == "" {
		return OutcomeUnsupported
	}
	if u, err := url.Parse(endpoint); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return OutcomeUnavailable // a malformed endpoint is the recipient's failure
	}
	body, err := json.Marshal(map[string]any{"jti": jti, "exp": exp.Unix()})
	if err != nil {
		return OutcomeUnavailable
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return OutcomeUnavailable
	}
	req.Header.Set("Content-Type", "application/json")
	if err := h.Signer.Sign(ctx, req, body); err != nil {
		return OutcomeUnavailable
	}
	res, err := h.Client.Do(req)
	if err != nil {
		return OutcomeUnavailable
	}
	return outcomeOf(res)
}

// outcomeOf reads a recipient's answer: a 200 whose body is empty or a JSON
// object is recorded there; `unsupported_iss` is revocation_unsupported;
// anything else (5xx, a timeout, a malformed answer) revocation_unavailable.
func outcomeOf(res *fetch.Response) string {
	switch {
	case res.StatusCode == http.StatusOK:
		if len(bytes.TrimSpace(res.Body)) == 0 {
			return OutcomeRevoked
		}
		var obj map[string]any
		if json.Unmarshal(res.Body, &obj) != nil || obj == nil {
			return OutcomeUnavailable
		}
		return OutcomeRevoked
	case res.StatusCode == http.StatusForbidden:
		var p struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(res.Body, &p) == nil && p.Error == aauth.ErrUnsupportedIss {
			return OutcomeUnsupported
		}
	}
	return OutcomeUnavailable
}
