-- The interaction code is shown to the agent on every poll until the
-- person uses it (PS-150: the same header set on every 202; PS-159). It is
-- kept only while unused and cleared when consumed; comparisons still use
-- the hash.

-- +goose Up
ALTER TABLE pending_requests ADD COLUMN code_display TEXT;

-- +goose Down
ALTER TABLE pending_requests DROP COLUMN code_display;
