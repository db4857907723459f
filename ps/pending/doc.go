// Package pending is the PS's one deferred-response engine
// (P§deferred-responses): every endpoint that cannot answer at once creates
// a pending request and answers 202; the agent polls the Location. It
// implements E10 of PS-REQUIREMENTS (the pending URL) and the rules of
// §3.12 (PS-146..PS-158, PS-280), §3.13 (PS-159..PS-164, PS-281) and §3.14
// (PS-173..PS-179), with the interpretations,
//
//
// State lives in the database behind the Store interface (table
// pending_requests, migrations 00003, 00007, 00008; the SQL is in
// ps/store/pending.go), so a restart or a second replica on the same
// PostgreSQL database continues a request. Long polls sleep on a Notifier:
// in one process a MemoryNotifier, across replicas pgnotify.Notifier
// (LISTEN/NOTIFY on channel "aauth_pending", package ps/pending/pgnotify),
// and on SQLite markwake.Notifier (a mark a command beside the server
// moves, read by the server while polls wait). The engine publishes after
// every state change, and a waiting poll re-reads the row after each
// wake-up and once at the end of its wait.
//
// The HTTP handlers verify the request signature first and pass the
// verified requester (Requester: scheme, iss, sub); the engine decides the
// exact wire answer and returns it as data (Response: status, headers,
// body). The package imports neither gin nor templ.
//
// Endpoints answer with Respond (or RespondWait for Prefer: wait on the
// initial request) and serve the pending URL with Poll, Post and Delete.
// Flows and the web UI drive a request with Create, Update, Complete, Fail,
// MarkInteracting, ConsumeCode (the per-request interaction URL
// {issuer}/interact/{id}, A-15), ConsumeOutOfBand (PS-281), Ask
// (clarification chat), ForPerson and ForRequester; housekeeping runs
// ExpireDue and Purge.
//
// Wire rules, in short:
//   - every 202 has an absolute Location ({issuer}/pending/{id}),
//     Retry-After (2 for interaction and clarification, 5 otherwise),
//     Cache-Control: no-store and {"status":"pending"|"interacting"}, plus
//     AAuth-Requirement as an SF Dictionary;
//   - interaction codes are 10 Crockford base32 symbols shown XXXXX-XXXXX,
//     stored only as a salted hash, single use, 5 wrong codes end the
//     request 410 invalid_code;
//   - another requester and an unknown id get the identical 404;
//   - the terminal answer is delivered exactly once (across replicas); every
//     later GET, POST or DELETE gets 410
//     {"error":"invalid_request","detail":"pending request is no longer available"};
//   - a request past its lifetime (10 min) or an unanswered question past
//     its deadline answers 408 expired;
//   - polling more than 1 s faster than Retry-After (without a long-poll)
//     gets 429 slow_down with Retry-After + 5;
//   - creation is bounded (Options.Limits, issue 15 item 2): open requests
//     per agent, per agent provider and per client network, new agents per
//     provider and minute (429 rate_limited with Retry-After), and stored
//     bytes per request (413); the count and the insert are one atomic
//     step on both databases, and the payload of an ended request no
//     person holds is dropped by the next Purge;
//   - Prefer: wait=N (≤ 30 s) answers at once when the request differs
//     from what the agent was last shown, and otherwise holds the poll
//     until it does.
package pending
