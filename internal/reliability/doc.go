// Package reliability holds the PS's reliability tests (issue 12, `make
// test-reliability`): they build the real aauth-ps binary and run it as
// subprocesses over real HTTPS on loopback, against PostgreSQL, to show
//
//   - crash safety: the PS is killed with SIGKILL several times under load
//     and restarted; every mission approved before a kill is intact, no
//     pending request is answered or issued twice, and pending requests
//     started before a kill complete after it (TestKillDuringLoad);
//   - crash safety of the decisions that end things: the PS (and the
//     command line) killed while missions are revoked and completed,
//     agents revoked and unbound (on the web UI and with `aauth-ps agents
//     revoke|unbind`) and suspended missions' holds run out or are
//     resumed; no end is half-written afterwards, every hold ends once or
//     still runs, and a held request is answered after a resumption
//     (TestKillDuringEnds);
//   - replicas: two processes on one database refuse each other's replayed
//     signatures, and a pending request started on one completes, and is
//     polled, on the other (TestReplicas);
//   - database outages: PostgreSQL (a throw-away cluster of the test's own,
//     never the shared server) is stopped and restarted under load; requests
//     meanwhile fail 503 temporarily_unavailable and never with another
//     answer, /readyz says so, and the same process recovers
//     (TestDatabaseRestart).
//
// The package has no non-test code beyond this file.
package reliability
