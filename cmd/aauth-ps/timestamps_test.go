package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/internal/tsatest"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/mission/tsa"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// stampBundle adds a token from a over every signed head of b.
func stampBundle(t *testing.T, b *evidence.Bundle, a *tsatest.TSA) {
	t.Helper()
	for i, raw := range b.Records {
		var r evidence.Record
		var hb evidence.HeadBody
		if json.Unmarshal(raw, &r) != nil || r.Type != evidence.ChainHead {
			continue
		}
		if err := json.Unmarshal(r.Body, &hb); err != nil {
			t.Fatal(err)
		}
		tok, err := a.Token(tsa.HeadImprint(hb.JWS))
		if err != nil {
			t.Fatal(err)
		}
		b.Timestamps = append(b.Timestamps, evidence.HeadTimestamp{Seq: int64(i), Token: base64.RawURLEncoding.EncodeToString(tok)})
	}
}

// TestEvidenceVerifyTimestamps (design §7, Level 4): `evidence verify`
// checks each chain head's RFC 3161 token — parse, imprint of its head,
// the TSA's signature, and with --tsa-roots its certificate chain — and
// prints which heads are anchored and when; a tampered token, a token of
// another head, a token whose signingCertificateV2 attribute names
// another certificate than its signer's (RFC 3161 §2.4.1), or a TSA
// outside --tsa-roots exits 1 naming the head. A
// bundle without tokens verifies as before.
func TestEvidenceVerifyTimestamps(t *testing.T) {
	a, err := tsatest.New()
	if err != nil {
		t.Fatal(err)
	}
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, a.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	b := testBundle(t)
	stampBundle(t, &b, a)
	good := writeBundle(t, b)
	code, out, errOut := runCmd(t, nil, "evidence", "verify", good, "--tsa-roots", roots)
	if code != 0 || !strings.Contains(out, "4 of 4 signed chain heads anchored with an RFC 3161 time-stamp (the TSA's certificate chains to --tsa-roots):") ||
		!strings.Contains(out, "  chain head 2: stamped 20") || !strings.Contains(out, "by CN=tsatest TSA") {
		t.Fatalf("with roots: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runCmd(t, nil, "evidence", "verify", good); code != 0 || !strings.Contains(out, "chain not checked: give --tsa-roots") {
		t.Fatalf("without roots: exit %d\n%s", code, out)
	}
	var rep evidence.Report
	code, out, _ = runCmd(t, nil, "evidence", "verify", "--json", "--tsa-roots", roots, good)
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || len(rep.Anchored) != 4 || !rep.Anchored[3].ChainVerified {
		t.Fatalf("--json: exit %d %v\n%s", code, err, out)
	}
	if code, out, _ := runCmd(t, nil, "evidence", "verify", writeBundle(t, testBundle(t))); code != 0 ||
		!strings.Contains(out, "0 of 4 signed chain heads anchored") {
		t.Fatalf("a bundle without tokens: exit %d\n%s", code, out)
	}

	other, err := tsatest.New()
	if err != nil {
		t.Fatal(err)
	}
	otherRoots := filepath.Join(t.TempDir(), "other.pem")
	_ = os.WriteFile(otherRoots, other.RootPEM(), 0o600)
	// The same heads stamped by a TSA whose tokens name its root, not the
	// certificate that signed them (RFC 3161 §2.4.1).
	misnamed := b
	misnamed.Timestamps = nil
	a.SetESS(tsatest.ESSOtherCert)
	stampBundle(t, &misnamed, a)
	a.SetESS(tsatest.ESSv2)
	for name, c := range map[string]struct {
		tamper func(*evidence.Bundle)
		roots  string
		want   string
	}{
		"tampered token": {func(b *evidence.Bundle) {
			der, _ := base64.RawURLEncoding.DecodeString(b.Timestamps[1].Token)
			der[len(der)-5] ^= 1
			b.Timestamps[1].Token = base64.RawURLEncoding.EncodeToString(der)
		}, roots, "FAILED at mission chain record 4: the time-stamp token of chain head 4 does not verify"},
		"token of another head": {func(b *evidence.Bundle) { b.Timestamps[2].Token = b.Timestamps[0].Token }, roots,
			"FAILED at mission chain record 6: the time-stamp token of chain head 6 does not verify: it stamps other bytes than the head"},
		"token on no head": {func(b *evidence.Bundle) { b.Timestamps[0].Seq = 1 }, roots,
			"FAILED at mission chain record 1: the time-stamp token of chain head 1 names a record that is not a signed chain head"},
		"a token naming another certificate": {func(b *evidence.Bundle) { b.Timestamps[1] = misnamed.Timestamps[1] }, roots,
			"FAILED at mission chain record 4: the time-stamp token of chain head 4 does not verify: its signingCertificateV2 attribute names another certificate than its signer's (CN=tsatest TSA)"},
		"another TSA's roots": {func(*evidence.Bundle) {}, otherRoots, "FAILED at mission chain record 2: the time-stamp token of chain head 2 does not verify: the TSA's certificate does not chain"},
	} {
		t.Run(name, func(t *testing.T) {
			bad := b
			bad.Timestamps = append([]evidence.HeadTimestamp(nil), b.Timestamps...)
			c.tamper(&bad)
			code, out, errOut := runCmd(t, nil, "evidence", "verify", writeBundle(t, bad), "--tsa-roots", c.roots)
			if code != 1 || !strings.HasPrefix(out, c.want) {
				t.Fatalf("exit %d\n%s\n%s\nwant %q", code, out, errOut, c.want)
			}
		})
	}
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	_ = os.WriteFile(notPEM, []byte("x"), 0o600)
	if code, _, errOut := runCmd(t, nil, "evidence", "verify", good, "--tsa-roots", notPEM); code != 1 || !strings.Contains(errOut, "no PEM certificate") {
		t.Fatalf("roots that are no PEM: exit %d %s", code, errOut)
	}
}

// TestEvidenceAnchoredEndToEnd (design §7, Level 4): configured with a
// TSA (a real one on loopback HTTPS), the CLI's lifecycle transitions
// sign heads that are stamped before the command exits; the export
// carries the tokens; `evidence verify --tsa-roots` accepts it and names
// every head anchored — on both databases.
func TestEvidenceAnchoredEndToEnd(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		env := pstest.NewEnv(t)
		ts := env.StartTSA(t, "tsa.test")
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := env.CA.WriteFile(ca); err != nil {
			t.Fatal(err)
		}
		conf := []string{"--evidence-tsa-url", ts.URL, "--evidence-tsa-roots", ts.RootsFile, "--trust-ca", ca,
			"--resolve", "tsa.test=" + ts.Addr, "--egress-allow", "127.0.0.1/32"}
		run := func(args ...string) string {
			t.Helper()
			code, out, errOut := runCmd(t, nil, append(append(args, cliConfig(db)...), conf...)...)
			if code != 0 {
				t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errOut)
			}
			return out
		}
		a := openApp(t, db)
		alice, err := a.Accounts.CreatePerson(t.Context(), account.NewPerson{Username: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		m := composedMission(t, a, alice.ID)
		run("missions", "suspend", m.S256)
		run("missions", "resume", m.S256)
		if got, err := a.Store.Timestamps(t.Context(), m.S256); err != nil || len(got) != 2 {
			t.Fatalf("after two transitions by the CLI: %d tokens stored (%v), want 2", len(got), err)
		}
		bundle := filepath.Join(t.TempDir(), "bundle.json")
		run("evidence", "export", "--mission", m.S256, "--out", bundle)
		code, out, errOut := runCmd(t, nil, "evidence", "verify", bundle, "--tsa-roots", ts.RootsFile)
		if code != 0 || !strings.Contains(out, "2 of 2 signed chain heads anchored") || !strings.Contains(out, "chain head 4: stamped") {
			t.Fatalf("verify the export: %d\n%s\n%s", code, out, errOut)
		}
	})
}
