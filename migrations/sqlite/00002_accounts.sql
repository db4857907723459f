-- Accounts: the persons this PS serves, their passwords and passkeys, their
-- browser sessions, admin invitations and the login-failure log that rate
-- limits password guessing across replicas (package ps/account). Times are
-- BIGINT unix seconds, as in 00001; booleans are 0/1. Tokens (sessions,
-- invites) are stored only as hex SHA-256 hashes.

-- +goose Up
CREATE TABLE persons (
    id             TEXT    PRIMARY KEY,         -- random 128-bit, base64url
    username       TEXT    NOT NULL UNIQUE      -- lowercase login name
                   CHECK (username = lower(username) AND length(username) BETWEEN 3 AND 64),
    email          TEXT,                        -- NULL: none; unique (case-insensitively) when present
    email_verified BOOLEAN NOT NULL DEFAULT 0,
    name           TEXT    NOT NULL DEFAULT '',
    tenant         TEXT    NOT NULL DEFAULT '', -- A-42 tenant claim; organisational context only
    groups_json    TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings (A-42 groups)
    roles_json     TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings (A-42 roles)
    is_admin       BOOLEAN NOT NULL DEFAULT 0,
    inbox_channel  BOOLEAN NOT NULL DEFAULT 0, -- agents may reach the person through the PS inbox
    password_hash  TEXT,                        -- PHC argon2id; NULL: no password (passkeys only)
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    disabled_at    BIGINT                       -- NULL: enabled
);
CREATE UNIQUE INDEX persons_email ON persons (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE sessions (
    id_hash         TEXT   PRIMARY KEY,         -- hex SHA-256 of the cookie token (never stored)
    person_id       TEXT   NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    csrf_token      TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,            -- absolute end
    idle_expires_at BIGINT NOT NULL,            -- slides with use, never past expires_at
    user_agent      TEXT   NOT NULL DEFAULT '',
    ip              TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX sessions_person_id ON sessions (person_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE invites (
    token_hash  TEXT    PRIMARY KEY,            -- hex SHA-256 of the invite token (never stored)
    created_by  TEXT    REFERENCES persons (id) ON DELETE SET NULL, -- NULL: the operator (CLI)
    email       TEXT,
    is_admin    BOOLEAN NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    redeemed_at BIGINT,
    redeemed_by TEXT    REFERENCES persons (id) ON DELETE SET NULL
);
CREATE INDEX invites_expires_at ON invites (expires_at);

CREATE TABLE login_attempts (
    "key" TEXT   NOT NULL,                      -- "user:<hash of the name>" | "ip:<address or /64>"
    at    BIGINT NOT NULL                       -- time of the failed attempt
);
CREATE INDEX login_attempts_key_at ON login_attempts ("key", at);
CREATE INDEX login_attempts_at ON login_attempts (at);

CREATE TABLE webauthn_credentials (
    id                 TEXT    PRIMARY KEY,     -- credential id, base64url
    person_id          TEXT    NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    public_key         BLOB    NOT NULL,        -- COSE key as the authenticator sent it
    attestation_type   TEXT    NOT NULL DEFAULT '',
    attestation_format TEXT    NOT NULL DEFAULT '',
    aaguid             TEXT    NOT NULL DEFAULT '', -- UUID text
    sign_count         BIGINT  NOT NULL DEFAULT 0,
    transports         TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    backup_eligible    BOOLEAN NOT NULL DEFAULT 0,
    backup_state       BOOLEAN NOT NULL DEFAULT 0,
    name               TEXT    NOT NULL DEFAULT '',
    created_at         BIGINT  NOT NULL,
    last_used_at       BIGINT                   -- NULL: never used to log in
);
CREATE INDEX webauthn_credentials_person_id ON webauthn_credentials (person_id);

CREATE TABLE webauthn_ceremonies (
    id         TEXT   PRIMARY KEY,              -- random, handed to the browser
    person_id  TEXT   REFERENCES persons (id) ON DELETE CASCADE, -- NULL for a discoverable login
    kind       TEXT   NOT NULL CHECK (kind IN ('register', 'login')),
    data       TEXT   NOT NULL,                 -- go-webauthn SessionData (JSON)
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);

-- +goose Down
DROP TABLE webauthn_ceremonies;
DROP TABLE webauthn_credentials;
DROP TABLE login_attempts;
DROP TABLE invites;
DROP TABLE sessions;
DROP TABLE persons;
