-- Retries of the downstream revocations the PS itself started (a mission's
-- lifecycle transition, a person's revocation of an agent): design §5
-- "Revocation propagation" ("backing off 1 s → 60 s until exp"). A
-- delivery whose last attempt ended revocation_unavailable, or that is
-- still pending past its fallback (queued with it: its sender may stop
-- before it finishes), is attempted again at next_attempt_at (unix
-- seconds; NULL: nothing scheduled — it succeeded, is permanent, the
-- token expired, or an agent provider's revocation started it: its
-- repeat re-attempts, PS-291). attempts (00010) counts the attempts made. A replica claims a due delivery by moving
-- next_attempt_at past the attempt's end, so one replica sends it; a
-- restart finds the schedule here. The partial index holds only the
-- scheduled rows: the sweep reads those, not the whole table.

-- +goose Up
ALTER TABLE revocation_deliveries ADD COLUMN next_attempt_at BIGINT;
CREATE INDEX revocation_deliveries_retry ON revocation_deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

-- +goose Down
DROP INDEX revocation_deliveries_retry;
ALTER TABLE revocation_deliveries DROP COLUMN next_attempt_at;
