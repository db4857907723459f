-- Four-party federation (issue 11): the access servers this PS knows (the
-- operator's trust decision, per-AS claim release rule, billing
-- relationship), the claims released to each for a person and the
-- person's stop on future release, and which person tokens the PS
-- presented to which AS (the revocation cascade notifies it; purged after
-- the token's exp).

-- +goose Up
CREATE TABLE access_servers (
    issuer         TEXT   PRIMARY KEY,
    status         TEXT   NOT NULL CHECK (status IN ('seen', 'trusted', 'distrusted')),
    release_claims TEXT   NOT NULL DEFAULT '',
    billing_at     BIGINT,
    billing_by     TEXT   NOT NULL DEFAULT '',
    updated_at     BIGINT NOT NULL,
    updated_by     TEXT   NOT NULL DEFAULT ''
);
CREATE TABLE access_server_releases (
    person_id     TEXT   NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    access_server TEXT   NOT NULL,
    claim         TEXT   NOT NULL,
    released_at   BIGINT NOT NULL,
    PRIMARY KEY (person_id, access_server, claim)
);
CREATE TABLE access_server_release_stops (
    person_id     TEXT   NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    access_server TEXT   NOT NULL,
    stopped_at    BIGINT NOT NULL,
    PRIMARY KEY (person_id, access_server)
);
CREATE TABLE access_server_presentations (
    jti           TEXT   NOT NULL,
    access_server TEXT   NOT NULL,
    person_id     TEXT   NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    exp           BIGINT NOT NULL,
    PRIMARY KEY (jti, access_server)
);
CREATE INDEX access_server_presentations_exp ON access_server_presentations (exp);

-- +goose Down
DROP TABLE access_server_presentations;
DROP TABLE access_server_release_stops;
DROP TABLE access_server_releases;
DROP TABLE access_servers;
