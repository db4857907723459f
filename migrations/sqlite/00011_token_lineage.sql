-- Token lineage (issue 8: call chaining and sub-agents): for every person
-- and auth token the PS issues, the upstream token it was issued on
-- (call chaining, P§call-chaining), how many hops from the first agent it
-- is (bounded, docs/decisions.md), and the sub-agent it is bound to when a
-- parent agent asked for it (P§sub-agents: the PS records the parent_agent
-- binding; agent_* stay the parent, the signer).

-- +goose Up
ALTER TABLE person_token_records ADD COLUMN upstream_jti TEXT;
ALTER TABLE person_token_records ADD COLUMN chain_depth INTEGER NOT NULL DEFAULT 0;
ALTER TABLE person_token_records ADD COLUMN subagent_sub TEXT;
ALTER TABLE person_token_records ADD COLUMN subagent_token_jti TEXT;
ALTER TABLE auth_token_records ADD COLUMN upstream_jti TEXT;
ALTER TABLE auth_token_records ADD COLUMN chain_depth INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_token_records ADD COLUMN subagent_sub TEXT;
ALTER TABLE auth_token_records ADD COLUMN subagent_token_jti TEXT;
-- Revocation cascades follow a chain downwards (P§token-revocation).
CREATE INDEX person_token_records_upstream ON person_token_records (upstream_jti);
CREATE INDEX auth_token_records_upstream ON auth_token_records (upstream_jti);

-- +goose Down
DROP INDEX auth_token_records_upstream;
DROP INDEX person_token_records_upstream;
ALTER TABLE auth_token_records DROP COLUMN subagent_token_jti;
ALTER TABLE auth_token_records DROP COLUMN subagent_sub;
ALTER TABLE auth_token_records DROP COLUMN chain_depth;
ALTER TABLE auth_token_records DROP COLUMN upstream_jti;
ALTER TABLE person_token_records DROP COLUMN subagent_token_jti;
ALTER TABLE person_token_records DROP COLUMN subagent_sub;
ALTER TABLE person_token_records DROP COLUMN chain_depth;
ALTER TABLE person_token_records DROP COLUMN upstream_jti;
