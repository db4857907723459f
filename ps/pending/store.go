package pending

import (
	"context"
	"fmt"
	"time"
)

// Store is the storage the engine needs: one table of pending requests.
// *store.Store implements it (ps/store/pending.go) on PostgreSQL and
// SQLite; the storage conformance suite (ps/store/storetest) runs every
// method on both. Failures wrap the kinds of ps/dberr.
type Store interface {
	// InsertPendingRequest stores a new request if q admits it. Counting
	// and inserting are one atomic step, so concurrent creations cannot
	// overshoot a bound (on any replica); a bound already reached returns a
	// *QuotaError and writes nothing.
	InsertPendingRequest(ctx context.Context, rec *Record, q Quota) error
	// PendingRequest reads one request; dberr.ErrNotFound when there is none.
	PendingRequest(ctx context.Context, id string) (*Record, error)
	// SavePendingRequest writes the mutable fields of rec if the stored
	// version is still rec.Version, and bumps it (rec.Version and
	// rec.UpdatedAt follow). dberr.ErrConflict when the row moved or vanished.
	// The bookkeeping fields (polls, delivery) are never written here.
	SavePendingRequest(ctx context.Context, rec *Record, now time.Time) error
	// OpenPendingRequestsOfPerson lists a person's open requests that are
	// not past expiry at now, oldest first.
	OpenPendingRequestsOfPerson(ctx context.Context, personID string, now time.Time) ([]Record, error)
	// OpenPendingRequestsOf lists the open requests of a requester, oldest first.
	OpenPendingRequestsOf(ctx context.Context, who Requester) ([]Record, error)
	// OpenPendingRequestsOfKind lists the open requests of a kind,
	// whatever their expiry, oldest first (at most limit): what a
	// restarted PS resumes and what housekeeping settles.
	OpenPendingRequestsOfKind(ctx context.Context, kind string, limit int) ([]Record, error)
	// DuePendingRequests lists the ids of open requests past their expiry
	// or their question's deadline at now.
	DuePendingRequests(ctx context.Context, now time.Time) ([]string, error)
	// ClaimPendingResult marks the terminal answer delivered; true for
	// exactly one caller across every replica.
	ClaimPendingResult(ctx context.Context, id string, now time.Time) (bool, error)
	// RecordPendingPoll records when a poll was answered, and, when view
	// is not empty, the view of the request that answer showed.
	RecordPendingPoll(ctx context.Context, id string, at time.Time, view string) error
	// StartPendingLongPoll records an outstanding long poll until untilMS
	// (unix ms; the latest outstanding one wins); EndPendingLongPoll clears
	// the mark if it is still that long poll's. Both run to completion
	// even if ctx is cancelled meanwhile, so an End always follows its
	// Start's outcome.
	StartPendingLongPoll(ctx context.Context, id string, untilMS int64) error
	EndPendingLongPoll(ctx context.Context, id string, untilMS int64) error
	// PurgePendingRequests deletes requests that expired before cutoff and
	// drops the payload of ended requests no person holds (nobody can look
	// at it any more; the row stays so that its pending URL answers 410).
	// It returns how many rows it deleted.
	PurgePendingRequests(ctx context.Context, cutoff time.Time) (int, error)
	// AfterCommit runs f after the transaction the store is bound to
	// commits, never after a rollback, at once outside a transaction.
	AfterCommit(f func())
}

// Record is a request as stored, with the bookkeeping the engine keeps
// beside it.
type Record struct {
	*Request
	// CodeHash is the hash of the interaction code (nil for none);
	// CodeDisplay its display form while unused.
	CodeHash    []byte
	CodeDisplay string
	// LastPollMS is when the last poll was answered and LongPollUntilMS
	// the end of the outstanding long poll (unix ms; nil for none).
	LastPollMS      *int64
	LongPollUntilMS *int64
	// DeliveredView is the view (see view) of the request that the last
	// answer to its requester showed; "" when unknown.
	DeliveredView string
	// ClientNet is the network the creating request came from (see
	// clientNet), "" when unknown; FirstContact marks the request of an
	// agent the PS did not know yet. Both feed the admission bounds.
	ClientNet    string
	FirstContact bool
}

// Quota is what InsertPendingRequest checks before it inserts. A zero
// bound is not checked.
type Quota struct {
	// Now decides which requests are still open (not past their expiry)
	// and which first contacts are recent.
	Now time.Time
	// PerAgent, PerProvider and PerClient bound the open requests of the
	// record's requester, of its requester's issuer (the agent provider)
	// and of its client network.
	PerAgent, PerProvider, PerClient int
	// FirstContacts bounds the distinct agents of the requester's issuer
	// that made a first contact within FirstContactWindow (an agent already
	// among them is no new contact).
	FirstContacts      int
	FirstContactWindow time.Duration
}

// Bound names a limit of Quota.
type Bound string

// The bounds, as they appear in logs.
const (
	BoundPerAgent      Bound = "open requests per agent"
	BoundPerProvider   Bound = "open requests per agent provider"
	BoundPerClient     Bound = "open requests per client address"
	BoundFirstContacts Bound = "first contacts per agent provider"
)

// QuotaError is a creation refused because Bound is reached; RetryAt is
// when the first counted request leaves the count (it expires, or its
// first contact leaves the window).
type QuotaError struct {
	Bound   Bound
	RetryAt time.Time
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("pending: %s reached", e.Bound)
}
