package tokens

import (
	"time"

	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// MaxChainDepth bounds call chaining: a token issued on an upstream token
// is one hop further from the first agent than it, and a request whose
// upstream token is already this many hops away is refused
// (docs/decisions.md "Call chaining depth").
const MaxChainDepth = 4

// Upstream is what the PS resolved from a verified upstream token
// (P§upstream-token-verification): the token itself, whose exp caps what
// is issued on it, the person it was issued for, its mission and its
// place in the chain. A request carrying one neither uses nor creates an
// agent–person binding (PS-277).
type Upstream struct {
	JTI string `json:"jti"`
	// Typ is aa-person+jwt or aa-auth+jwt.
	Typ string    `json:"typ"`
	Exp time.Time `json:"exp"`
	// Aud is the intermediary (the upstream token's aud, the signing
	// agent token's iss) and Sub the person's identifier there.
	Aud         string `json:"aud"`
	Sub         string `json:"sub"`
	PersonID    string `json:"person_id"`
	MissionS256 string `json:"mission_s256,omitempty"`
	// Depth is the upstream token's own depth (0: issued to a first agent).
	Depth int `json:"depth"`
	// Iss is the access server that issued an upstream auth token ("":
	// this PS), and Via the person token this PS presented to it that
	// the auth token was obtained with (P§upstream-token-verification
	// (2), (4)): the chain's lineage goes through Via, so revoking that
	// person token reaches what was issued on the chain.
	Iss string `json:"iss,omitempty"`
	Via string `json:"via,omitempty"`
}

// RecordJTI is the token of this PS the upstream token stands on: the
// upstream token itself, or the person token an AS's auth token was
// obtained with.
func (u *Upstream) RecordJTI() string {
	if u.Via != "" {
		return u.Via
	}
	return u.JTI
}

// SubAgent is the sub-agent a parent agent asks for (P§sub-agents): the
// issued token is bound to its key and lives no longer than its agent
// token (PS-145), while the parent stays the agent the person's grant and
// the record's agent_* name.
type SubAgent struct {
	Sub      string
	TokenJTI string
	TokenExp time.Time
	Key      *jose.PublicKey
}

// Lineage is where an issued token sits: the upstream token it was issued
// on and its depth (call chaining), and the sub-agent it is bound to.
type Lineage struct {
	UpstreamJTI      string
	Depth            int
	SubAgentSub      string
	SubAgentTokenJTI string
}

// Grantee is the (iss, sub) the person's consents and scope grants are
// keyed on. A sub-agent works under its parent's grant (PS-143), and the
// parent is the Agent itself. A chained request is keyed on the
// intermediary's resource identity — its agent token's iss, which the
// upstream token's aud was checked against — never on the agent
// identifier it happens to sign with (PS-277).
func (a Agent) Grantee() (iss, sub string) {
	if a.Upstream != nil {
		return a.Iss, a.Iss
	}
	return a.Iss, a.Sub
}

// holder is the key and agent token an issued token binds to: the
// sub-agent's when there is one, else the agent's.
func (a Agent) holder() (*jose.PublicKey, []*time.Time) {
	if a.SubAgent != nil {
		return a.SubAgent.Key, []*time.Time{&a.TokenExp, &a.SubAgent.TokenExp}
	}
	return a.Key, []*time.Time{&a.TokenExp}
}

// HolderThumbprint is the thumbprint of the key issued tokens bind to: the
// sub-agent's when the parent asks for one (a resource token's agent_jkt
// must name it, PS-141), else the signer's.
func (a Agent) HolderThumbprint() string {
	k, _ := a.holder()
	if k == nil {
		return ""
	}
	return k.Thumbprint
}

// lineage is the record's lineage for a token issued to a.
func (a Agent) lineage() Lineage {
	var l Lineage
	if a.Upstream != nil {
		l.UpstreamJTI, l.Depth = a.Upstream.RecordJTI(), a.Upstream.Depth+1
	}
	if a.SubAgent != nil {
		l.SubAgentSub, l.SubAgentTokenJTI = a.SubAgent.Sub, a.SubAgent.TokenJTI
	}
	return l
}

// upstreamExp is the upstream token's exp as a cap (nil without one).
func (a Agent) upstreamExp() *time.Time {
	if a.Upstream == nil {
		return nil
	}
	e := a.Upstream.Exp
	return &e
}
