-- Deferred responses (P§deferred-responses, PS-146..PS-179): one row per
-- pending request of any PS endpoint, so that a restart or another replica
-- on the same database continues it (package ps/pending). Times are BIGINT
-- unix seconds, except the two polling marks (unix milliseconds: the
-- slow_down rule works below the second).

-- +goose Up
CREATE TABLE pending_requests (
    id                   TEXT    PRIMARY KEY,        -- 128 random bits, base64url; the pending URL is {issuer}/pending/{id}
    kind                 TEXT    NOT NULL,           -- caller-defined: person_token, auth_token, mission, revocation, …
    stage                TEXT    NOT NULL DEFAULT '',
    requester_scheme     TEXT    NOT NULL,           -- Signature-Key scheme of the creator: jwt | jwks_uri (A-58)
    requester_iss        TEXT    NOT NULL,           -- agent provider (jwt) or server id (jwks_uri)
    requester_sub        TEXT    NOT NULL,           -- agent id (jwt); '' for a server
    person_id            TEXT    NOT NULL DEFAULT '',
    state                TEXT    NOT NULL CHECK (state IN ('pending', 'interacting', 'completed', 'denied',
                                                           'abandoned', 'expired', 'cancelled', 'failed')),
    requirement          TEXT    NOT NULL CHECK (requirement IN ('', 'interaction', 'approval')),
    capabilities         TEXT    NOT NULL DEFAULT '[]', -- JSON array of declared capabilities
    payload              TEXT,                       -- JSON: the caller's copy of the original request
    callback             TEXT    NOT NULL DEFAULT '',
    code_hash            BYTEA,                      -- SHA-256 over (id, normalized interaction code); never the code
    code_attempts        INTEGER NOT NULL DEFAULT 0 CHECK (code_attempts >= 0),
    code_consumed_at     BIGINT,
    question             TEXT,                       -- outstanding clarification (Markdown), NULL when none
    question_options     TEXT,                       -- JSON array of strings
    question_asked_at    BIGINT,
    question_deadline    BIGINT,
    clarification_rounds INTEGER NOT NULL DEFAULT 0 CHECK (clarification_rounds >= 0),
    answers              TEXT    NOT NULL DEFAULT '[]', -- JSON clarification history
    result_status        INTEGER,                    -- terminal answer, NULL while open
    result_body          TEXT,                       -- terminal body (JSON or ''), NULL while open
    result_delivered_at  BIGINT,                     -- set once: the answer is delivered exactly once
    retry_after          INTEGER NOT NULL CHECK (retry_after >= 0),
    last_poll_ms         BIGINT,                     -- when the last poll was answered (unix ms)
    long_poll_until_ms   BIGINT,                     -- end of the outstanding long-poll (unix ms)
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    expires_at           BIGINT  NOT NULL,
    version              BIGINT  NOT NULL DEFAULT 1, -- optimistic concurrency; bumped by every state change
    CHECK ((state IN ('pending', 'interacting')) = (result_status IS NULL AND result_body IS NULL)),
    CHECK ((question IS NULL) = (question_deadline IS NULL)),
    CHECK (result_delivered_at IS NULL OR result_status IS NOT NULL)
);
-- The person's inbox (ForPerson) and the revocation cascade (ForRequester).
CREATE INDEX pending_requests_person ON pending_requests (person_id, created_at)
    WHERE state IN ('pending', 'interacting');
CREATE INDEX pending_requests_requester ON pending_requests (requester_iss, requester_sub)
    WHERE state IN ('pending', 'interacting');
-- ExpireDue and Purge.
CREATE INDEX pending_requests_expires_at ON pending_requests (expires_at);
CREATE INDEX pending_requests_question_deadline ON pending_requests (question_deadline)
    WHERE question_deadline IS NOT NULL;

-- +goose Down
DROP TABLE pending_requests;
