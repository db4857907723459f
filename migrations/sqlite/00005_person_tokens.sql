-- Person tokens: directed subject identifiers per (person, resource), the
-- issuance records kept for revocation (P§person-token-endpoint,
-- Retention), and the consent a person gave an agent for a resource.

-- +goose Up
CREATE TABLE pairwise_subjects (
    person_id  TEXT   NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    resource   TEXT   NOT NULL,                 -- server identifier (the token aud)
    sub        TEXT   NOT NULL,                 -- opaque, random; the same for every token to this resource
    created_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, resource)
);
-- Call chaining resolves the person from (resource, sub).
CREATE UNIQUE INDEX pairwise_subjects_by_sub ON pairwise_subjects (resource, sub);

CREATE TABLE person_token_records (
    jti             TEXT   PRIMARY KEY,
    aud             TEXT   NOT NULL,
    sub             TEXT   NOT NULL,
    person_id       TEXT   NOT NULL,
    agent_iss       TEXT   NOT NULL,
    agent_sub       TEXT   NOT NULL,
    agent_token_jti TEXT   NOT NULL,
    cnf_thumbprint  TEXT   NOT NULL,
    mission_s256    TEXT,
    tenant          TEXT,
    presented_to    TEXT,                       -- JSON array of AS issuers it was presented to
    issued_at       BIGINT NOT NULL,
    exp             BIGINT NOT NULL             -- kept until exp + clock skew (A-19)
);
CREATE INDEX person_token_records_exp ON person_token_records (exp);
CREATE INDEX person_token_records_agent ON person_token_records (agent_iss, agent_sub, issued_at);
CREATE INDEX person_token_records_mission ON person_token_records (mission_s256);

CREATE TABLE resource_consents (
    person_id  TEXT   NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    agent_iss  TEXT   NOT NULL,
    agent_sub  TEXT   NOT NULL,
    resource   TEXT   NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, agent_iss, agent_sub, resource)
);
CREATE INDEX resource_consents_agent_time ON resource_consents (agent_iss, agent_sub, granted_at);

-- +goose Down
DROP TABLE resource_consents;
DROP TABLE person_token_records;
DROP TABLE pairwise_subjects;
