-- Evidence at scale (issue 12): the housekeeping sweep that signs mission
-- chain heads (store.EvidenceHeadsDue, every minute, on every replica)
-- grouped the whole mission_evidence table: at 500 000 records one sweep
-- read 800 MB on PostgreSQL, and evidence grows with every decision. The
-- sweep now looks only at records stamped since its mark (a chain whose
-- records are all older is covered by a signed head: lifecycle.SignHeadsDue
-- moves the mark only after a complete sweep), found by their time.

-- +goose Up
CREATE INDEX mission_evidence_at ON mission_evidence (at_ms);

-- One row per housekeeping sweep that keeps a mark: what it no longer
-- needs to look at (unix milliseconds). Bounded by the code's sweeps.
CREATE TABLE housekeeping_marks (
    name    TEXT   PRIMARY KEY,
    mark_ms BIGINT NOT NULL
);

-- +goose Down
DROP TABLE housekeeping_marks;
DROP INDEX mission_evidence_at;
