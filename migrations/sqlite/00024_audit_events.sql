-- Audit trail (issue 14): one row per administrative change, whoever made
-- it (person, admin, cli, api-token), shown at /admin/audit; detail is
-- JSON without secrets. Purged after the retention (--audit-retention).

-- +goose Up
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at          BIGINT NOT NULL,
    actor_kind  TEXT   NOT NULL CHECK (actor_kind IN ('person', 'admin', 'cli', 'api-token')),
    actor_id    TEXT   NOT NULL DEFAULT '',
    action      TEXT   NOT NULL,
    target      TEXT   NOT NULL DEFAULT '',
    detail      TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events (at);

-- +goose Down
DROP TABLE audit_events;
