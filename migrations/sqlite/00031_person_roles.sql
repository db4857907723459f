-- Approver roles (issue 10): the organisation roles a person holds for
-- Mission composition, so a checkpoint whose approver is {"role": R} can be
-- recorded by someone holding R. An administrator assigns and removes them
-- (admin page, `aauth-ps persons roles`); every change is audited. These
-- are authority inside this PS, kept apart from persons.roles_json (the
-- A-42 identity claim a resource may be told). Times are unix seconds.

-- +goose Up
CREATE TABLE person_roles (
    person_id  TEXT   NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL CHECK (length(role) BETWEEN 1 AND 128),
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, role)
);
CREATE INDEX person_roles_role ON person_roles (role);

-- +goose Down
DROP TABLE person_roles;
