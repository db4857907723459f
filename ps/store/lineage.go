package store

import "github.com/aauth-ps/aauth-ps/ps/tokens"

// lineageColumns are the columns both issuance-record tables share for a
// token's lineage: the upstream token of a chain, the depth, and the
// sub-agent it is bound to (migration 00011).
type lineageColumns struct {
	UpstreamJTI      *string `gorm:"column:upstream_jti"`
	ChainDepth       int     `gorm:"column:chain_depth"`
	SubAgentSub      *string `gorm:"column:subagent_sub"`
	SubAgentTokenJTI *string `gorm:"column:subagent_token_jti"`
}

func lineageRow(l tokens.Lineage) lineageColumns {
	return lineageColumns{UpstreamJTI: nullIfEmpty(l.UpstreamJTI), ChainDepth: l.Depth,
		SubAgentSub: nullIfEmpty(l.SubAgentSub), SubAgentTokenJTI: nullIfEmpty(l.SubAgentTokenJTI)}
}

func (c lineageColumns) lineage() tokens.Lineage {
	return tokens.Lineage{UpstreamJTI: emptyIfNull(c.UpstreamJTI), Depth: c.ChainDepth,
		SubAgentSub: emptyIfNull(c.SubAgentSub), SubAgentTokenJTI: emptyIfNull(c.SubAgentTokenJTI)}
}
