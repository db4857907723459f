-- Four-party settle-once (issue 11 review): each provisional decision is
-- settled once (composition.Point.Settle, a poll loop and the expiry sweep
-- may race). The check read up to 1000 token_delivered records of the
-- mission and decoded each; this table is keyed by the decision id, so
-- the check is one primary-key insert (ON CONFLICT DO NOTHING), in the
-- settlement's transaction. Existing token_delivered records are copied
-- in, so a reservation settled before this migration stays settled.

-- +goose Up
CREATE TABLE mission_settlements (
    decision     TEXT   PRIMARY KEY,
    mission_s256 TEXT   NOT NULL REFERENCES missions (s256) ON DELETE CASCADE,
    at_ms        BIGINT NOT NULL
);
CREATE INDEX mission_settlements_mission ON mission_settlements (mission_s256);
INSERT INTO mission_settlements (decision, mission_s256, at_ms)
SELECT convert_from(record, 'UTF8')::jsonb #>> '{body,decision}', mission_s256, MIN(at_ms)
  FROM mission_evidence
 WHERE type = 'token_delivered' AND convert_from(record, 'UTF8')::jsonb #>> '{body,decision}' IS NOT NULL
 GROUP BY convert_from(record, 'UTF8')::jsonb #>> '{body,decision}', mission_s256
ON CONFLICT (decision) DO NOTHING;

-- +goose Down
DROP TABLE mission_settlements;
