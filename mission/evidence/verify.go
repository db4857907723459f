package evidence

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/tsa"
)

// BundleObject is the discriminator of an export bundle.
const BundleObject = "aauth-mm/evidence-bundle/v1"

// Bundle is what `aauth-ps evidence export` writes: the mission blob as
// persisted (base64url), the proposal and consent rendering objects it
// commits to, and the chain's records as stored.
type Bundle struct {
	Object           string            `json:"object"`
	Mission          MissionRef        `json:"mission"`
	Blob             string            `json:"blob"`
	Proposal         json.RawMessage   `json:"proposal"`
	ConsentRendering json.RawMessage   `json:"consent_rendering"`
	Records          []json.RawMessage `json:"records"`
	// ProposalChainID and ProposalChain are the pre-approval records,
	// chained under the proposal's id (optional).
	ProposalChainID string            `json:"proposal_chain_id,omitempty"`
	ProposalChain   []json.RawMessage `json:"proposal_chain,omitempty"`
	// JWKS is the PS's public keys that signed the chain heads, so the
	// bundle verifies offline (ParseKeySet). Verify itself takes the keys
	// as an argument: an auditor may prefer keys obtained elsewhere.
	JWKS json.RawMessage `json:"jwks,omitempty"`
	// Timestamps are the RFC 3161 time-stamp tokens of mission chain
	// heads the PS anchored with a time-stamping authority (design §7,
	// Level 4), each over tsa.HeadImprint of its head's JWS (optional: a
	// bundle without them verifies as before).
	Timestamps []HeadTimestamp `json:"timestamps,omitempty"`
}

// HeadTimestamp is the time-stamp token of the mission chain's chain_head
// record at Seq: its DER, base64url.
type HeadTimestamp struct {
	Seq   int64  `json:"seq"`
	Token string `json:"token"`
}

// NewBundle assembles a bundle from stored parts.
func NewBundle(m MissionRef, blob []byte, proposal, rendering json.RawMessage, records []Stored) Bundle {
	b := Bundle{Object: BundleObject, Mission: m, Blob: base64.RawURLEncoding.EncodeToString(blob),
		Proposal: proposal, ConsentRendering: rendering}
	for _, r := range records {
		b.Records = append(b.Records, json.RawMessage(r.Canonical))
	}
	return b
}

// Report is the verifier's answer. FirstBad is the seq of the first
// record that fails (−1 when the failure is in the blob or the anchored
// objects, or when all pass).
type Report struct {
	OK bool `json:"ok"`
	// Chain is the chain FirstBad is in: "mission" or "proposal".
	Chain         string `json:"chain,omitempty"`
	Records       int    `json:"records"`
	SignedHeads   int    `json:"signed_heads"`
	LastSignedSeq int64  `json:"last_signed_seq"`
	FirstBad      int    `json:"first_bad"`
	// Replayed counts the runtime decisions re-run through Evaluate and
	// found as recorded; NotReplayed those that keep no input (written
	// before decisions were recorded for replay).
	Replayed    int    `json:"replayed"`
	NotReplayed int    `json:"not_replayed"`
	Problem     string `json:"problem,omitempty"`
	// Anchored are the chain heads whose time-stamp token verified, in
	// the bundle's order.
	Anchored []AnchoredHead `json:"anchored,omitempty"`
}

// AnchoredHead is a chain head a verified time-stamp token anchors: when
// the TSA stamped it, which TSA, and whether its certificate chained to
// the roots given (false when none were).
type AnchoredHead struct {
	Seq           int64  `json:"seq"`
	GenTime       string `json:"gen_time"`
	TSA           string `json:"tsa"`
	ChainVerified bool   `json:"tsa_chain_verified"`
}

type missionModel struct {
	V                    int             `json:"v"`
	HashAlg              string          `json:"hash_alg"`
	ProposalHash         string          `json:"proposal_hash"`
	AuthorityHash        string          `json:"authority_hash"`
	ConsentRenderingHash string          `json:"consent_rendering_hash"`
	AuthoritySet         json.RawMessage `json:"authority_set"`
}

type renderingAnchors struct {
	ProposalHash  string `json:"proposal_hash"`
	AuthorityHash string `json:"authority_hash"`
}

// Verify recomputes every anchor and chain link of a bundle offline: the
// blob's s256 is the mission id, the blob's anchors are the anchors of
// the authority set it holds and of the bundle's proposal and rendering;
// each record's hash, seq, chain, prev and anchors; every chain_head's
// signature (with keys, the PS's public keys) and that it signs the
// record it names. It names the first bad record. A bundle's time-stamp
// tokens are checked without TSA roots (VerifyWith).
func Verify(b Bundle, keys HeadVerifier) Report { return VerifyWith(b, keys, nil) }

// VerifyWith is Verify, and checks each of the bundle's time-stamp
// tokens: it parses, its signature verifies under the TSA certificate it
// carries, that certificate is for time-stamping, it imprints its head's
// JWS (tsa.HeadImprint), and — with tsaRoots — the TSA's certificate
// chains to one of them at the token's genTime. A bad token fails the
// bundle at its head.
func VerifyWith(b Bundle, keys HeadVerifier, tsaRoots *x509.CertPool) Report {
	rep := Report{FirstBad: -1, LastSignedSeq: -1}
	fail := func(at int, format string, a ...any) Report {
		rep.OK, rep.FirstBad, rep.Problem = false, at, fmt.Sprintf(format, a...)
		return rep
	}
	if b.Object != BundleObject {
		return fail(-1, "not an evidence bundle")
	}
	blob, err := base64.RawURLEncoding.DecodeString(b.Blob)
	if err != nil {
		return fail(-1, "blob is not base64url")
	}
	if anchor.S256(blob) != b.Mission.ID {
		return fail(-1, "blob s256 %s is not the mission id %s", anchor.S256(blob), b.Mission.ID)
	}
	if canon, err := anchor.Canonical(blob); err != nil || !bytes.Equal(canon, blob) {
		return fail(-1, "blob is not in canonical (JCS) form")
	}
	var bl struct {
		Approver     string        `json:"approver"`
		MissionModel *missionModel `json:"mission_model"`
	}
	if err := json.Unmarshal(blob, &bl); err != nil || bl.MissionModel == nil {
		return fail(-1, "blob has no mission_model")
	}
	mm := bl.MissionModel
	if bl.Approver != b.Mission.Origin {
		return fail(-1, "blob approver %q is not the mission origin %q", bl.Approver, b.Mission.Origin)
	}
	if h, err := anchor.OfJSON(mm.AuthoritySet); err != nil || h != mm.AuthorityHash {
		return fail(-1, "authority_hash does not match the blob's authority_set")
	}
	if h, err := anchor.OfJSON(b.Proposal); err != nil || h != mm.ProposalHash {
		return fail(-1, "proposal_hash does not match the proposal")
	}
	if h, err := anchor.OfJSON(b.ConsentRendering); err != nil || h != mm.ConsentRenderingHash {
		return fail(-1, "consent_rendering_hash does not match the consent rendering")
	}
	var ra renderingAnchors
	if json.Unmarshal(b.ConsentRendering, &ra) != nil || ra.ProposalHash != mm.ProposalHash || ra.AuthorityHash != mm.AuthorityHash {
		return fail(-1, "the consent rendering names other anchors than the blob")
	}
	// The pre-approval chain (proposal_received, consent_presented,
	// consent_decision …) runs under the proposal's id; the mission
	// chain's first record, mission_activated, carries its head.
	var preHead string
	if len(b.ProposalChain) > 0 {
		c := chainCheck{chain: b.ProposalChainID, mission: b.Mission, keys: keys, anchors: func(r *Record) string {
			if r.Anchors.ProposalHash != mm.ProposalHash {
				return "names another proposal_hash than the blob"
			}
			return ""
		}}
		if !c.verify(b.ProposalChain) {
			rep.Chain, rep.FirstBad, rep.Problem = "proposal", c.failAt, c.problem
			return rep
		}
		preHead = c.hashes[len(c.hashes)-1]
	}
	effective := map[string]bool{mm.AuthorityHash: true}
	c := chainCheck{chain: b.Mission.ID, mission: b.Mission, keys: keys, anchors: func(r *Record) string {
		switch {
		case r.Anchors.ProposalHash != mm.ProposalHash || r.Anchors.AuthorityHash != mm.AuthorityHash ||
			(r.Anchors.ConsentRenderingHash != "" && r.Anchors.ConsentRenderingHash != mm.ConsentRenderingHash):
			return "names other anchors than the blob"
		case r.Anchors.EffectiveAuthorityHash != "" && !effective[r.Anchors.EffectiveAuthorityHash]:
			return "names an effective_authority_hash no accepted update produced"
		case r.Seq == 0 && preHead != "":
			var body struct {
				ProposalChainHead string `json:"proposal_chain_head"`
			}
			if r.Type != MissionActivated || json.Unmarshal(r.Body, &body) != nil || body.ProposalChainHead != preHead {
				return "is not a mission_activated record carrying the proposal chain's head"
			}
		}
		if r.Type == UpdateAccepted {
			var body struct {
				EffectiveAuthorityHash string `json:"effective_authority_hash"`
			}
			if json.Unmarshal(r.Body, &body) == nil && body.EffectiveAuthorityHash != "" {
				effective[body.EffectiveAuthorityHash] = true
			}
		}
		return ""
	}}
	if !c.verify(b.Records) {
		rep.Chain, rep.FirstBad, rep.Problem = "mission", c.failAt, c.problem
		return rep
	}
	// Decision replay: each runtime_decision re-run through the pure
	// Evaluate on the input it recorded must decide what it recorded.
	for i, raw := range b.Records {
		var r Record
		if json.Unmarshal(raw, &r) != nil || r.Type != RuntimeDecision {
			continue
		}
		switch err := authority.Replay(r.Body, mm.AuthoritySet, mm.AuthorityHash); {
		case err == nil:
			rep.Replayed++
		case errors.Is(err, authority.ErrNotReplayable):
			rep.NotReplayed++
		default:
			rep.Chain = "mission"
			return fail(i, "record %d: the decision replayed differs: %v", i, err)
		}
	}
	for _, ts := range b.Timestamps {
		a, why := verifyTimestamp(b.Records, ts, tsaRoots)
		if why != "" {
			rep.Chain = "mission"
			return fail(int(ts.Seq), "the time-stamp token of chain head %d %s", ts.Seq, why)
		}
		rep.Anchored = append(rep.Anchored, a)
	}
	rep.OK, rep.Records, rep.SignedHeads, rep.LastSignedSeq = true, len(b.Records), c.signed, c.lastSigned
	return rep
}

// verifyTimestamp checks ts against the (verified) mission chain records;
// it says why it fails, or "".
func verifyTimestamp(records []json.RawMessage, ts HeadTimestamp, roots *x509.CertPool) (AnchoredHead, string) {
	if ts.Seq < 0 || ts.Seq >= int64(len(records)) {
		return AnchoredHead{}, "names no record of the chain"
	}
	var r Record
	var hb HeadBody
	if json.Unmarshal(records[ts.Seq], &r) != nil || r.Type != ChainHead || json.Unmarshal(r.Body, &hb) != nil || hb.JWS == "" {
		return AnchoredHead{}, "names a record that is not a signed chain head"
	}
	der, err := base64.RawURLEncoding.DecodeString(ts.Token)
	if err != nil {
		return AnchoredHead{}, "is not base64url"
	}
	st, err := tsa.Verify(der, tsa.HeadImprint(hb.JWS), roots)
	if err != nil {
		return AnchoredHead{}, "does not verify: " + strings.TrimPrefix(err.Error(), tsa.ErrToken.Error()+": ")
	}
	return AnchoredHead{Seq: ts.Seq, GenTime: st.GenTime.Format(time.RFC3339), TSA: st.TSA, ChainVerified: st.ChainVerified}, ""
}

// chainCheck verifies one chain: each record parses strictly, has the
// object, seq, chain and mission it should, links to the one before, and
// passes anchors; each chain_head's signature verifies and signs a record
// of this chain as it is now.
type chainCheck struct {
	chain   string
	mission MissionRef
	keys    HeadVerifier
	anchors func(*Record) string

	hashes     []string
	signed     int
	lastSigned int64
	failAt     int
	problem    string
}

func (c *chainCheck) fail(at int, format string, a ...any) bool {
	c.failAt, c.problem = at, fmt.Sprintf(format, a...)
	return false
}

func (c *chainCheck) verify(records []json.RawMessage) bool {
	c.hashes, c.lastSigned = make([]string, len(records)), -1
	for i, raw := range records {
		var r Record
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return c.fail(i, "record %d does not parse: %v", i, err)
		}
		h, err := anchor.OfJSON(raw)
		if err != nil {
			return c.fail(i, "record %d cannot be canonicalized: %v", i, err)
		}
		c.hashes[i] = h
		switch {
		case r.Object != Object:
			return c.fail(i, "record %d is not an evidence record", i)
		case r.Seq != int64(i):
			return c.fail(i, "record %d has seq %d", i, r.Seq)
		case r.Chain != c.chain || r.Mission != c.mission:
			return c.fail(i, "record %d belongs to another mission or chain", i)
		case i == 0 && r.Prev != nil:
			return c.fail(i, "record 0 has a prev")
		case i > 0 && (r.Prev == nil || *r.Prev != c.hashes[i-1]):
			// The link from i to i−1 is broken: record i−1 was altered (its
			// hash changed) or record i's prev was. Name the earlier one, the
			// first record that no longer is what the chain committed to.
			return c.fail(i-1, "record %d is not what record %d links to (one of them was altered)", i-1, i)
		}
		if why := c.anchors(&r); why != "" {
			return c.fail(i, "record %d %s", i, why)
		}
		if r.Type == ChainHead && !c.head(i, &r) {
			return false
		}
	}
	return true
}

func (c *chainCheck) head(i int, r *Record) bool {
	if c.keys == nil {
		return c.fail(i, "record %d is a signed chain head and no key was given to verify it", i)
	}
	var hb HeadBody
	if err := json.Unmarshal(r.Body, &hb); err != nil {
		return c.fail(i, "chain head %d has no signature", i)
	}
	payload, err := c.keys.VerifyChainHead(hb.JWS)
	if err != nil {
		return c.fail(i, "chain head %d: signature does not verify: %v", i, err)
	}
	want, err := anchor.Marshal(hb.Signed)
	if err != nil || !bytes.Equal(payload, want) {
		return c.fail(i, "chain head %d: the signature covers something else", i)
	}
	s := hb.Signed
	if s.Object != HeadObject || s.Chain != c.chain || s.Seq < 0 || s.Seq >= int64(i) {
		return c.fail(i, "chain head %d signs no earlier record of this chain", i)
	}
	if c.hashes[s.Seq] != s.Head {
		// The chain was rewritten and relinked: the signed head names the
		// record that is no longer what was signed.
		return c.fail(int(s.Seq), "record %d is not the record chain head %d signed (the chain was rewritten)", s.Seq, i)
	}
	c.signed++
	c.lastSigned = s.Seq
	return true
}
