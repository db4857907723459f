-- Remembered R3 grants (R3 -02, issue 8): a person's choice on one R3
-- document (by r3_s256) for one agent at one resource: the operations
-- granted outright and per call, as JSON arrays that are subsets of the
-- document's operations. A second request naming the same document is
-- issued without asking; "What your agents can access" lists and removes
-- them. At most 50 per agent and resource (the oldest go first).
-- An auth token's issuance record also keeps the r3_uri and r3_s256 it
-- carried (R3§as-processing step 4: the audit record, written in the
-- issuing transaction).

-- +goose Up
CREATE TABLE r3_grants (
    person_id    TEXT   NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    agent_iss    TEXT   NOT NULL,
    agent_sub    TEXT   NOT NULL,
    resource     TEXT   NOT NULL,
    r3_s256      TEXT   NOT NULL,
    r3_uri       TEXT   NOT NULL,
    vocabulary   TEXT   NOT NULL,
    summary      TEXT   NOT NULL,
    granted_ops  TEXT   NOT NULL, -- JSON array (r3_granted operations)
    per_call_ops TEXT   NOT NULL, -- JSON array (r3_per_call operations)
    granted_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    PRIMARY KEY (person_id, agent_iss, agent_sub, resource, r3_s256)
);

ALTER TABLE auth_token_records ADD COLUMN r3_uri TEXT;
ALTER TABLE auth_token_records ADD COLUMN r3_s256 TEXT;

-- +goose Down
ALTER TABLE auth_token_records DROP COLUMN r3_s256;
ALTER TABLE auth_token_records DROP COLUMN r3_uri;
DROP TABLE r3_grants;
