package httpsig_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
)

// alwaysFresh is a replay cache that forgets, so every fuzz input is judged
// on its own.
type alwaysFresh struct{}

func (alwaysFresh) RememberSignature(context.Context, string, time.Time) (bool, error) {
	return true, nil
}

func (alwaysFresh) RememberAgentSignature(context.Context, string, time.Time, string, string) (bool, bool, error) {
	return true, false, nil
}

// FuzzSignatureHeaders drives the Verifier with arbitrary Signature-Input,
// Signature and Signature-Key values (structured-field parsing, the
// Signature-Key member, the JWT inside it and RFC 9421 verification) on an
// otherwise valid signed POST. It must never panic, and must answer with
// success, a *aauth.SignatureError or a *aauth.Problem, never another error
// type (PS-013, PS-030). With fakes that never fail, a Problem would be an
// input-driven internal error, so none is allowed either.
//
// A value is split on "\n" into several field lines; an empty value drops
// the header.
func FuzzSignatureHeaders(f *testing.F) {
	fx := newFixture(f, aauth.AlgEd25519, aauth.AlgEd25519, func(c *httpsig.Config) { c.Replay = alwaysFresh{} })
	base, body := fx.post(f, nil)

	seed := func(r *http.Request) {
		f.Add(r.Header.Get(aauth.HeaderSignatureInput), r.Header.Get(aauth.HeaderSignature), r.Header.Get(aauth.HeaderSignatureKey))
	}
	seed(base)
	for _, opts := range [][]conformance.SignOption{
		{conformance.WithLabel("aauth")},
		{conformance.WithParam("alg", "hmac-sha256"), conformance.WithParam("keyid", "x")},
		{conformance.WithExpires(t0.Add(30 * time.Second))},
		{conformance.WithCreatedRaw(`"x"`)},
		{conformance.WithCreatedRaw("1.5")},
		{conformance.WithoutCreated()},
		{conformance.WithoutComponent("@path")},
		{conformance.WithExtraComponents("@query")},
		{conformance.WithScheme("hwk")},
		{conformance.WithScheme("jwks_uri")},
		{conformance.WithScheme("x509")},
		{conformance.WithScheme("cached")},
		{conformance.WithKeyLabel("other")},
		{conformance.WithCorruptSignature()},
		{conformance.WithSignatureInput(`sig=("@method");created=1, sig2=("@method");created=1`)},
		{conformance.WithSignatureKey("sig=jwt;jwt=unquoted==")},
		{conformance.WithSignature("sig=not base64")},
	} {
		r, _ := fx.post(f, nil, opts...)
		seed(r)
	}
	for _, edits := range [][]claims{
		{setHeader("typ", aauth.TypPersonToken)},
		{setHeader("alg", "none")},
		{dropHeader("kid")},
		{setHeader("crit", []string{"exp"})},
		{setClaim("sub", "aauth:a1+s1@ap.test"), setClaim("parent_agent", agentID)},
		{setClaim("iss", "http://ap.test")},
		{setClaim("exp", "soon")},
	} {
		r, _ := fx.post(f, edits)
		seed(r)
	}
	f.Add("(((", "sig=:AAAA:", `sig=jwt;jwt="a.b.c"`)
	f.Add(`sig=();created=1800000000`, `sig=:`+strings.Repeat("A", 88)+`:`, `sig=jwt;jwt="e30.e30.AAAA"`)

	f.Fuzz(func(t *testing.T, sigInput, sig, sigKey string) {
		r := base.Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(body))
		for name, v := range map[string]string{
			aauth.HeaderSignatureInput: sigInput, aauth.HeaderSignature: sig, aauth.HeaderSignatureKey: sigKey,
		} {
			r.Header.Del(name)
			if v != "" {
				for _, line := range strings.Split(v, "\n") {
					r.Header.Add(name, line)
				}
			}
		}
		_, err := fx.v.Verify(context.Background(), r, body, httpsig.Policy{})
		switch e := err.(type) {
		case nil:
		case *aauth.SignatureError:
			if e.Code == "" {
				t.Fatalf("SignatureError without a code: %v", e)
			}
		case *aauth.Problem:
			t.Fatalf("input produced a %d problem: %v", e.Status, e)
		default:
			t.Fatalf("Verify returned %T: %v", err, err)
		}
	})
}
