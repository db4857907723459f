-- Four-party clarification from mission context (issue 11, fedanswer):
-- when the person answers an access server's question on a mission-bound
-- request and ticks "Give the same answer if <AS> asks this again during
-- this mission", the PS keeps that answer for exactly (mission, AS,
-- sha-256 of the question text) and answers the same question itself
-- while the mission is active. Bounded per mission in code (20). Forget
-- deletes the row; the evidence chain keeps its history.

-- +goose Up
CREATE TABLE mission_standing_answers (
    id            TEXT   PRIMARY KEY,
    mission_s256  TEXT   NOT NULL REFERENCES missions (s256) ON DELETE CASCADE,
    access_server TEXT   NOT NULL,
    question_s256 TEXT   NOT NULL,
    question      TEXT   NOT NULL,
    answer        TEXT   NOT NULL,
    created_by    TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (mission_s256, access_server, question_s256)
);

-- +goose Down
DROP TABLE mission_standing_answers;
