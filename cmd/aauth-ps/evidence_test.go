package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// testBundle builds Example A's bundle: mission_activated, a suspension, a
// signed chain head, the resumption, a second signed head, the revocation
// (a lifecycle_transition with its cascade and residual_exposure_until)
// and its signed head, a revocation_result and the head over it. Its JWKS
// holds the signing key.
func testBundle(t *testing.T) evidence.Bundle {
	t.Helper()
	read := func(name string) []byte {
		raw, err := os.ReadFile(filepath.Join("..", "..", "mission", "evidence", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	blob, err := anchor.Canonical(read("blob-a.json"))
	if err != nil {
		t.Fatal(err)
	}
	var bl struct {
		Approver     string `json:"approver"`
		MissionModel struct {
			ProposalHash         string `json:"proposal_hash"`
			AuthorityHash        string `json:"authority_hash"`
			ConsentRenderingHash string `json:"consent_rendering_hash"`
		} `json:"mission_model"`
	}
	if err := json.Unmarshal(blob, &bl); err != nil {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := jose.Thumbprint(pub)
	signer := evidence.JWSSigner{Alg: "Ed25519", Kid: kid, Key: priv}
	m := evidence.MissionRef{Origin: bl.Approver, ID: anchor.S256(blob)}
	an := evidence.Anchors{ProposalHash: bl.MissionModel.ProposalHash, AuthorityHash: bl.MissionModel.AuthorityHash,
		ConsentRenderingHash: bl.MissionModel.ConsentRenderingHash}
	t0 := time.Date(2026, 6, 22, 17, 0, 0, 0, time.UTC)
	var chain []evidence.Stored
	add := func(typ string, body any) {
		b, err := evidence.Body(body)
		if err != nil {
			t.Fatal(err)
		}
		var head *evidence.Stored
		if len(chain) > 0 {
			head = &chain[len(chain)-1]
		}
		s, err := evidence.Append(head, m.ID, evidence.Record{Mission: m, Type: typ, Actor: evidence.Actor{Kind: "person", ID: "p1"},
			Anchors: an, Body: b}, t0.Add(time.Duration(len(chain))*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, s)
	}
	sign := func() {
		s, err := evidence.SignHead(chain[len(chain)-1], signer, evidence.Actor{Kind: "ps"}, t0.Add(time.Duration(len(chain))*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, s)
	}
	add(evidence.MissionActivated, map[string]any{"s256": m.ID})
	add(evidence.LifecycleTransition, map[string]any{"from": "active", "to": "suspended", "reason": ""})
	sign()
	add(evidence.LifecycleTransition, map[string]any{"from": "suspended", "to": "active", "release_held": true})
	sign()
	// The revocation (design §5, §7): the transition names its cascade and
	// residual exposure; the recipient's confirmation follows, and the
	// hourly head signs it.
	add(evidence.LifecycleTransition, map[string]any{"from": "active", "to": "terminated", "reason": "revoked", "revoke_tokens": true,
		"revocations": "c1", "residual_exposure_until": "2026-06-22T18:00:00Z"})
	sign()
	add(evidence.RevocationResult, map[string]any{"iss": bl.Approver, "jti": "pt1", "exp": "2026-06-22T18:00:00Z",
		"recipient": "https://rs.example", "outcome": "revoked", "confirmed": true, "attempts": 1, "revocations": "c1"})
	sign()
	b := evidence.NewBundle(m, blob, read("proposal-a.json"), read("consent-rendering-a.json"), chain)
	jwk, err := jose.PublicJWK(pub, kid)
	if err != nil {
		t.Fatal(err)
	}
	b.JWKS, _ = json.Marshal(map[string]any{"keys": []any{jwk}})
	return b
}

func writeBundle(t *testing.T, b evidence.Bundle) string {
	t.Helper()
	raw, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEvidenceVerifyCommand (issue 10, Must-show 5): `aauth-ps evidence
// verify` needs no configuration, database or network; an untampered
// bundle passes (exit 0); each kind of tampering — a record's body, a
// link, a chain head's signature, an anchor, the blob — fails (exit 1)
// naming the first bad record.
func TestEvidenceVerifyCommand(t *testing.T) {
	good := writeBundle(t, testBundle(t))
	code, out, errOut := runCmd(t, nil, "evidence", "verify", good)
	if code != 0 || !strings.HasPrefix(out, "OK: 9 records, 4 signed chain heads (signed through seq 7)") {
		t.Fatalf("untampered: exit %d\n%s\n%s", code, out, errOut)
	}
	var rep evidence.Report
	code, out, _ = runCmd(t, nil, "evidence", "verify", "--json", good)
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || !rep.OK || rep.FirstBad != -1 {
		t.Fatalf("--json: exit %d %v\n%s", code, err, out)
	}

	replace := func(i int, from, to string) func(*evidence.Bundle) {
		return func(b *evidence.Bundle) {
			if !strings.Contains(string(b.Records[i]), from) {
				t.Fatalf("record %d has no %s", i, from)
			}
			b.Records[i] = json.RawMessage(strings.Replace(string(b.Records[i]), from, to, 1))
		}
	}
	cases := []struct {
		name   string
		tamper func(*evidence.Bundle)
		want   string
	}{
		{"record body", replace(1, `"to":"suspended"`, `"to":"active"`), "FAILED at mission chain record 1: record 1 is not what record 2 links to"},
		{"link", func(b *evidence.Bundle) {
			var r evidence.Record
			_ = json.Unmarshal(b.Records[3], &r)
			replace(3, *r.Prev, strings.Repeat("A", 43))(b)
		}, "FAILED at mission chain record 2: record 2 is not what record 3 links to"},
		{"head signature", func(b *evidence.Bundle) {
			var r evidence.Record
			_ = json.Unmarshal(b.Records[2], &r)
			var hb evidence.HeadBody
			_ = json.Unmarshal(r.Body, &hb)
			sig := hb.JWS[strings.LastIndex(hb.JWS, ".")+1:]
			forged := "A" + sig[1:]
			if sig[0] == 'A' {
				forged = "B" + sig[1:]
			}
			replace(2, sig, forged)(b)
		}, "FAILED at mission chain record 2: chain head 2: signature does not verify"},
		{"anchor", func(b *evidence.Bundle) {
			var r evidence.Record
			_ = json.Unmarshal(b.Records[3], &r)
			replace(3, r.Anchors.AuthorityHash, strings.Repeat("B", 43))(b)
		}, "FAILED at mission chain record 3: record 3 names other anchors than the blob"},
		{"revocation result", replace(7, `"outcome":"revoked"`, `"outcome":"revocation_unavailable"`),
			"FAILED at mission chain record 7: record 7 is not what record 8 links to"},
		{"blob", func(b *evidence.Bundle) { b.Blob = "e30" }, "FAILED at the mission blob or its anchored objects: blob s256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := testBundle(t)
			c.tamper(&b)
			code, out, errOut := runCmd(t, nil, "evidence", "verify", writeBundle(t, b))
			if code != 1 || !strings.HasPrefix(out, c.want) {
				t.Fatalf("exit %d\n%s\n%s\nwant %q", code, out, errOut, c.want)
			}
		})
	}

	t.Run("keys from elsewhere", func(t *testing.T) {
		other := testBundle(t) // another key
		jwks := filepath.Join(t.TempDir(), "jwks.json")
		if err := os.WriteFile(jwks, other.JWKS, 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCmd(t, nil, "evidence", "verify", good, "--jwks", jwks)
		if code != 1 || !strings.Contains(out, "record 2: chain head 2: signature does not verify") {
			t.Fatalf("a head verified under another PS's key: exit %d\n%s", code, out)
		}
	})
	t.Run("not a bundle", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "x.json")
		_ = os.WriteFile(p, []byte(`{"hello":1}`), 0o600)
		if code, _, errOut := runCmd(t, nil, "evidence", "verify", p); code != 1 || !strings.Contains(errOut, "not an evidence bundle") {
			t.Fatalf("exit %d %s", code, errOut)
		}
		if code, _, _ := runCmd(t, nil, "evidence", "verify"); code != 2 {
			t.Fatalf("no bundle: exit %d", code)
		}
	})
}
