-- Why a pending request ended, in the PS's own words for the person's
-- page (pending.Request.ResultReason, e.g. agent_revoked: she revoked the
-- agent while it waited): a code stored with the result, never sent to
-- the requester, whose answer (result_body) is the protocol's problem
-- alone. '' when the answer says it all.

-- +goose Up
ALTER TABLE pending_requests ADD COLUMN result_reason TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE pending_requests DROP COLUMN result_reason;
