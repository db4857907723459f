-- RFC 3161 anchoring of signed evidence chain heads (design §7, Level
-- 4): one row per chain_head record signed while a time-stamping
-- authority is configured (--evidence-tsa-url), written in the head's
-- transaction; the token is filled in afterwards, outside it (a network
-- call never holds a transaction), and a head the TSA did not stamp stays
-- here unanchored until a later sweep does. imprint is the base64url
-- SHA-256 of the head's compact JWS (mission/tsa.HeadImprint); token the
-- time-stamp token's DER, NULL until anchored. next_ms is when the head
-- may be asked for next: a replica claims a head by moving it forward
-- (compare-and-swap), so one replica at a time asks for it, and a failure
-- moves it back off. The evidence record's deletion (its mission's)
-- deletes the row.

-- +goose Up
CREATE TABLE evidence_timestamps (
    chain        TEXT    NOT NULL,
    seq          BIGINT  NOT NULL,
    mission_s256 TEXT    NOT NULL,
    imprint      TEXT    NOT NULL,
    token        BLOB,
    gen_time_ms  BIGINT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_ms      BIGINT  NOT NULL,
    PRIMARY KEY (chain, seq),
    FOREIGN KEY (chain, seq) REFERENCES mission_evidence (chain, seq) ON DELETE CASCADE
);
-- The sweep's due heads: only the unanchored ones are indexed.
CREATE INDEX evidence_timestamps_due ON evidence_timestamps (next_ms) WHERE token IS NULL;

-- +goose Down
DROP TABLE evidence_timestamps;
