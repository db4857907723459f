-- Only a chained token (P§call-chaining) has an upstream token, and the
-- revocation cascade that follows a chain downwards asks for one
-- (upstream_jti = ?). The indexes held an entry for every token record,
-- nearly all of them NULL, so every issuance wrote a page of each into
-- the WAL for nothing (issue 12, docs/performance.md finding 50). They
-- now hold the chained tokens only; "upstream_jti = ?" implies NOT NULL,
-- so the cascade's reads use them as before.

-- +goose Up
DROP INDEX person_token_records_upstream;
DROP INDEX auth_token_records_upstream;
CREATE INDEX person_token_records_upstream ON person_token_records (upstream_jti) WHERE upstream_jti IS NOT NULL;
CREATE INDEX auth_token_records_upstream ON auth_token_records (upstream_jti) WHERE upstream_jti IS NOT NULL;

-- +goose Down
DROP INDEX auth_token_records_upstream;
DROP INDEX person_token_records_upstream;
CREATE INDEX person_token_records_upstream ON person_token_records (upstream_jti);
CREATE INDEX auth_token_records_upstream ON auth_token_records (upstream_jti);
