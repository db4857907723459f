-- Initial schema: the PS's own signing keys, the shared RFC 9421 replay
-- cache and the revocation list. Times that SQL compares are BIGINT unix
-- seconds; so, for consistency, are all other timestamps.

-- +goose Up
CREATE TABLE signing_keys (
    kid            TEXT   PRIMARY KEY,          -- RFC 7638 thumbprint (base64url SHA-256)
    alg            TEXT   NOT NULL,             -- fully-specified JOSE alg: Ed25519 | ES256
    public_jwk     TEXT   NOT NULL,             -- public JWK (JSON), as published
    private_sealed BLOB   NOT NULL,             -- PKCS#8 private key, AES-256-GCM sealed (AAD = kid)
    state          TEXT   NOT NULL CHECK (state IN ('active', 'retired')),
    created_at     BIGINT NOT NULL,
    activated_at   BIGINT NOT NULL,
    retired_at     BIGINT,
    publish_until  BIGINT,                      -- retired keys stay in the JWKS until then
    CHECK ((state = 'active'  AND retired_at IS NULL     AND publish_until IS NULL)
        OR (state = 'retired' AND retired_at IS NOT NULL AND publish_until IS NOT NULL))
);
-- At most one active key: concurrent EnsureActive/Rotate on two replicas
-- cannot both succeed.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';

CREATE TABLE replay_cache (
    "key"      TEXT   PRIMARY KEY,              -- hex SHA-256 of (label, signature bytes), A-37
    expires_at BIGINT NOT NULL                  -- created + window, unix seconds
);
CREATE INDEX replay_cache_expires_at ON replay_cache (expires_at);

CREATE TABLE revoked_tokens (
    iss        TEXT   NOT NULL,
    jti        TEXT   NOT NULL,
    exp        BIGINT NOT NULL,                 -- the token's exp, unix seconds
    revoked_at BIGINT NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX revoked_tokens_exp ON revoked_tokens (exp);

-- +goose Down
DROP TABLE revoked_tokens;
DROP TABLE replay_cache;
DROP TABLE signing_keys;
