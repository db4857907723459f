package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/internal/cputime"
	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

func tokenRecord(jti string) tokens.Record {
	now := time.Now().Truncate(time.Second)
	return tokens.Record{JTI: jti, Aud: "https://rs.test", Sub: "s1", PersonID: "p1", AgentIss: "https://ap.test",
		AgentSub: "a1", AgentTokenJTI: "at-" + jti, CnfThumbprint: "th", IssuedAt: now, Exp: now.Add(time.Hour)}
}

func recordedJTIs(t *testing.T, s *store.Store) []string {
	t.Helper()
	recs, err := s.PersonTokenRecords(t.Context(), "")
	require.NoError(t, err)
	var jtis []string
	for _, r := range recs {
		jtis = append(jtis, r.JTI)
	}
	return jtis
}

// Issue 12, finding 37: on PostgreSQL a transaction's record writes wait
// for its next statement or its commit and go together in one round trip;
// the transaction still reads them, and they are committed with it.
func TestPostgresRecordWritesShareOneRoundTrip(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	ctx := t.Context()
	grant := tokens.GrantKey{Kind: tokens.GrantScopes, AgentIss: "https://ap.test", AgentSub: "a1", Resource: "https://rs.test"}
	require.NoError(t, st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("j1")))
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("j2")))
		require.NoError(t, tx.TouchGrant(ctx, "p1", grant, time.Now()))
		require.Equal(t, 3, tx.QueuedWrites(), "the writes wait")
		require.Equal(t, 0, tx.SentBatches())
		require.ElementsMatch(t, []string{"j1", "j2"}, recordedJTIs(t, tx), "the transaction reads its queued writes")
		require.Equal(t, 0, tx.QueuedWrites())
		require.Equal(t, 1, tx.SentBatches(), "three writes, one batch")
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("j3")))
		_, err := tx.FirstRevoked(ctx, [][2]string{{"https://ap.test", "at-j3"}})
		require.NoError(t, err)
		require.Equal(t, 1, tx.QueuedWrites(), "the revocation read reads past the queue; the commit sends it")
		return nil
	}))
	require.ElementsMatch(t, []string{"j1", "j2", "j3"}, recordedJTIs(t, st))
}

// A queued write that fails fails its transaction: the error is the write's
// (a conflict), and nothing of the transaction is committed, whether the
// failure shows at the next statement or at the commit.
func TestPostgresQueuedWriteFailureFailsTheTransaction(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	ctx := t.Context()
	require.NoError(t, st.RecordPersonToken(ctx, tokenRecord("taken")))

	err := st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("k1")))
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("taken")), "queued: its error comes later")
		return nil
	})
	require.ErrorIs(t, err, store.ErrConflict, "at the commit")
	var se *store.Error
	require.True(t, errors.As(err, &se))
	require.Contains(t, err.Error(), "record person token")

	err = st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("k2")))
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("taken")))
		_, err := tx.PersonTokenRecords(ctx, "")
		return err
	})
	require.ErrorIs(t, err, store.ErrConflict, "at the next statement")
	require.Equal(t, []string{"taken"}, recordedJTIs(t, st), "nothing of either transaction was committed")
}

// A savepoint rolled back undoes the writes queued inside it, not those
// queued before it; a transaction rolled back drops its queue.
func TestPostgresQueuedWritesFollowSavepointsAndRollbacks(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	ctx := t.Context()
	failed := errors.New("the inner step fails")
	require.NoError(t, st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("before")))
		require.ErrorIs(t, tx.InTx(ctx, func(sp *store.Store) error {
			require.NoError(t, sp.RecordPersonToken(ctx, tokenRecord("inside")))
			return failed
		}), failed)
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("after")))
		return nil
	}))
	require.ElementsMatch(t, []string{"before", "after"}, recordedJTIs(t, st))

	require.ErrorIs(t, st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("dropped")))
		return failed
	}), failed)
	require.ElementsMatch(t, []string{"before", "after"}, recordedJTIs(t, st))
}

// BenchmarkPostgresIssuingTransaction measures a transaction shaped like an
// auth token's issuance after its decision (finding 37): the revocation
// lock and read, then four record writes and the commit, with the writes
// queued against sent one by one. ns/op is the transaction's latency,
// cpu-ns/op this process's CPU (PostgreSQL's is not in it).
func BenchmarkPostgresIssuingTransaction(b *testing.B) {
	st := storetest.OpenURL(b, storetest.NewMigratedPostgresURL(b), true)
	grant := tokens.GrantKey{Kind: tokens.GrantScopes, AgentIss: "https://ap.test", AgentSub: "a1", Resource: "https://rs.test"}
	n := 0 // across runs: each record's jti is new
	for _, mode := range writeModes {
		b.Run(mode.name, func(b *testing.B) {
			defer store.QueueWrites(store.QueueWrites(mode.queued))
			ctx := b.Context()
			cpu0 := cputime.Self()
			for b.Loop() {
				n++
				err := st.InTx(ctx, func(tx *store.Store) error {
					if err := tx.ShareRevocationLock(ctx); err != nil {
						return err
					}
					if _, err := tx.FirstRevoked(ctx, [][2]string{{"https://ap.test", "x"}}); err != nil {
						return err
					}
					for i := range 3 {
						if err := tx.RecordPersonToken(ctx, tokenRecord(fmt.Sprintf("%s-%d-%d", mode.name, n, i))); err != nil {
							return err
						}
					}
					return tx.TouchGrant(ctx, "p1", grant, time.Now())
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cputime.Self()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// Issue 12, finding 56: on PostgreSQL a decision's lock of the mission its
// request read and the counters after it go in one round trip, with the
// writes queued before them; the counters are read under the lock (a
// decision's grant before it is seen), and a changed row is read again.
func TestPostgresSeenLockAndCountersShareOneRoundTrip(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	ctx := t.Context()
	seen := seenTestMission(t, st)
	grant := authority.Effects{CountGrants: []string{"r1"}}
	require.NoError(t, st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("q1")))
		got, snap, err := tx.LockSeenMission(ctx, seen)
		require.NoError(t, err)
		require.Equal(t, 1, tx.SentBatches(), "the queued write, the lock and the counters: one batch")
		require.Equal(t, 0, tx.QueuedWrites())
		require.Equal(t, seen.Version, got.Version)
		require.Empty(t, snap.Grants)
		return tx.ApplyMissionEffects(ctx, got.S256, got.Lineage(), got.Version, grant, time.Now())
	}))
	require.Contains(t, recordedJTIs(t, st), "q1", "the write sent with the reads is committed")
	// seen is now a version behind: the row is read again, the counters
	// are the mission's.
	require.NoError(t, st.InTx(ctx, func(tx *store.Store) error {
		got, snap, err := tx.LockSeenMission(ctx, seen)
		require.NoError(t, err)
		require.Equal(t, seen.Version+1, got.Version)
		require.Equal(t, map[string]int64{"r1": 1}, snap.Grants)
		return nil
	}))
	require.NoError(t, st.InTx(ctx, func(tx *store.Store) error {
		_, _, err := tx.LockSeenMission(ctx, &mission.Record{S256: "nope"})
		require.ErrorIs(t, err, store.ErrNotFound)
		return nil
	}))
}

// Issue 12, finding 57: the issuance guard's shared revocation lock goes
// ahead of its revocation read in one round trip, past the queued record
// writes, which the commit still sends.
func TestPostgresGuardLockAndReadShareOneRoundTrip(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	ctx := t.Context()
	require.NoError(t, st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("g1")))
		require.NoError(t, tx.ShareRevocationLock(ctx))
		require.Equal(t, 0, tx.SentBatches(), "the lock waits for the read")
		i, err := tx.FirstRevoked(ctx, [][2]string{{"https://ap.test", "at-g1"}})
		require.NoError(t, err)
		require.Equal(t, -1, i)
		require.Equal(t, 1, tx.SentBatches(), "the lock and the read: one batch")
		require.Equal(t, 1, tx.QueuedWrites(), "the record write stays queued for the commit")
		return nil
	}))
	require.Equal(t, []string{"g1"}, recordedJTIs(t, st))
}

type roundTripsKey struct{}

// roundTripsOf runs fn as a transaction of st and returns its error and
// the round trips it made, BEGIN and COMMIT included.
func roundTripsOf(t *testing.T, st *store.Store, fn func(ctx context.Context, tx *store.Store) error) (int, error) {
	t.Helper()
	got := -1
	ctx := context.WithValue(t.Context(), roundTripsKey{}, true)
	defer store.ObserveTransactions(func(c context.Context, n int) {
		if c.Value(roundTripsKey{}) != nil {
			got = n
		}
	})()
	err := st.InTx(ctx, func(tx *store.Store) error { return fn(ctx, tx) })
	return got, err
}

// Issue 12, finding 58: on PostgreSQL BEGIN goes with a transaction's first
// statement and COMMIT with its last writes. A transaction that only
// writes is one round trip; the issuance guard's lock and read and the
// writes with the commit are two; one that runs nothing makes none.
func TestPostgresBeginAndCommitTravelWithTheStatements(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	n, err := roundTripsOf(t, st, func(ctx context.Context, tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("w1")))
		return tx.RecordPersonToken(ctx, tokenRecord("w2"))
	})
	require.NoError(t, err)
	require.Equal(t, 1, n, "BEGIN, two writes, COMMIT")
	require.ElementsMatch(t, []string{"w1", "w2"}, recordedJTIs(t, st))

	n, err = roundTripsOf(t, st, func(ctx context.Context, tx *store.Store) error {
		require.NoError(t, tx.ShareRevocationLock(ctx))
		i, err := tx.FirstRevoked(ctx, [][2]string{{"https://ap.test", "at-w3"}})
		require.NoError(t, err)
		require.Equal(t, -1, i)
		return tx.RecordPersonToken(ctx, tokenRecord("w3"))
	})
	require.NoError(t, err)
	require.Equal(t, 2, n, "BEGIN, the lock and the read; the write and COMMIT")
	require.Contains(t, recordedJTIs(t, st), "w3")

	n, err = roundTripsOf(t, st, func(context.Context, *store.Store) error { return nil })
	require.NoError(t, err)
	require.Zero(t, n, "nothing to begin or commit")
}

// A transaction that a failed statement aborted does not commit, even
// when the caller ignored that statement's error: PostgreSQL answers its
// COMMIT with ROLLBACK, and that is an error. Nothing of it stands, and
// the pool's one connection serves the next transaction.
func TestPostgresCommitOfAnAbortedTransactionFails(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	st.LimitConnections(1)
	ctx := t.Context()
	err := st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("a1")))
		require.Error(t, tx.ExecSQL(ctx, `SELECT 1/0`), "ignored by the caller")
		return nil
	})
	require.ErrorIs(t, err, pgx.ErrTxCommitRollback, "COMMIT alone")
	err = st.InTx(ctx, func(tx *store.Store) error {
		require.Error(t, tx.ExecSQL(ctx, `SELECT 1/0`), "ignored by the caller")
		return tx.RecordPersonToken(ctx, tokenRecord("a2"))
	})
	require.Error(t, err, "COMMIT with a queued write")
	require.Empty(t, recordedJTIs(t, st))
	require.NoError(t, st.InTx(ctx, func(tx *store.Store) error { return tx.RecordPersonToken(ctx, tokenRecord("a3")) }))
	require.Equal(t, []string{"a3"}, recordedJTIs(t, st))
}

// A transaction whose request ends half way (its context cancelled after
// a statement was sent) commits nothing, and its connection does not go
// back to the pool inside a transaction: the pool's one connection serves
// the next one.
func TestPostgresTransactionOfAnEndedRequestCommitsNothing(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	st.LimitConnections(1)
	ctx, cancel := context.WithCancel(t.Context())
	err := st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("c1")))
		require.Len(t, recordedJTIs(t, tx), 1, "BEGIN and the write sent")
		cancel()
		return tx.RecordPersonToken(ctx, tokenRecord("c2"))
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, recordedJTIs(t, st))
	require.NoError(t, st.InTx(t.Context(), func(tx *store.Store) error {
		var status string
		require.NoError(t, tx.QuerySQL(t.Context(), &status, `SELECT 'fresh'`))
		return tx.RecordPersonToken(t.Context(), tokenRecord("c3"))
	}))
	require.Equal(t, []string{"c3"}, recordedJTIs(t, st))
}

// seenTestMission stores a composed mission of person p1 and returns it as
// a request would have read it.
func seenTestMission(t *testing.T, st *store.Store) *mission.Record {
	t.Helper()
	ctx := t.Context()
	storetest.SeedPersons(t, st, "p1")
	set := json.RawMessage(`{"object":"aauth-mm/authority-set/v1"}`)
	a := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:A@ap.example", PersonID: "p1", Description: "# Packet",
		Resources: []string{"https://rs.example"}, MissionModel: json.RawMessage(`{"v":1}`),
		Composition: &mission.Composition{AuthoritySet: set, AuthorityHash: "AH", EffectiveSet: set, EffectiveHash: "AH",
			Overlays: json.RawMessage(`[]`), Proposal: json.RawMessage(`{"object":"p"}`), ProposalHash: "PH",
			ConsentRendering: json.RawMessage(`{"object":"r"}`), ConsentRenderingHash: "RH", Template: "t@1"}}
	m, err := a.Mint("https://ps.example", time.UnixMilli(1_800_000_000_123).UTC(), func(r *mission.Record) error { return st.CreateMission(ctx, r) })
	require.NoError(t, err)
	seen, err := st.Mission(ctx, m.S256)
	require.NoError(t, err)
	return seen
}

// writeModes are the two ways a PostgreSQL transaction sends its record
// writes: each at once, or queued for the next statement (finding 37).
var writeModes = []struct {
	name   string
	queued bool
}{{"one_by_one", false}, {"queued", true}}
