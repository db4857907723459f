-- Admin API tokens (issue 14): automation's bearer credential for the JSON
-- API. Only the SHA-256 of the secret is stored; every token expires;
-- revoked_at and last_used_at are shown to administrators.

-- +goose Up
CREATE TABLE api_tokens (
    id           TEXT   PRIMARY KEY,
    token_hash   TEXT   NOT NULL UNIQUE,
    name         TEXT   NOT NULL,
    person_id    TEXT   NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    scope        TEXT   NOT NULL CHECK (scope IN ('read', 'mission-control', 'admin')),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_live ON api_tokens (expires_at) WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE api_tokens;
