package httpsig_test

import (
	"context"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
)

// benchVerify measures a full Verify of a signed POST (PS-REQUIREMENTS §2.5
// steps 1-8): header parsing, the agent token with a cached agent-provider
// key, revocation lookup, cnf.jwk admission, the RFC 9421 signature, the
// Content-Digest and the in-memory replay cache (cleared after each
// iteration so the same request stays fresh). It feeds `make bench`; no
// timing is asserted.
func benchVerify(b *testing.B, alg string) {
	fx := newFixture(b, alg, alg)
	r, body := fx.post(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fx.v.Verify(ctx, r, body, httpsig.Policy{}); err != nil {
			b.Fatal(err)
		}
		fx.replay.reset()
	}
}

// BenchmarkVerifyEd25519: agent and agent provider keys are Ed25519.
func BenchmarkVerifyEd25519(b *testing.B) { benchVerify(b, aauth.AlgEd25519) }

// BenchmarkVerifyES256: agent and agent provider keys are ES256 (P-256).
func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, aauth.AlgES256) }
