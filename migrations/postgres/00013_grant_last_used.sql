-- When a standing grant last let the PS issue a token without asking
-- (issue 9 item 5): set by one UPDATE in the issuing transaction, shown on
-- "What your agents can access". NULL: never used since it was given.

-- +goose Up
ALTER TABLE resource_consents ADD COLUMN last_used_at BIGINT;
ALTER TABLE scope_grants ADD COLUMN last_used_at BIGINT;

-- +goose Down
ALTER TABLE scope_grants DROP COLUMN last_used_at;
ALTER TABLE resource_consents DROP COLUMN last_used_at;
