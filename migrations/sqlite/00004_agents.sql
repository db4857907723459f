-- Agent providers the PS has seen or an operator decided on, agent–person
-- bindings (P§agent-person-binding) and persons' own provider blocks.

-- +goose Up
CREATE TABLE agent_providers (
    issuer        TEXT    PRIMARY KEY,          -- server identifier, exact bytes
    status        TEXT    NOT NULL DEFAULT 'seen' CHECK (status IN ('seen', 'allowed', 'blocked')),
    name          TEXT    NOT NULL DEFAULT '',  -- from aauth-agent.json, agent-asserted display values
    description   TEXT    NOT NULL DEFAULT '',
    logo_uri      TEXT    NOT NULL DEFAULT '',
    first_seen_at BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL,
    decided_by    TEXT,                         -- person id of the operator who allowed/blocked
    decided_at    BIGINT
);

CREATE TABLE agent_bindings (
    id            TEXT    PRIMARY KEY,
    provider      TEXT    NOT NULL,             -- agent token iss
    agent_id      TEXT    NOT NULL,             -- agent token sub, exact and case-sensitive
    person_id     TEXT    NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    state         TEXT    NOT NULL CHECK (state IN ('active', 'revoked', 'unbound')),
    platform      TEXT    NOT NULL DEFAULT '',
    device        TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL,
    ended_at      BIGINT,
    ended_by      TEXT
);
-- One person per agent at a time (the binding invariant); a revoked row
-- also holds the agent so that its requests stay refused.
CREATE UNIQUE INDEX agent_bindings_one_live ON agent_bindings (provider, agent_id) WHERE state IN ('active', 'revoked');
CREATE INDEX agent_bindings_person ON agent_bindings (person_id, state);

CREATE TABLE person_provider_blocks (
    person_id  TEXT   NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    issuer     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, issuer)
);

-- +goose Down
DROP TABLE person_provider_blocks;
DROP TABLE agent_bindings;
DROP TABLE agent_providers;
