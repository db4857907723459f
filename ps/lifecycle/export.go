package lifecycle

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/timestamping"
)

// KeySource gives the PS's public keys for a bundle (*keys.Manager).
type KeySource interface {
	EvidenceJWKS(ctx context.Context) ([]byte, error)
}

// Exporter assembles a mission's evidence bundle (design §7, Level 4):
// the blob as persisted, the proposal and consent rendering its anchors
// commit to, the mission chain with its signed heads, the pre-approval
// chain, and the PS's public keys — everything `aauth-ps evidence verify`
// needs offline. The CLI and mission control offer the same bundle.
type Exporter struct {
	Issuer string
	DB     *store.Store
	Keys   KeySource
	// Heads, when set, signs the chain's head before it is read, so the
	// bundle's last record is a signed chain_head and every record in it
	// is covered by a PS signature (design §7).
	Heads *Service
	// Stamps, when set, is waited for (a bounded while) after the head is
	// signed, so that the bundle carries its time-stamp token when the
	// TSA answers in time (*timestamping.Service).
	Stamps interface {
		WaitIdle(ctx context.Context) bool
	}
}

// stampWait bounds how long an export waits for the time-stamp of the
// head it signed: the TSA exchange's own bound, and a little.
const stampWait = timestamping.RequestTimeout + 2*time.Second

// ErrNoEvidence: the mission was approved before Mission composition and
// has no anchored objects to verify its chain against.
var ErrNoEvidence = errors.New("lifecycle: the mission has no Mission composition record to export")

// Bundle reads the mission's evidence bundle (ErrNotFound for an unknown
// mission).
func (e *Exporter) Bundle(ctx context.Context, s256 string) (*evidence.Bundle, error) {
	m, err := e.DB.Mission(ctx, s256)
	if err != nil {
		return nil, err
	}
	if m.Composition == nil {
		return nil, ErrNoEvidence
	}
	if e.Heads != nil {
		if _, err := e.Heads.SignHead(ctx, s256); err != nil {
			return nil, err
		}
	}
	if e.Stamps != nil {
		wctx, cancel := context.WithTimeout(ctx, stampWait)
		e.Stamps.WaitIdle(wctx)
		cancel()
	}
	chain, err := e.DB.Evidence(ctx, s256)
	if err != nil {
		return nil, err
	}
	b := evidence.NewBundle(evidence.MissionRef{Origin: e.Issuer, ID: s256}, m.Blob,
		m.Composition.Proposal, m.Composition.ConsentRendering, chain)
	// Every token stored, whether or not a TSA is configured now.
	stamps, err := e.DB.Timestamps(ctx, s256)
	if err != nil {
		return nil, err
	}
	for _, t := range stamps {
		if t.Seq >= int64(len(chain)) {
			break // a head signed since the chain was read
		}
		b.Timestamps = append(b.Timestamps, evidence.HeadTimestamp{Seq: t.Seq, Token: base64.RawURLEncoding.EncodeToString(t.DER)})
	}
	if len(chain) > 0 && chain[0].Record.Type == evidence.MissionActivated {
		var body struct {
			ProposalChain string `json:"proposal_chain"`
		}
		if json.Unmarshal(chain[0].Record.Body, &body) == nil && body.ProposalChain != "" {
			pre, err := e.DB.Evidence(ctx, body.ProposalChain)
			if err != nil {
				return nil, err
			}
			b.ProposalChainID = body.ProposalChain
			for _, r := range pre {
				b.ProposalChain = append(b.ProposalChain, r.Canonical)
			}
		}
	}
	if b.JWKS, err = e.Keys.EvidenceJWKS(ctx); err != nil {
		return nil, err
	}
	return &b, nil
}
