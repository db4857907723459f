-- Two gaps of the revocation records (P§revocation-cascade,
-- P§revocation-response).
--
-- A sub-agent's agent token, accepted as a parent's subagent_token, is
-- revoked by its agent provider like any other: the PS cascades by the
-- sub-agent's identity (PS-239, PS-293), over the token records whose
-- subagent_sub (migration 00011) names it. Most records have none, so the
-- indexes hold only those that do (as 00037); their reader asks
-- "agent_iss = ? AND subagent_sub = ?".
--
-- An access server's 200 reports the revocations it made downstream
-- (PS-292): downstream is that report, stored with the outcome it came
-- with (JSON, at most 100 entries; NULL when none was given), which each
-- later outcome of the delivery replaces.

-- +goose Up
CREATE INDEX person_token_records_subagent ON person_token_records (agent_iss, subagent_sub) WHERE subagent_sub IS NOT NULL;
CREATE INDEX auth_token_records_subagent ON auth_token_records (agent_iss, subagent_sub) WHERE subagent_sub IS NOT NULL;
ALTER TABLE revocation_deliveries ADD COLUMN downstream TEXT;

-- +goose Down
ALTER TABLE revocation_deliveries DROP COLUMN downstream;
DROP INDEX auth_token_records_subagent;
DROP INDEX person_token_records_subagent;
