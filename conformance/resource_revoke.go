package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// The test resource's revocation endpoint (P§revocation-request): it
// verifies a person server's signed revocation — jwks_uri scheme, dwk
// aauth-person.json, the PS's metadata and JWKS, coverage of the base
// components plus content-type and content-digest, the digest itself and a
// `{jti, exp}` body — and records (iss, jti), answering an empty 200.

// Revocations lists the verified revocations received so far.
func (rs *Resource) Revocations() []Revocation {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.revocations)
}

// Revoked reports whether a verified revocation of (iss, jti) arrived.
func (rs *Resource) Revoked(iss, jti string) bool {
	return slices.ContainsFunc(rs.Revocations(), func(r Revocation) bool { return r.Iss == iss && r.JTI == jti })
}

// RevocationRequests counts the requests the revocation endpoint got,
// those it failed included: how often a sender tried.
func (rs *Resource) RevocationRequests() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.revocationRequests
}

// SetRevocationStatus makes the endpoint answer status (e.g. 503) without
// recording (403 with an unsupported_iss problem: it refuses the PS's
// revocations); 0 restores normal service.
func (rs *Resource) SetRevocationStatus(status int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.revocationStatus = status
}

// HoldRevocations makes the endpoint wait before answering until release
// is called (a slow recipient, PS-286).
func (rs *Resource) HoldRevocations() (release func()) {
	ch := make(chan struct{})
	rs.mu.Lock()
	rs.revocationHold = ch
	rs.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			rs.mu.Lock()
			if rs.revocationHold == ch {
				rs.revocationHold = nil
			}
			rs.mu.Unlock()
			close(ch)
		})
	}
}

func (rs *Resource) serveRevoke(w http.ResponseWriter, r *http.Request) {
	rs.mu.Lock()
	status, hold := rs.revocationStatus, rs.revocationHold
	rs.revocationRequests++
	rs.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if status == http.StatusForbidden {
		// A resource that refuses this PS's revocations (PS-292).
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": aauth.ErrUnsupportedIss})
		return
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	rev, err := rs.verifyRevocation(r)
	if err != nil {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set(aauth.HeaderSignatureError, "error=invalid_signature")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_signature", "detail": err.Error()})
		return
	}
	rs.mu.Lock()
	rs.revocations = append(rs.revocations, *rev)
	rs.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rs *Resource) verifyRevocation(r *http.Request) (*Revocation, error) {
	if r.Method != http.MethodPost {
		return nil, errors.New("revocation must be a POST")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	sig, err := verifyPSRequest(r.Context(), rs.httpClient(), r, body, false)
	if err != nil {
		return nil, err
	}
	return parseRevocation(sig, body)
}

// parseRevocation reads the `{jti, exp}` body of a verified revocation.
func parseRevocation(sig *ServerSignature, body []byte) (*Revocation, error) {
	var req struct {
		JTI *string `json:"jti"`
		Exp *int64  `json:"exp"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.JTI == nil || req.Exp == nil {
		return nil, errors.New("the body must be {jti, exp}")
	}
	return &Revocation{Iss: sig.ID, JTI: *req.JTI, Exp: *req.Exp, Components: sig.Components}, nil
}

// coveredComponents reads the component names of Signature-Input's label.
func coveredComponents(r *http.Request, label string) ([]string, error) {
	d, err := httpsfv.UnmarshalDictionary(r.Header.Values(aauth.HeaderSignatureInput))
	if err != nil {
		return nil, fmt.Errorf("Signature-Input: %w", err)
	}
	m, ok := d.Get(label)
	list, isList := m.(httpsfv.InnerList)
	if !ok || !isList {
		return nil, errors.New("Signature-Input has no inner list for the label")
	}
	var out []string
	for _, it := range list.Items {
		if s, ok := it.Value.(string); ok {
			out = append(out, s)
		}
	}
	return out, nil
}
