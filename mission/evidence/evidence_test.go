package evidence

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

const (
	missionID = "n1-rRqgqgTygvTAOsLDIyS6fF6tzx3QIeQvC56Xi0CM"
	origin    = "https://ps.acme.example"
)

var (
	t0      = time.Date(2026, 6, 22, 17, 0, 0, 0, time.UTC)
	anchors = Anchors{ProposalHash: "sey9rffNUY4Hi0IH97A_yTmZK9aiYjQOgm6F57eC_r0", AuthorityHash: "TsvjMZKi7G-qkMTtUPJm9IKbiUUpe04aCnGzRaRk21M",
		ConsentRenderingHash: "ONkmlkXF1Wouw7At9-U2wk5eHa4Z7pmanb1M1shE1Do", EffectiveAuthorityHash: "TsvjMZKi7G-qkMTtUPJm9IKbiUUpe04aCnGzRaRk21M"}
	agentActor = Actor{Kind: "agent", ID: "aauth:boardpack.7f3c@agents.acme.example"}
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

type keys struct {
	signer   JWSSigner
	verifier JWSVerifier
}

func newKeys(t *testing.T) keys {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keys{JWSSigner{Alg: "Ed25519", Kid: "ps-1", Key: priv}, JWSVerifier{Alg: "Ed25519", Keys: map[string]crypto.PublicKey{"ps-1": pub}}}
}

// boardChain builds Example A's chain: activation, a runtime decision (the
// design's case 8 body), a signed chain head, a checkpoint, a narrowing
// update with its new effective hash, a decision under it, a second head.
func boardChain(t *testing.T, k keys) (Bundle, []Stored) {
	t.Helper()
	blob, err := anchor.Canonical(read(t, "blob-a.json"))
	if err != nil {
		t.Fatal(err)
	}
	proposal, rendering := read(t, "proposal-a.json"), read(t, "consent-rendering-a.json")
	m := MissionRef{Origin: origin, ID: missionID}
	var chain []Stored
	add := func(typ string, actor Actor, body any, eff string, at time.Time) {
		b, err := Body(body)
		if err != nil {
			t.Fatal(err)
		}
		a := anchors
		if eff != "" {
			a.EffectiveAuthorityHash = eff
		}
		var head *Stored
		if len(chain) > 0 {
			head = &chain[len(chain)-1]
		}
		s, err := Append(head, missionID, Record{Mission: m, Type: typ, Actor: actor, Anchors: a,
			Binding: Binding{PolicyVersion: "ps-policy-2026-06-01"}, Body: b}, at)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, s)
	}
	sign := func(at time.Time) {
		s, err := SignHead(chain[len(chain)-1], k.signer, Actor{Kind: "ps"}, at)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, s)
	}
	// The pre-approval chain, under the proposal's id.
	var pre []Stored
	for i, typ := range []string{ProposalReceived, ConsentPresented, ConsentDecision} {
		b, _ := Body(map[string]any{"step": typ})
		var head *Stored
		if i > 0 {
			head = &pre[i-1]
		}
		s, err := Append(head, "prop-1", Record{Mission: m, Type: typ, Actor: agentActor,
			Anchors: Anchors{ProposalHash: anchors.ProposalHash}, Body: b}, t0.Add(-time.Duration(3-i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		pre = append(pre, s)
	}
	add(MissionActivated, Actor{Kind: "person", ID: "p1"}, map[string]any{"s256": missionID, "proposal_chain_head": pre[2].Hash}, "", t0)
	add(RuntimeDecision, agentActor, json.RawMessage(`{"id":"dec_01J7Q2","point":"token","mode":"three-party","mission_version":9,"catalog_version":"cat-17",`+
		`"request":{"resource":"https://ir.acme.example","resource_token_jti":"rt-55c1","per_call":true},`+
		`"items":[{"item":{"kind":"r3","vocabulary":"urn:aauth:vocabulary:openapi","op":{"operationId":"publishPresentation"}},"status":"needs_checkpoint","entry":"release-board","missing_checkpoints":["cfo_release_approval"]}],`+
		`"outcome":{"kind":"defer","status":202,"requirement":"approval","reason":"stage_gate"}}`), "", t0.Add(time.Hour))
	sign(t0.Add(time.Hour))
	add(CheckpointRecorded, Actor{Kind: "person", ID: "p1"}, map[string]any{"checkpoint": "cfo_release_approval"}, "", t0.Add(2*time.Hour))
	add(UpdateAccepted, agentActor, map[string]any{"update_s256": "upd1", "effective_authority_hash": "EFFECTIVE-AFTER-NARROWING"}, "", t0.Add(3*time.Hour))
	add(RuntimeDecision, agentActor, map[string]any{"id": "dec_01J7Q3", "outcome": map[string]any{"kind": "issue", "status": 200}}, "EFFECTIVE-AFTER-NARROWING", t0.Add(4*time.Hour))
	sign(t0.Add(4 * time.Hour))
	b := NewBundle(m, blob, proposal, rendering, chain)
	b.ProposalChainID = "prop-1"
	for _, p := range pre {
		b.ProposalChain = append(b.ProposalChain, p.Canonical)
	}
	return b, chain
}

// TestUntamperedBundleVerifies: an exported bundle verifies offline —
// the blob's s256 and its anchors, every record's link, and the signed
// heads.
func TestUntamperedBundleVerifies(t *testing.T) {
	k := newKeys(t)
	b, chain := boardChain(t, k)
	rep := Verify(b, k.verifier)
	if !rep.OK || rep.Records != len(chain) || rep.SignedHeads != 2 || rep.LastSignedSeq != 5 || rep.FirstBad != -1 {
		t.Fatalf("report %+v", rep)
	}
	raw, _ := json.Marshal(b)
	var back Bundle
	if err := json.Unmarshal(raw, &back); err != nil || !Verify(back, k.verifier).OK {
		t.Fatal("a bundle does not survive its own JSON round trip")
	}
	if chain[0].Record.Prev != nil || *chain[1].Record.Prev != chain[0].Hash || chain[3].Record.Seq != 3 {
		t.Fatal("chain links wrong")
	}
}

// TestTamperedBundleFailsAtTheRecord: each kind of tampering is caught and
// the report names the first bad record.
func TestTamperedBundleFailsAtTheRecord(t *testing.T) {
	k := newKeys(t)
	cases := []struct {
		name     string
		tamper   func(b *Bundle)
		firstBad int
		says     string
	}{
		{"record body edited", func(b *Bundle) { edit(b, 3, `"cfo_release_approval"`, `"numbers_reconciled"`) }, 3, "altered"},
		{"record deleted", func(b *Bundle) { b.Records = append(b.Records[:2:2], b.Records[3:]...) }, 2, "seq"},
		{"records swapped", func(b *Bundle) { b.Records[3], b.Records[4] = b.Records[4], b.Records[3] }, 3, "seq"},
		{"chain rewritten and relinked", func(b *Bundle) { relinkFrom(t, b, 1, `"dec_01J7Q2"`, `"dec_FORGED"`) }, 1, "rewritten"},
		{"unknown effective hash", func(b *Bundle) {
			relinkFrom(t, b, 5, `"EFFECTIVE-AFTER-NARROWING"`, `"SOMETHING-ELSE"`)
		}, 5, "effective_authority_hash"},
		{"pre-approval record edited", func(b *Bundle) {
			b.ProposalChain = append([]json.RawMessage(nil), b.ProposalChain...)
			b.ProposalChain[1] = json.RawMessage(strings.Replace(string(b.ProposalChain[1]), "consent_presented\"}", "forged\"}", 1))
		}, 1, "altered"},
		{"pre-approval chain cut short", func(b *Bundle) { b.ProposalChain = b.ProposalChain[:2] }, 0, "proposal chain's head"},
		{"blob swapped", func(b *Bundle) { b.Blob = base64.RawURLEncoding.EncodeToString([]byte(`{}`)) }, -1, "mission id"},
		{"proposal edited", func(b *Bundle) {
			b.Proposal = json.RawMessage(strings.Replace(string(b.Proposal), "board-packet@3", "board-packet@4", 1))
		}, -1, "proposal_hash"},
		{"rendering edited", func(b *Bundle) {
			b.ConsentRendering = json.RawMessage(strings.Replace(string(b.ConsentRendering), "at most 3 times", "at most 30 times", 1))
		}, -1, "consent_rendering_hash"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, _ := boardChain(t, k)
			b.Records = append([]json.RawMessage(nil), b.Records...)
			c.tamper(&b)
			rep := Verify(b, k.verifier)
			if rep.OK || rep.FirstBad != c.firstBad || !strings.Contains(rep.Problem, c.says) {
				t.Fatalf("report %+v, want first bad %d saying %q", rep, c.firstBad, c.says)
			}
		})
	}
	b, _ := boardChain(t, k)
	if rep := Verify(b, newKeys(t).verifier); rep.OK || rep.FirstBad != 2 {
		t.Fatalf("a head signed by another key verified: %+v", rep)
	}
	if rep := Verify(b, nil); rep.OK {
		t.Fatal("signed heads passed without a key")
	}
}

func edit(b *Bundle, i int, from, to string) {
	b.Records[i] = json.RawMessage(strings.Replace(string(b.Records[i]), from, to, 1))
}

// relinkFrom edits record i and recomputes every later link, as an
// operator rewriting a bare chain would: only a signed head catches it.
func relinkFrom(t *testing.T, b *Bundle, i int, from, to string) {
	t.Helper()
	edit(b, i, from, to)
	for j := i + 1; j < len(b.Records); j++ {
		var r Record
		if err := json.Unmarshal(b.Records[j], &r); err != nil {
			t.Fatal(err)
		}
		h, _ := anchor.OfJSON(b.Records[j-1])
		r.Prev = &h
		canon, err := anchor.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Records[j] = canon
	}
}

// TestAppendCanonicalisesOnce (issue 12): Append takes a body in any
// JSON form, canonicalises it once as a member of the record, and stores
// exactly the bytes it hashes: the record's JCS form, its body the
// body's JCS form. A body JCS refuses is refused.
func TestAppendCanonicalisesOnce(t *testing.T) {
	body := json.RawMessage(" {\"z\": [ 2, 1 ], \"a\": \"\\u00e9\\u2028<&>\", \"\\ud83d\\ude00\": {}} ")
	head, err := Append(nil, missionID, Record{Mission: MissionRef{Origin: origin, ID: missionID}, Type: RuntimeDecision,
		Actor: Actor{Kind: "agent", ID: "aauth:\"a\"\u2028@ap.example"}, Anchors: anchors}, t0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Append(&head, missionID, Record{Mission: MissionRef{Origin: origin, ID: missionID}, Type: RuntimeDecision,
		Actor: agentActor, Anchors: anchors, Body: body}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	wantBody, _ := anchor.Canonical(body)
	if !bytes.Equal(s.Record.Body, wantBody) {
		t.Errorf("stored body %s, want %s", s.Record.Body, wantBody)
	}
	whole, err := anchor.Marshal(s.Record)
	if err != nil || !bytes.Equal(s.Canonical, whole) {
		t.Errorf("stored %s, want the record's JCS form %s (%v)", s.Canonical, whole, err)
	}
	if h, _ := anchor.OfJSON(s.Canonical); s.Hash != h || *s.Record.Prev != head.Hash || s.Record.Seq != 1 {
		t.Errorf("hash %s (of the stored bytes: %s), prev %s, seq %d", s.Hash, h, *s.Record.Prev, s.Record.Seq)
	}
	if string(head.Record.Body) != `{}` || !strings.Contains(string(head.Canonical), `"body":{}`) {
		t.Errorf("an empty body is stored as {}: %s", head.Canonical)
	}
	for _, bad := range []string{`{"a":1.5}`, `{"a":1,"a":2}`, `{"a":`} {
		if _, err := Append(&head, missionID, Record{Mission: head.Record.Mission, Type: RuntimeDecision, Actor: agentActor,
			Anchors: anchors, Body: json.RawMessage(bad)}, t0); err == nil {
			t.Errorf("body %s appended, want an error", bad)
		}
	}
}
