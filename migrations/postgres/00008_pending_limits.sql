-- Bounds on pending requests (issue 15 item 2) and what a long poll last
-- told its agent (issue 15 item 7), package ps/pending.
--   client_net      the network the creating request came from (an IPv4
--                   address or an IPv6 /64), for the per-client bound;
--   first_contact   1 for the request of an agent the PS did not know yet,
--                   for the first-contacts-per-provider-per-minute bound;
--   delivered_view  the view of the request the requester was last shown,
--                   so a long poll answers at once when it differs.

-- +goose Up
ALTER TABLE pending_requests ADD COLUMN client_net TEXT;
ALTER TABLE pending_requests ADD COLUMN first_contact INTEGER NOT NULL DEFAULT 0 CHECK (first_contact IN (0, 1));
ALTER TABLE pending_requests ADD COLUMN delivered_view TEXT;
-- The admission counts: open requests per provider (the requester index
-- covers agents) and per client network; recent first contacts per provider.
CREATE INDEX pending_requests_provider_open ON pending_requests (requester_iss, expires_at)
    WHERE state IN ('pending', 'interacting');
CREATE INDEX pending_requests_client_open ON pending_requests (client_net, expires_at)
    WHERE state IN ('pending', 'interacting') AND client_net IS NOT NULL;
CREATE INDEX pending_requests_first_contacts ON pending_requests (requester_iss, created_at)
    WHERE first_contact = 1;

-- +goose Down
DROP INDEX pending_requests_first_contacts;
DROP INDEX pending_requests_client_open;
DROP INDEX pending_requests_provider_open;
ALTER TABLE pending_requests DROP COLUMN delivered_view;
ALTER TABLE pending_requests DROP COLUMN first_contact;
ALTER TABLE pending_requests DROP COLUMN client_net;
