-- Permission endpoint (E7, issue 8): the answers a person chose to remember
-- for one agent and one action ("always allow" / "always refuse").

-- +goose Up
CREATE TABLE permission_rules (
    person_id  TEXT   NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    agent_iss  TEXT   NOT NULL,
    agent_sub  TEXT   NOT NULL,
    action     TEXT   NOT NULL,             -- exactly as the agent sent it
    permission TEXT   NOT NULL CHECK (permission IN ('granted', 'denied')),
    decided_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, agent_iss, agent_sub, action)
);

-- +goose Down
DROP TABLE permission_rules;
