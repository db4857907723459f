-- Four-party federation (issue 11): one poller per pending federated
-- request across replicas. The replica polling an access server for a
-- pending request holds its lease (owner, until); another replica's loop
-- for the same request (Service.Resume starts one on each replica) waits
-- and takes over once the lease lapses. Deleted with the request.

-- +goose Up
CREATE TABLE federation_poll_leases (
    pending_id  TEXT   NOT NULL PRIMARY KEY REFERENCES pending_requests(id) ON DELETE CASCADE,
    owner       TEXT   NOT NULL,
    lease_until BIGINT NOT NULL
);

-- +goose Down
DROP TABLE federation_poll_leases;
