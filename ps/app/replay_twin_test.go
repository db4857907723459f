package app_test

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestReplayOfES256Twin: PS-027, A-37 (issue 15 item 1). Anyone who saw a
// signed POST from a P-256 agent can re-encode its signature r‖s as
// r‖(n−s), which verifies as well. The PS must refuse that copy as the
// replay it is (401, Signature-Error invalid_signature) and write nothing,
// on both databases.
func TestReplayOfES256Twin(t *testing.T) {
	for name, opt := range map[string]func(t *testing.T) pstest.Options{
		"sqlite": func(*testing.T) pstest.Options { return pstest.Options{} },
		"postgres": func(t *testing.T) pstest.Options {
			return pstest.Options{DatabaseURL: storetest.NewMigratedPostgresURL(t)}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, _, _ := missionWorld(t, opt(t))
			key, err := conformance.NewAgentKey(aauth.AlgES256)
			if err != nil {
				t.Fatal(err)
			}
			p256 := w.mint(t, conformance.TokenSpec{Agent: key, IssuedAt: w.clock.Now()})

			body := []byte(`{"resource":"https://rs.test","capabilities":["interaction"]}`)
			req := p256.NewRequest(http.MethodPost, w.ps.URL("/person"), body)
			sig, err := p256.Sign(req, body, conformance.WithCreatedOffset(w.clock.Offset()))
			if err != nil {
				t.Fatal(err)
			}
			twinSig, err := conformance.ECDSATwin(sig.Signature)
			if err != nil {
				t.Fatal(err)
			}
			twinReq := twin(t, req, body)
			twinReq.Header.Set(aauth.HeaderSignature, sig.Label+"=:"+base64.StdEncoding.EncodeToString(twinSig)+":")

			// The first use asks the person (a pending request is stored).
			w.expectInteraction(t, w.do(t, req))
			before := w.ps.TableCounts(t)
			expect401(t, w.do(t, twinReq), aauth.SigInvalidSignature)
			unchanged(t, w.ps, before)
		})
	}
}
