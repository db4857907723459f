-- Mission composition (issue 10, design mission-composition.md §1, §5, §7):
-- the Authority Set fixed at approval with its anchors, the consent
-- rendering the person saw, the narrowing overlays and the effective set,
-- the suspension hold, a version for compare-and-swap decisions, and the
-- per-mission state a decision writes (checkpoints, grant counters,
-- budget reservations by lineage, consent memory) and its hash-chained
-- evidence. Every row hangs off an approved mission (ON DELETE CASCADE):
-- nothing here exists for a proposal that was never approved.
--
-- A suspended mission keeps state = 'active' (the wire projection: the
-- draft has two states, design §5); hold_until IS NOT NULL marks the hold.

-- +goose Up
ALTER TABLE missions ADD COLUMN version                  BIGINT NOT NULL DEFAULT 0;
ALTER TABLE missions ADD COLUMN authority_set            TEXT;   -- canonical (JCS) Authority Set, NULL for missions approved before
ALTER TABLE missions ADD COLUMN authority_hash           TEXT;
ALTER TABLE missions ADD COLUMN effective_authority_set  TEXT;   -- the set after narrowing overlays (JCS)
ALTER TABLE missions ADD COLUMN effective_authority_hash TEXT;
ALTER TABLE missions ADD COLUMN overlays                 TEXT NOT NULL DEFAULT '[]';
ALTER TABLE missions ADD COLUMN proposal                 TEXT;   -- the proposal object (aauth-mm/proposal/v1, JCS)
ALTER TABLE missions ADD COLUMN proposal_hash            TEXT;
ALTER TABLE missions ADD COLUMN consent_rendering        TEXT;   -- aauth-mm/consent-rendering/v1 (JCS)
ALTER TABLE missions ADD COLUMN consent_rendering_hash   TEXT;
ALTER TABLE missions ADD COLUMN template                 TEXT NOT NULL DEFAULT '';
ALTER TABLE missions ADD COLUMN standing                 BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE missions ADD COLUMN supersedes               TEXT NOT NULL DEFAULT '';
ALTER TABLE missions ADD COLUMN lineage_root             TEXT NOT NULL DEFAULT '';
ALTER TABLE missions ADD COLUMN hold_since               BIGINT; -- unix ms; set while suspended
ALTER TABLE missions ADD COLUMN hold_until               BIGINT; -- unix ms; at or after it the hold terminates (administrative)
ALTER TABLE missions ADD COLUMN hold_by_kind             TEXT;
ALTER TABLE missions ADD COLUMN hold_by_id               TEXT;

-- Recorded checkpoints (design §2 stages): one row per checkpoint id.
CREATE TABLE mission_checkpoints (
    mission_s256   TEXT    NOT NULL REFERENCES missions (s256) ON DELETE CASCADE,
    checkpoint     TEXT    NOT NULL,
    recorded_at_ms BIGINT  NOT NULL,
    consumed       BOOLEAN NOT NULL DEFAULT 0,
    agent_asserted BOOLEAN NOT NULL DEFAULT 0,
    PRIMARY KEY (mission_s256, checkpoint)
);

-- Tokens issued under each entry (max_grants).
CREATE TABLE mission_grant_counts (
    mission_s256 TEXT   NOT NULL REFERENCES missions (s256) ON DELETE CASCADE,
    entry        TEXT   NOT NULL,
    granted      BIGINT NOT NULL,
    PRIMARY KEY (mission_s256, entry)
);

-- Amounts reserved per budget key (authority.BudgetKey), by lineage: a
-- successor continues its predecessor's budgets (lineage = lineage_root,
-- else the mission's own s256). Never released.
CREATE TABLE mission_budgets (
    lineage    TEXT   NOT NULL REFERENCES missions (s256) ON DELETE CASCADE,
    budget_key TEXT   NOT NULL,
    currency   TEXT   NOT NULL DEFAULT '',
    spent      BIGINT NOT NULL,
    PRIMARY KEY (lineage, budget_key)
);

-- Consent memory (authority.MemoryKey): what the person already consented to.
CREATE TABLE mission_consent_memory (
    mission_s256 TEXT   NOT NULL REFERENCES missions (s256) ON DELETE CASCADE,
    memory_key   TEXT   NOT NULL,
    at_ms        BIGINT NOT NULL,
    PRIMARY KEY (mission_s256, memory_key)
);

-- Evidence (design §7): append-only hash chains. chain is the mission's
-- s256, or the proposal's id for the pre-approval records; both belong to
-- the approved mission. record holds the canonical bytes that hash to hash.
CREATE TABLE mission_evidence (
    chain        TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    mission_s256 TEXT   NOT NULL REFERENCES missions (s256) ON DELETE CASCADE,
    type         TEXT   NOT NULL,
    at_ms        BIGINT NOT NULL,
    record       BLOB   NOT NULL,
    hash         TEXT   NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX mission_evidence_mission ON mission_evidence (mission_s256, type);

-- +goose Down
DROP TABLE mission_evidence;
DROP TABLE mission_consent_memory;
DROP TABLE mission_budgets;
DROP TABLE mission_grant_counts;
DROP TABLE mission_checkpoints;
ALTER TABLE missions DROP COLUMN hold_by_id;
ALTER TABLE missions DROP COLUMN hold_by_kind;
ALTER TABLE missions DROP COLUMN hold_until;
ALTER TABLE missions DROP COLUMN hold_since;
ALTER TABLE missions DROP COLUMN lineage_root;
ALTER TABLE missions DROP COLUMN supersedes;
ALTER TABLE missions DROP COLUMN standing;
ALTER TABLE missions DROP COLUMN template;
ALTER TABLE missions DROP COLUMN consent_rendering_hash;
ALTER TABLE missions DROP COLUMN consent_rendering;
ALTER TABLE missions DROP COLUMN proposal_hash;
ALTER TABLE missions DROP COLUMN proposal;
ALTER TABLE missions DROP COLUMN overlays;
ALTER TABLE missions DROP COLUMN effective_authority_hash;
ALTER TABLE missions DROP COLUMN effective_authority_set;
ALTER TABLE missions DROP COLUMN authority_hash;
ALTER TABLE missions DROP COLUMN authority_set;
ALTER TABLE missions DROP COLUMN version;
