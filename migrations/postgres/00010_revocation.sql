-- Revocation (issue 8, E11): what the cascades need (P§revocation-cascade
-- Records, PS-293) and the downstream revocations the PS sends (PS-286,
-- PS-291, PS-292).

-- +goose Up
-- Every agent token the PS accepted: (iss, jti) and the sub it carried, so
-- that an agent provider's revocation of any of the agent's tokens cascades
-- by the agent's sub (PS-239). Kept until exp + clock skew.
CREATE TABLE agent_token_subs (
    iss TEXT   NOT NULL,
    jti TEXT   NOT NULL,
    sub TEXT   NOT NULL,
    exp BIGINT NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX agent_token_subs_exp ON agent_token_subs (exp);

-- One row per revocation that started a cascade: a server's (iss, jti) at
-- the revocation endpoint, or a person's action in the web UI. id names
-- its pending URL; only iss may poll it.
CREATE TABLE revocation_cascades (
    id         TEXT   PRIMARY KEY,
    iss        TEXT   NOT NULL,
    jti        TEXT   NOT NULL,
    exp        BIGINT NOT NULL,                 -- dropped once every token it revoked expired
    created_at BIGINT NOT NULL,
    UNIQUE (iss, jti)
);
CREATE INDEX revocation_cascades_exp ON revocation_cascades (exp);

-- The downstream revocations of a cascade: one PS-issued token at one
-- recipient (a resource). outcome is pending until terminal (PS-286).
CREATE TABLE revocation_deliveries (
    cascade_id TEXT   NOT NULL REFERENCES revocation_cascades (id) ON DELETE CASCADE,
    recipient  TEXT   NOT NULL,
    token_jti  TEXT   NOT NULL,
    token_exp  BIGINT NOT NULL,
    outcome    TEXT   NOT NULL CHECK (outcome IN ('pending', 'revoked', 'revocation_unsupported', 'revocation_unavailable')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (cascade_id, recipient, token_jti)
);

-- +goose Down
DROP TABLE revocation_deliveries;
DROP TABLE revocation_cascades;
DROP TABLE agent_token_subs;
