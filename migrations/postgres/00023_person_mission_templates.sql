-- Standing approval by the person (issue 10): "Let missions like this
-- start without asking me" on the mission consent page stores the
-- approved Authority Set (and the resources and tools it was approved
-- for) as bounds for the same agent's later proposals. Bounded per person
-- in code; removing one stops future headless activation only.

-- +goose Up
CREATE TABLE person_mission_templates (
    id             TEXT   PRIMARY KEY,
    person_id      TEXT   NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    agent_iss      TEXT   NOT NULL,
    agent_sub      TEXT   NOT NULL,
    resources      TEXT   NOT NULL,
    tools          TEXT   NOT NULL,
    authority_set  TEXT   NOT NULL,
    authority_hash TEXT   NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX person_mission_templates_agent ON person_mission_templates (person_id, agent_iss, agent_sub);

-- +goose Down
DROP TABLE person_mission_templates;
