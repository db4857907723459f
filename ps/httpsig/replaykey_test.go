package httpsig_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// withSignature is a copy of the received request r whose Signature member
// is replaced by edit(signature bytes).
func withSignature(tb testing.TB, r *http.Request, body []byte, edit func([]byte) ([]byte, error)) *http.Request {
	tb.Helper()
	dict, err := httpsfv.UnmarshalDictionary(r.Header.Values(aauth.HeaderSignature))
	if err != nil || len(dict.Names()) != 1 {
		tb.Fatalf("Signature %q: %v", r.Header.Values(aauth.HeaderSignature), err)
	}
	label := dict.Names()[0]
	member, _ := dict.Get(label)
	sig, err := edit(member.(httpsfv.Item).Value.([]byte))
	if err != nil {
		tb.Fatal(err)
	}
	c := r.Clone(context.Background())
	c.Header.Set(aauth.HeaderSignature, label+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	c.Body = io.NopCloser(bytes.NewReader(body))
	return c
}

// TestReplayKeyIgnoresSignatureEncoding: PS-027, A-37 (issue 15 item 1).
// An ES256 signature r‖s and its twin r‖(n−s) both verify; the replay
// cache must take the twin, or a second ECDSA signature of the same base,
// for the request it already saw.
func TestReplayKeyIgnoresSignatureEncoding(t *testing.T) {
	t.Run("the twin verifies on its own", func(t *testing.T) {
		// Without this the refusals below could come from a bad signature.
		f := newFixture(t, aauth.AlgEd25519, aauth.AlgES256)
		r, body := f.post(t, nil)
		if _, err := f.verify(withSignature(t, r, body, conformance.ECDSATwin), body); err != nil {
			t.Fatalf("the (r, n−s) twin does not verify: %v", err)
		}
	})
	for _, tc := range []struct {
		name        string
		first, then func(t *testing.T, f *fixture, r *http.Request, body []byte) *http.Request
	}{
		{"original then twin",
			func(_ *testing.T, _ *fixture, r *http.Request, _ []byte) *http.Request { return r },
			func(t *testing.T, _ *fixture, r *http.Request, body []byte) *http.Request {
				return withSignature(t, r, body, conformance.ECDSATwin)
			}},
		{"twin then original",
			func(t *testing.T, _ *fixture, r *http.Request, body []byte) *http.Request {
				return withSignature(t, r, body, conformance.ECDSATwin)
			},
			func(t *testing.T, _ *fixture, r *http.Request, body []byte) *http.Request {
				c := r.Clone(context.Background())
				c.Body = io.NopCloser(bytes.NewReader(body))
				return c
			}},
		{"a second ECDSA signature of the same base",
			func(_ *testing.T, _ *fixture, r *http.Request, _ []byte) *http.Request { return r },
			func(t *testing.T, f *fixture, r *http.Request, body []byte) *http.Request {
				// Same token, created, method, target and body: the same base,
				// signed again with a fresh random nonce.
				again, _ := f.request(t, f.token(t), http.MethodPost, body)
				if again.Header.Get(aauth.HeaderSignature) == r.Header.Get(aauth.HeaderSignature) {
					t.Fatal("ECDSA signed the same base to the same bytes twice")
				}
				return again
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, aauth.AlgEd25519, aauth.AlgES256)
			r, body := f.post(t, nil)
			if _, err := f.verify(tc.first(t, f, r, body), body); err != nil {
				t.Fatal(err)
			}
			_, err := f.verify(tc.then(t, f, r, body), body)
			if se := sigErr(t, err, aauth.SigInvalidSignature); !strings.Contains(se.Detail, "already been used") {
				t.Fatalf("detail %q, want the replay refusal", se.Detail)
			}
			if n := len(f.replay.entries()); n != 1 {
				t.Fatalf("replay entries = %d, want the first request's only", n)
			}
		})
	}
}

// TestReplayKey: the key is what was signed and by whom.
func TestReplayKey(t *testing.T) {
	base := sha256.Sum256([]byte(`"@method": POST`))
	other := sha256.Sum256([]byte(`"@method": PUT`))
	k := httpsig.ReplayKey("thumb", base)
	if k != httpsig.ReplayKey("thumb", base) {
		t.Fatal("not deterministic")
	}
	if k == httpsig.ReplayKey("thumb2", base) {
		t.Fatal("the signing key does not matter")
	}
	if k == httpsig.ReplayKey("thumb", other) {
		t.Fatal("the signature base does not matter")
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(k) {
		t.Fatalf("key %q is not a hex SHA-256", k)
	}
	if len(k) > store.MaxReplayKeyLength {
		t.Fatalf("key of %d bytes exceeds the store's %d", len(k), store.MaxReplayKeyLength)
	}
}

// TestObserverAlgorithmNotAcceptedFromTheWire: the private algorithm name
// under which the signature-base observer is registered with jwx is never
// an accepted algorithm (PS-026): an agent token naming it is invalid_jwt.
func TestObserverAlgorithmNotAcceptedFromTheWire(t *testing.T) {
	f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
	r, body := f.post(t, []claims{setHeader("alg", "x-aauth-ps-observed-signature-base")})
	_, err := f.verify(r, body)
	sigErr(t, err, aauth.SigInvalidJWT)
	f.nothingWritten(t)
}
