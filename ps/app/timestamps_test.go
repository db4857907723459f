package app_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/internal/tsatest"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/mission/governance"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/lifecycle"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestEvidenceHeadsAnchoredWithRFC3161 (design §7, Level 4: signed chain
// heads anchored externally, RFC 3161): with --evidence-tsa-url (and
// --evidence-tsa-roots) every head a lifecycle transition signs is
// stamped by a real TSA on loopback HTTPS once the transition committed,
// and the token stored beside it; the export carries the tokens and the
// bundle verifies with the TSA's roots. The TSA down: the transition
// commits, its head stands unanchored, and the sweep anchors it once the
// TSA is back and the back-off passed. The TSA answering with a token over
// other bytes, or with tokens whose signingCertificate(V2) attribute is
// missing or names another certificate: refused, nothing stored, anchored
// later by the sweep. A tampered token, or one moved to another head, fails the bundle at that
// head.
func TestEvidenceHeadsAnchoredWithRFC3161(t *testing.T) {
	t.Parallel()
	var tsa *pstest.TSA
	w := newWorldWith(t, pstest.Options{Configure: func(c *config.Config) {
		c.EvidenceTSAURL, c.EvidenceTSARoots = tsa.URL, tsa.RootsFile
		// No revocation_result records arriving meanwhile: the heads
		// counted are the transitions'.
		c.MissionSuspendRevokes = false
	}}, func(env *pstest.Env) {
		tsa = env.StartTSA(t, "tsa.test")
		rs, err := conformance.StartResource(env.CA, env.Resolver, "rs.test")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
	})
	b := w.person(t, "alice", false)
	w.bind(t, w.agent, b)
	m := w.approveMission(t, w.agent, b, `{"description":"# Stamp me","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	a := w.ps.App
	by := lifecycle.Actor{Kind: governance.ByAdmin, ID: "test"}
	settle := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctxT(), 30*time.Second)
		defer cancel()
		if !a.Stamps.WaitIdle(ctx) {
			t.Fatal("time-stamp requests still in flight after 30 s")
		}
	}
	anchored := func(want int) {
		t.Helper()
		got, err := a.Store.Timestamps(ctxT(), m.s256)
		if err != nil || len(got) != want {
			t.Fatalf("%d heads anchored (%v), want %d", len(got), err, want)
		}
	}
	sweep := func(want int, wantErr string) {
		t.Helper()
		n, err := a.Stamps.AnchorDue(ctxT())
		if n != want || (err == nil) != (wantErr == "") || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("AnchorDue = %d, %v; want %d, %q", n, err, want, wantErr)
		}
	}

	// Two transitions: two signed heads, each stamped after its commit.
	if _, err := a.Lifecycle.Suspend(ctxT(), m.s256, by, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lifecycle.Resume(ctxT(), m.s256, by); err != nil {
		t.Fatal(err)
	}
	settle()
	anchored(2)
	if n := tsa.Requests(); n != 2 {
		t.Fatalf("the TSA was asked %d times, want 2", n)
	}
	bundle := exportBundle(t, w, b, m.s256)
	keys, err := evidence.ParseKeySet(bundle.JWKS)
	if err != nil {
		t.Fatal(err)
	}
	rep := evidence.VerifyWith(bundle, keys, tsa.Roots())
	if !rep.OK || rep.SignedHeads != 2 || len(rep.Anchored) != 2 || !rep.Anchored[0].ChainVerified ||
		!strings.Contains(rep.Anchored[0].TSA, "tsatest TSA") || rep.Anchored[1].Seq != rep.LastSignedSeq+1 {
		t.Fatalf("the export: %+v", rep)
	}

	// The TSA down: the transition commits; its head stands unanchored
	// until the sweep, once the TSA answers and the back-off passed.
	tsa.SetMode(tsatest.Down)
	if _, err := a.Lifecycle.Suspend(ctxT(), m.s256, by, 0); err != nil {
		t.Fatalf("a transition with the TSA down: %v", err)
	}
	settle()
	anchored(2)
	bundle = exportBundle(t, w, b, m.s256)
	if rep := evidence.VerifyWith(bundle, keys, tsa.Roots()); !rep.OK || rep.SignedHeads != 3 || len(rep.Anchored) != 2 {
		t.Fatalf("an export with an unanchored head: %+v", rep)
	}
	tsa.SetMode(tsatest.Good)
	sweep(0, "") // not due before its back-off
	w.clock.Advance(time.Minute)
	sweep(1, "")
	anchored(3)
	sweep(0, "")

	// The TSA answering with a token over other bytes: refused, nothing
	// stored; the sweep meets the same answer, then anchors the head once
	// the TSA stamps what it is asked.
	tsa.SetMode(tsatest.OtherImprint)
	if _, err := a.Lifecycle.Resume(ctxT(), m.s256, by); err != nil {
		t.Fatal(err)
	}
	settle()
	anchored(3)
	w.clock.Advance(time.Minute)
	sweep(0, "stamps other bytes")
	anchored(3)
	tsa.SetMode(tsatest.Good)
	w.clock.Advance(2 * time.Minute)
	sweep(1, "")
	anchored(4)

	// The TSA answering with tokens that do not name the certificate
	// that signed them (RFC 3161 §2.4.1): without a signingCertificate
	// attribute, then naming its root; refused, nothing stored, anchored
	// once its tokens name their signer.
	for _, c := range []struct {
		ess    tsatest.ESS
		change func() (*lifecycle.Result, error)
	}{
		{tsatest.ESSNone, func() (*lifecycle.Result, error) { return a.Lifecycle.Suspend(ctxT(), m.s256, by, 0) }},
		{tsatest.ESSOtherCert, func() (*lifecycle.Result, error) { return a.Lifecycle.Resume(ctxT(), m.s256, by) }},
	} {
		tsa.SetESS(c.ess)
		if _, err := c.change(); err != nil {
			t.Fatal(err)
		}
		settle()
	}
	anchored(4)
	w.clock.Advance(time.Minute)
	sweep(0, "its signingCertificateV2 attribute names another certificate")
	tsa.SetESS(tsatest.ESSv2)
	w.clock.Advance(2 * time.Minute)
	sweep(2, "")
	anchored(6)

	// An export signs the head over a later decision, and carries its
	// token: it waits for the TSA's answer.
	if r := w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)); r.status != http.StatusOK {
		t.Fatalf("person token: %d %s", r.status, r.raw)
	}
	bundle = exportBundle(t, w, b, m.s256)
	if rep := evidence.VerifyWith(bundle, keys, tsa.Roots()); !rep.OK || rep.SignedHeads != 7 || len(rep.Anchored) != 7 ||
		rep.Anchored[6].Seq != int64(len(bundle.Records)-1) {
		t.Fatalf("the final export: %+v over %d records", rep, len(bundle.Records))
	}
	anchored(7)
	// A tampered token, and a token moved to another head, fail the
	// bundle at that head.
	tampered := bundle
	tampered.Timestamps = append([]evidence.HeadTimestamp(nil), bundle.Timestamps...)
	der, _ := base64.RawURLEncoding.DecodeString(tampered.Timestamps[1].Token)
	der[len(der)-5] ^= 1 // in the signature
	tampered.Timestamps[1].Token = base64.RawURLEncoding.EncodeToString(der)
	if rep := evidence.VerifyWith(tampered, keys, tsa.Roots()); rep.OK || rep.FirstBad != int(bundle.Timestamps[1].Seq) ||
		!strings.Contains(rep.Problem, "time-stamp token") {
		t.Fatalf("a tampered token: %+v", rep)
	}
	moved := bundle
	moved.Timestamps = append([]evidence.HeadTimestamp(nil), bundle.Timestamps...)
	moved.Timestamps[0].Token = bundle.Timestamps[1].Token
	if rep := evidence.VerifyWith(moved, keys, tsa.Roots()); rep.OK || rep.FirstBad != int(bundle.Timestamps[0].Seq) ||
		!strings.Contains(rep.Problem, "stamps other bytes") {
		t.Fatalf("a token of another head: %+v", rep)
	}
}
