-- 100k stored missions (issue 12): the housekeeping sweep that ends
-- missions held past their hold (store.HoldsDue, every minute) read the
-- whole missions table; only suspended missions have a hold_until, so a
-- partial index on it keeps the sweep at the size of the held set.

-- +goose Up
CREATE INDEX missions_hold_due ON missions (hold_until, s256) WHERE hold_until IS NOT NULL;

-- +goose Down
DROP INDEX missions_hold_due;
