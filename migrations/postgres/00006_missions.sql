-- Missions (P§missions): the blob bytes exactly as approved and hashed,
-- the two-state lifecycle with its reason beside the blob, and the ordered
-- mission log (P§mission-log) including accepted updates with their bytes.

-- +goose Up
CREATE TABLE missions (
    s256               TEXT   PRIMARY KEY,      -- base64url SHA-256 of blob
    blob               BYTEA  NOT NULL,         -- the persisted bytes; never re-serialized
    agent_iss          TEXT   NOT NULL,
    agent_sub          TEXT   NOT NULL,         -- the blob's agent, exact bytes: ownership
    person_id          TEXT   NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    approved_at_ms     BIGINT NOT NULL,
    expires_at         BIGINT,
    state              TEXT   NOT NULL CHECK (state IN ('active', 'terminated')),
    termination_reason TEXT,
    terminated_at      BIGINT,
    terminated_by      TEXT,
    capabilities       TEXT   NOT NULL DEFAULT '[]', -- captured at proposal (A-11)
    -- SHA-256 over (agent_iss, agent_sub, s256): an agent's request for a
    -- mission is one index probe on this column, which misses the same way
    -- whether the mission is unknown or another agent's (A-05, PS-196).
    owner_key          TEXT   NOT NULL UNIQUE,
    CHECK ((state = 'active' AND termination_reason IS NULL) OR (state = 'terminated' AND termination_reason IS NOT NULL))
);
CREATE INDEX missions_owner ON missions (agent_iss, agent_sub);
CREATE INDEX missions_person ON missions (person_id, state);
-- approved_at is unique per PS (A-47): two missions never share an instant.
CREATE UNIQUE INDEX missions_approved_at ON missions (approved_at_ms);

CREATE TABLE mission_log (
    mission_s256 TEXT   NOT NULL REFERENCES missions (s256) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    kind         TEXT   NOT NULL,               -- proposal, approval, clarification, person_token, update, completion, interaction, decision, termination …
    actor        TEXT   NOT NULL,               -- agent, person, ps, admin
    summary      TEXT   NOT NULL DEFAULT '',    -- Markdown or a PS-written line
    body         BYTEA,                         -- exact bytes when they matter (accepted updates, A-10)
    digest       TEXT,                          -- s256 of body, when present
    PRIMARY KEY (mission_s256, seq)
);

-- +goose Down
DROP TABLE mission_log;
DROP TABLE missions;
