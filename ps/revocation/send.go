package revocation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
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
	// Identifiers checks the resource identifiers an access server
	// reports downstream.
	Identifiers aauth.IdentifierPolicy
}

// Send implements Sender.
func (h *HTTPSender) Send(ctx context.Context, recipient, jti string, exp time.Time) Result {
	dwk := aauth.DWKResource
	if h.PresentedTo != nil {
		if ases, err := h.PresentedTo(ctx, jti); err == nil && slices.Contains(ases, recipient) {
			dwk = aauth.DWKAccess
		}
	}
	md, err := h.Metadata.Metadata(ctx, recipient, dwk)
	if err != nil {
		return Result{Outcome: OutcomeUnavailable}
	}
	endpoint, _ := md["revocation_endpoint"].(string)
	if endpoint == "" {
		return Result{Outcome: OutcomeUnsupported}
	}
	if u, err := url.Parse(endpoint); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return Result{Outcome: OutcomeUnavailable} // a malformed endpoint is the recipient's failure
	}
	body, err := json.Marshal(map[string]any{"jti": jti, "exp": exp.Unix()})
	if err != nil {
		return Result{Outcome: OutcomeUnavailable}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Result{Outcome: OutcomeUnavailable}
	}
	req.Header.Set("Content-Type", "application/json")
	if err := h.Signer.Sign(ctx, req, body); err != nil {
		return Result{Outcome: OutcomeUnavailable}
	}
	res, err := h.Client.Do(req)
	if err != nil {
		return Result{Outcome: OutcomeUnavailable}
	}
	return outcomeOf(res, dwk == aauth.DWKAccess, h.Identifiers)
}

// Bounds of an access server's report the PS reads (docs/decisions.md).
const (
	maxDownstream    = 100
	maxRecipientSize = 2048
)

// outcomeOf reads a recipient's answer: a 200 whose body is empty or a JSON
// object is recorded there, with the `downstream` report an access server
// (fromAS) gives (P§revocation-response); `unsupported_iss` is
// revocation_unsupported; anything else (5xx, a timeout, a malformed
// answer or report) revocation_unavailable.
func outcomeOf(res *fetch.Response, fromAS bool, ids aauth.IdentifierPolicy) Result {
	switch {
	case res.StatusCode == http.StatusOK:
		if len(bytes.TrimSpace(res.Body)) == 0 {
			return Result{Outcome: OutcomeRevoked}
		}
		ds, err := readReport(res.Body, fromAS, ids)
		if err != nil {
			return Result{Outcome: OutcomeUnavailable}
		}
		return Result{Outcome: OutcomeRevoked, Downstream: ds}
	case res.StatusCode == http.StatusForbidden:
		var p struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(res.Body, &p) == nil && p.Error == aauth.ErrUnsupportedIss {
			return Result{Outcome: OutcomeUnsupported}
		}
	}
	return Result{Outcome: OutcomeUnavailable}
}

// readReport reads a 200's body: a JSON object (strictly: a duplicate
// member is not guessed at) whose optional `downstream` array, read from
// an access server only (the draft has only an AS report; a resource has
// nothing downstream), holds at most maxDownstream entries, each an
// object with `recipient` a resource identifier of at most
// maxRecipientSize bytes and `error` absent or one of the two outcomes.
// Anything else is a body the PS cannot parse: an error, the whole report
// dropped (P§revocation-response: read as revocation_unavailable).
func readReport(body []byte, fromAS bool, ids aauth.IdentifierPolicy) ([]Downstream, error) {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, err
	}
	raw, present := m["downstream"]
	if !present || !fromAS {
		return nil, nil
	}
	entries, ok := raw.([]any)
	if !ok {
		return nil, errors.New("downstream is not an array")
	}
	if len(entries) > maxDownstream {
		return nil, fmt.Errorf("downstream has more than %d entries", maxDownstream)
	}
	out := make([]Downstream, 0, len(entries))
	for _, e := range entries {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, errors.New("a downstream entry is not an object")
		}
		recipient, ok := obj["recipient"].(string)
		if !ok || len(recipient) > maxRecipientSize || ids.CheckServer(recipient) != nil {
			return nil, errors.New("a downstream entry's recipient is not a resource identifier")
		}
		d := Downstream{Recipient: recipient}
		if v, present := obj["error"]; present {
			code, _ := v.(string)
			if code != OutcomeUnavailable && code != OutcomeUnsupported {
				return nil, errors.New("a downstream entry's error is neither revocation_unavailable nor revocation_unsupported")
			}
			d.Error = code
		}
		out = append(out, d)
	}
	return out, nil
}
