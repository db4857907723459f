-- The attempt lease of a downstream revocation (PS-291, PS-286): a sender
-- claims a delivery for one attempt by setting lease_until (unix seconds)
-- past that attempt's end, and clears it when it records the outcome. A
-- repeat of the revocation, a poll of its pending URL or another replica
-- sends only what no current lease holds, so one attempt of a delivery is
-- in flight at a time; a lease whose sender stopped lapses. NULL: nobody
-- is sending it. Claims are by primary key: no index.

-- +goose Up
ALTER TABLE revocation_deliveries ADD COLUMN lease_until BIGINT;

-- +goose Down
ALTER TABLE revocation_deliveries DROP COLUMN lease_until;
