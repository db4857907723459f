package authority

import (
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

// ProposalObjectType is the discriminator of the proposal object.
const ProposalObjectType = "aauth-mm/proposal/v1"

// ProposalObject is what proposal_hash commits to (design §4): who
// proposed, when, the digest of the signed body, the validated intent and
// what admission did with it.
type ProposalObject struct {
	Object        string         `json:"object"`
	Agent         string         `json:"agent"`
	ReceivedAt    string         `json:"received_at"`
	ContentDigest string         `json:"content_digest"`
	Intent        ProposalIntent `json:"intent"`
	Admission     Admission      `json:"admission"`
}

// ProposalIntent is the validated proposal.
type ProposalIntent struct {
	Description string   `json:"description"`
	Resources   []string `json:"resources"`
	Tools       []string `json:"tools"`
}

// Admission records the policy, the template matched and what was cut.
type Admission struct {
	PolicyVersion string   `json:"policy_version,omitempty"`
	Template      string   `json:"template,omitempty"`
	Removed       []string `json:"removed,omitempty"`
}

// ContentDigest is the RFC 9530 sha-256 Content-Digest value of body.
func ContentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// NewProposalObject builds the proposal object of p received at the given
// instant, whose signed body had the given content digest.
func NewProposalObject(p Proposal, contentDigest string, receivedAt time.Time, d *Derivation, policyVersion string) *ProposalObject {
	o := &ProposalObject{Object: ProposalObjectType, Agent: p.Agent, ReceivedAt: receivedAt.UTC().Format("2006-01-02T15:04:05Z"),
		ContentDigest: contentDigest,
		Intent:        ProposalIntent{Description: p.Description, Resources: nonNilStrings(p.Resources), Tools: nonNilStrings(p.Tools)},
		Admission:     Admission{PolicyVersion: policyVersion}}
	if d != nil {
		o.Admission.Template, o.Admission.Removed = d.Template, d.Removed
	}
	return o
}

// Hash is proposal_hash.
func (o *ProposalObject) Hash() (string, error) { return anchor.Of(o) }

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
