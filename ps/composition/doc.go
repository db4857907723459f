// Package composition wires Mission composition (mission/authority,
// mission/governance, mission/evidence) into the PS: the operator's
// catalog and templates, the derivation of a mission's Authority Set at
// approval with its anchors and consent rendering, the evidence chain
// appended inside any store.InTx, and the one decision point the token,
// person-token and permission endpoints call inside their deciding
// transaction. Storage is behind Store (ps/store implements it).
//
// Design: shared/design/mission-composition.md §1–§7; docs/missions.md.
package composition
