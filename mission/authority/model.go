package authority

import (
	"encoding/json"
	"fmt"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

// MissionModel is the blob's `mission_model` extension member (design
// §1): the three anchors and the Authority Set they commit to, so every
// mission_s256 commits to all of them.
type MissionModel struct {
	V                    int    `json:"v"`
	HashAlg              string `json:"hash_alg"`
	ProposalHash         string `json:"proposal_hash"`
	AuthorityHash        string `json:"authority_hash"`
	ConsentRenderingHash string `json:"consent_rendering_hash"`
	AuthoritySet         *Set   `json:"authority_set"`
	Supersedes           string `json:"supersedes,omitempty"`
	LineageRoot          string `json:"lineage_root,omitempty"`
}

// NewMissionModel builds the member for mission.Blob.MissionModel, after
// checking that the set and the rendering agree with the anchors given.
func NewMissionModel(proposalHash string, set *Set, rendering *Rendering, supersedes, lineageRoot string) (json.RawMessage, error) {
	h, err := set.Hash()
	if err != nil {
		return nil, err
	}
	rh, err := rendering.Hash()
	if err != nil {
		return nil, err
	}
	if rendering.AuthorityHash != h || rendering.ProposalHash != proposalHash {
		return nil, fmt.Errorf("authority: the consent rendering was made for other anchors")
	}
	m := MissionModel{V: 1, HashAlg: "sha-256", ProposalHash: proposalHash, AuthorityHash: h,
		ConsentRenderingHash: rh, AuthoritySet: set, Supersedes: supersedes, LineageRoot: lineageRoot}
	return anchor.Marshal(m)
}

// TokenClaim is the optional `mission_model` claim of PS-issued tokens
// (Level 3; AAuth resources ignore it): which entries the token was
// issued under and the decision that issued it.
type TokenClaim struct {
	Origin                 string   `json:"origin"`
	AuthorityHash          string   `json:"authority_hash"`
	EffectiveAuthorityHash string   `json:"effective_authority_hash"`
	Entries                []string `json:"entries"`
	Decision               string   `json:"decision"`
}

// ParseCatalog reads the operator's catalog strictly (unknown members and
// duplicate names refused).
func ParseCatalog(raw []byte) (*Catalog, error) {
	canon, err := anchor.Canonical(raw)
	if err != nil {
		return nil, fmt.Errorf("authority: catalog: %w", err)
	}
	var c Catalog
	if err := strictDecode(canon, &c); err != nil {
		return nil, fmt.Errorf("authority: catalog: %w", err)
	}
	for id, r := range c.Resources {
		for _, op := range r.Operations {
			if op.Vocabulary == "" || !isJSONObject(op.Operation) || op.Action == "" {
				return nil, fmt.Errorf("authority: catalog: resource %s has a malformed operation", id)
			}
		}
	}
	return &c, nil
}
