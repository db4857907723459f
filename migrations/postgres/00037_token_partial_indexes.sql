-- Two columns of the token records are NULL for most tokens: upstream_jti
-- (only a chained token has one, P§call-chaining) and mission_s256 (only
-- a token issued under a mission has one). Their indexes held an entry
-- for every record, so every issuance wrote a page of each into the WAL
-- for nothing (issue 12, docs/performance.md finding 50). They now hold
-- the records that have a value. Their readers ask by equality
-- ("upstream_jti = ?", "mission_s256 = ?"), which implies NOT NULL, so
-- they use them as before.

-- +goose Up
DROP INDEX person_token_records_upstream;
DROP INDEX auth_token_records_upstream;
DROP INDEX person_token_records_mission;
DROP INDEX auth_token_records_mission;
CREATE INDEX person_token_records_upstream ON person_token_records (upstream_jti) WHERE upstream_jti IS NOT NULL;
CREATE INDEX auth_token_records_upstream ON auth_token_records (upstream_jti) WHERE upstream_jti IS NOT NULL;
CREATE INDEX person_token_records_mission ON person_token_records (mission_s256) WHERE mission_s256 IS NOT NULL;
CREATE INDEX auth_token_records_mission ON auth_token_records (mission_s256) WHERE mission_s256 IS NOT NULL;

-- +goose Down
DROP INDEX auth_token_records_mission;
DROP INDEX person_token_records_mission;
DROP INDEX auth_token_records_upstream;
DROP INDEX person_token_records_upstream;
CREATE INDEX person_token_records_mission ON person_token_records (mission_s256);
CREATE INDEX auth_token_records_mission ON auth_token_records (mission_s256);
CREATE INDEX person_token_records_upstream ON person_token_records (upstream_jti);
CREATE INDEX auth_token_records_upstream ON auth_token_records (upstream_jti);
