package mission

import (
	"encoding/json"
	"time"
)

// Composition is what Mission composition keeps beside the blob (design
// §1 "PS record"): the Authority Set fixed at approval and the objects its
// anchors commit to, the narrowing overlays and the effective set they
// produce. Sets and objects are stored as their canonical (JCS) bytes;
// package mission/authority parses and checks them, so this package stays
// below it.
type Composition struct {
	AuthoritySet  json.RawMessage
	AuthorityHash string
	// EffectiveSet is AuthoritySet after the overlays (equal to it until a
	// narrowing is accepted); EffectiveHash is its anchor.
	EffectiveSet  json.RawMessage
	EffectiveHash string
	// Overlays is the JSON array of accepted narrowings (governance.Overlay).
	Overlays             json.RawMessage
	Proposal             json.RawMessage
	ProposalHash         string
	ConsentRendering     json.RawMessage
	ConsentRenderingHash string
	// Template names the operator template the set came from (name@version);
	// Standing marks a headless approval under it.
	Template    string
	Standing    bool
	Supersedes  string
	LineageRoot string
}

// Lineage is the key budgets are reserved under: the lineage root of a
// successor, else the mission itself (design §6: budgets continue by lineage).
func (m *Record) Lineage() string {
	if m.Composition != nil && m.Composition.LineageRoot != "" {
		return m.Composition.LineageRoot
	}
	return m.S256
}

// Hold is a suspension in progress (design §5): the mission stays active
// on the wire, new requests are held until Until, then it terminates.
type Hold struct {
	Since  time.Time
	Until  time.Time
	ByKind string
	ByID   string
}
