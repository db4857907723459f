-- Auth tokens (issue 8): every auth token the PS issues, kept for
-- revocation and audit (jti, aud, exp, mission, parent), and the scopes a
-- person granted an agent at a resource (P§auth-token-endpoint, consent).

-- +goose Up
CREATE TABLE auth_token_records (
    jti                TEXT   PRIMARY KEY,
    aud                TEXT   NOT NULL,     -- the resource
    sub                TEXT   NOT NULL,     -- the directed identifier at aud
    person_id          TEXT   NOT NULL,
    agent_iss          TEXT   NOT NULL,
    agent_sub          TEXT   NOT NULL,
    agent_token_jti    TEXT   NOT NULL,
    cnf_thumbprint     TEXT   NOT NULL,
    scope              TEXT   NOT NULL,     -- space-separated, as issued
    mission_s256       TEXT,
    tenant             TEXT,
    parent_jti         TEXT   NOT NULL,     -- the presented token (person or auth token) it was issued against
    resource_token_jti TEXT   NOT NULL,
    issued_at          BIGINT NOT NULL,
    exp                BIGINT NOT NULL      -- kept until exp + clock skew (A-19)
);
CREATE INDEX auth_token_records_exp ON auth_token_records (exp);
CREATE INDEX auth_token_records_parent ON auth_token_records (parent_jti);
CREATE INDEX auth_token_records_mission ON auth_token_records (mission_s256);
CREATE INDEX auth_token_records_agent ON auth_token_records (agent_iss, agent_sub, issued_at);

CREATE TABLE scope_grants (
    person_id  TEXT   NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    agent_iss  TEXT   NOT NULL,
    agent_sub  TEXT   NOT NULL,
    resource   TEXT   NOT NULL,
    scope      TEXT   NOT NULL,             -- one scope value
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, agent_iss, agent_sub, resource, scope)
);

-- +goose Down
DROP TABLE scope_grants;
DROP TABLE auth_token_records;
