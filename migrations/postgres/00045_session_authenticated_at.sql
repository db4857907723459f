-- When the person last proved a credential in this session (unix
-- seconds): at login with a password or passkey, on sign-up or invitation,
-- or on the re-authentication page. Adding or removing a passkey, and
-- setting a password without giving a current one, need it to be recent
-- (docs/decisions.md, "Credential changes need a recent proof"). NULL: no
-- proof in this session (sessions from before this migration included),
-- so such a change asks the person to confirm it is them first.

-- +goose Up
ALTER TABLE sessions ADD COLUMN authenticated_at BIGINT;

-- +goose Down
ALTER TABLE sessions DROP COLUMN authenticated_at;
