-- The head-signing sweep (store.EvidenceHeadsDue, every minute, on every
-- replica) read every record of the last hour and ten minutes through
-- mission_evidence_at, and each record's row, though a minute had passed
-- since the last sweep: under load each sweep grew with the hour's
-- decisions (issue 12, docs/performance.md finding 66). It now reads the
-- records stamped since its last sweep (and the slack) in an index that
-- holds what it asks of them, and the chain heads that came of age since
-- then, in an index of chain heads alone (a few per chain and hour).
-- mission_evidence_at had no other reader.

-- +goose Up
DROP INDEX mission_evidence_at;
CREATE INDEX mission_evidence_moved ON mission_evidence (at_ms, chain) WHERE type <> 'chain_head' AND chain = mission_s256;
CREATE INDEX mission_evidence_heads ON mission_evidence (at_ms) WHERE type = 'chain_head';

-- +goose Down
DROP INDEX mission_evidence_heads;
DROP INDEX mission_evidence_moved;
CREATE INDEX mission_evidence_at ON mission_evidence (at_ms);
