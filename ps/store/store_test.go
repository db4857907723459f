package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/migrations"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestStore runs the one storage suite on every backend.
func TestStore(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			runStoreSuite(t, b)
		})
	}
}

// runStoreSuite is the storage conformance suite: every subtest gets a new
// database of backend b.
func runStoreSuite(t *testing.T, b storetest.Backend) {
	open := func(t *testing.T) *store.Store { return storetest.OpenURL(t, b.NewMigratedURL(t), true) }
	tests := []struct {
		name string
		fn   func(t *testing.T, b storetest.Backend, open func(t *testing.T) *store.Store)
	}{
		{"Dialect", testDialect},
		{"MigrateUpDownAllUp", testMigrateUpDownAllUp},
		{"MigrateDownOneStep", testMigrateDownOneStep},
		{"ReplayFreshThenDuplicate", testReplayFreshThenDuplicate},
		{"ReplayExpiredIsReplaced", testReplayExpiredIsReplaced},
		{"ReplayRejectsBadKeys", testReplayRejectsBadKeys},
		{"ReplayWrittenUnlessTheAgentTokenIsRevoked", testReplayUnlessRevoked},
		{"ReplayConcurrentOneFresh", testReplayConcurrentOneFresh},
		{"ReplayConcurrentTwoHandles", testReplayConcurrentTwoHandles},
		{"Revocation", testRevocation},
		{"RevocationRetriesClaimedOnce", testRevocationRetriesClaimedOnce},
		{"PurgeExpired", testPurgeExpired},
		{"SigningKeysRoundTrip", testSigningKeysRoundTrip},
		{"SigningKeysOneActive", testSigningKeysOneActive},
		{"SigningKeysRetireAndDelete", testSigningKeysRetireAndDelete},
		{"InTxRollback", testInTxRollback},
		{"InTxCommit", testInTxCommit},
		{"InTxRestrictions", testInTxRestrictions},
		{"ErrorsHideSQL", testErrorsHideSQL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, b, open)
		})
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

var tables = []string{"signing_keys", "replay_cache", "revoked_tokens"}

func hasTable(t *testing.T, s *store.Store, name string) bool {
	t.Helper()
	ok := s.HasTable(ctx(t), name)
	return ok
}

func status(t *testing.T, s *store.Store) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, s.MigrateStatus(ctx(t), &buf))
	return buf.String()
}

func pending(t *testing.T, s *store.Store) int {
	t.Helper()
	n, err := s.PendingMigrations(ctx(t))
	require.NoError(t, err)
	return n
}

func testDialect(t *testing.T, b storetest.Backend, open func(*testing.T) *store.Store) {
	s := open(t)
	assert.Equal(t, b.Name, s.Dialect())
	require.NoError(t, s.Ping(ctx(t)))
}

// migrationCount is the number of embedded migrations for a dialect.
func migrationCount(t *testing.T, dialect string) int {
	t.Helper()
	fsys, err := migrations.FS(dialect)
	require.NoError(t, err)
	entries, err := fs.ReadDir(fsys, ".")
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			n++
		}
	}
	return n
}

// tableCount counts the application tables (goose's own excluded).
func tableCount(t *testing.T, s *store.Store) int {
	t.Helper()
	tables, err := s.Tables(ctx(t))
	require.NoError(t, err)
	return len(tables)
}

func testMigrateUpDownAllUp(t *testing.T, b storetest.Backend, _ func(*testing.T) *store.Store) {
	s := storetest.OpenURL(t, b.NewURL(t), false)
	all := migrationCount(t, b.Name)

	assert.Equal(t, all, pending(t, s), "fresh database: every migration pending")
	st := status(t, s)
	assert.Contains(t, st, "VERSION")
	assert.Regexp(t, `00001\s+pending\s+-\s+00001_init\.sql`, st)
	for _, tb := range tables {
		assert.False(t, hasTable(t, s, tb), tb)
	}

	require.NoError(t, s.MigrateUp(ctx(t)))
	assert.Equal(t, 0, pending(t, s))
	assert.Regexp(t, `00001\s+applied\s+\d{4}-\d\d-\d\dT\S+\s+00001_init\.sql`, status(t, s))
	for _, tb := range tables {
		assert.True(t, hasTable(t, s, tb), tb)
	}
	require.NoError(t, s.MigrateUp(ctx(t)), "up is idempotent")

	// Data in every table must not stop the way down.
	_, err := s.RememberSignature(ctx(t), "aa", time.Now().Add(time.Minute))
	require.NoError(t, err)

	require.NoError(t, s.MigrateDownAll(ctx(t)))
	assert.Equal(t, all, pending(t, s))
	assert.Equal(t, 0, tableCount(t, s), "down-all leaves no application table")
	assert.Regexp(t, `00001\s+pending`, status(t, s))
	for _, tb := range tables {
		assert.False(t, hasTable(t, s, tb), "%s must be gone after down-all", tb)
	}
	require.NoError(t, s.MigrateDownAll(ctx(t)), "down-all on an empty schema")
	require.Error(t, s.MigrateDown(ctx(t)), "nothing to roll back")

	require.NoError(t, s.MigrateUp(ctx(t)))
	assert.Equal(t, 0, pending(t, s))
	for _, tb := range tables {
		assert.True(t, hasTable(t, s, tb), tb)
	}
	fresh, err := s.RememberSignature(ctx(t), "aa", time.Now().Add(time.Minute))
	require.NoError(t, err)
	assert.True(t, fresh, "the replay row went with the table")
}

func testMigrateDownOneStep(t *testing.T, b storetest.Backend, open func(*testing.T) *store.Store) {
	s := open(t)
	before := tableCount(t, s)
	require.NoError(t, s.MigrateDown(ctx(t)))
	assert.Equal(t, 1, pending(t, s))
	assert.True(t, hasTable(t, s, "signing_keys"), "older migrations stay")
	require.NoError(t, s.MigrateUp(ctx(t)))
	assert.Equal(t, before, tableCount(t, s))
}

func testReplayFreshThenDuplicate(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	now := time.Unix(1_800_000_000, 0)
	s := open(t).WithClock(func() time.Time { return now })
	exp := now.Add(60 * time.Second)

	fresh, err := s.RememberSignature(ctx(t), "k1", exp)
	require.NoError(t, err)
	assert.True(t, fresh)

	fresh, err = s.RememberSignature(ctx(t), "k1", exp)
	require.NoError(t, err)
	assert.False(t, fresh, "same key inside its window is a replay")

	fresh, err = s.RememberSignature(ctx(t), "k1", exp.Add(time.Hour))
	require.NoError(t, err)
	assert.False(t, fresh, "a later expiry does not make a replay fresh")

	fresh, err = s.RememberSignature(ctx(t), "k2", exp)
	require.NoError(t, err)
	assert.True(t, fresh, "a different key is independent")
}

func testReplayExpiredIsReplaced(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	now := time.Unix(1_800_000_000, 0)
	base := open(t)
	s := base.WithClock(func() time.Time { return now })

	fresh, err := s.RememberSignature(ctx(t), "k", now.Add(60*time.Second))
	require.NoError(t, err)
	require.True(t, fresh)

	later := base.WithClock(func() time.Time { return now.Add(60 * time.Second) })
	fresh, err = later.RememberSignature(ctx(t), "k", now.Add(120*time.Second))
	require.NoError(t, err)
	assert.True(t, fresh, "a row whose expires_at has been reached is replaced")

	fresh, err = later.RememberSignature(ctx(t), "k", now.Add(120*time.Second))
	require.NoError(t, err)
	assert.False(t, fresh, "the replacement row is live")
}

// Issue 12, finding 60 (PS-046, PS-027): an agent's request is remembered
// only while its agent token is not revoked, in one statement; a revoked
// token writes nothing, and a replay is still told from a revocation. Out
// of a transaction (the SQLite writer's batch, PostgreSQL's statement) and
// inside one.
func testReplayUnlessRevoked(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	now := time.Unix(1_800_000_000, 0)
	s := open(t).WithClock(func() time.Time { return now })
	exp := now.Add(60 * time.Second)
	const ap = "https://ap.example"
	require.NoError(t, s.RecordRevocation(ctx(t), ap, "gone", now.Add(time.Hour), now))

	remember := func(st *store.Store, key, jti string) (bool, bool) {
		t.Helper()
		fresh, revoked, err := st.RememberAgentSignature(ctx(t), key, exp, ap, jti)
		require.NoError(t, err)
		return fresh, revoked
	}
	fresh, revoked := remember(s, "k1", "live")
	assert.True(t, fresh)
	assert.False(t, revoked)
	fresh, revoked = remember(s, "k1", "live")
	assert.False(t, fresh, "a replay")
	assert.False(t, revoked, "a replay is not a revocation")

	fresh, revoked = remember(s, "k2", "gone")
	assert.False(t, fresh)
	assert.True(t, revoked)
	fresh, err := s.RememberSignature(ctx(t), "k2", exp)
	require.NoError(t, err)
	assert.True(t, fresh, "the revoked token's request wrote nothing")
	fresh, revoked = remember(s, "k2", "gone")
	assert.False(t, fresh)
	assert.True(t, revoked, "a revoked token is told as revoked, written key or not")

	require.NoError(t, s.InTx(ctx(t), func(tx *store.Store) error {
		fresh, revoked := remember(tx, "k3", "gone")
		assert.False(t, fresh)
		assert.True(t, revoked)
		fresh, revoked = remember(tx, "k3", "live")
		assert.True(t, fresh, "nothing was written for the revoked token in the transaction")
		assert.False(t, revoked)
		return nil
	}))
	_, _, err = s.RememberAgentSignature(ctx(t), "k4", exp, ap, "")
	assert.Error(t, err, "an agent token without a jti")
}

func testReplayRejectsBadKeys(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	s := open(t)
	_, err := s.RememberSignature(ctx(t), "", time.Now())
	assert.Error(t, err)
	_, err = s.RememberSignature(ctx(t), strings.Repeat("a", store.MaxReplayKeyLength+1), time.Now())
	assert.Error(t, err)
}

func countFresh(t *testing.T, handles []*store.Store, n int, key string, exp time.Time) int {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh int
		errs  []error
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			f, err := handles[i%len(handles)].RememberSignature(ctx(t), key, exp)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if f {
				fresh++
			}
		})
	}
	close(start)
	wg.Wait()
	require.Empty(t, errs)
	return fresh
}

func testReplayConcurrentOneFresh(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	s := open(t)
	exp := time.Now().Add(time.Minute)
	for round := range 3 {
		got := countFresh(t, []*store.Store{s}, 32, fmt.Sprintf("race-%d", round), exp)
		assert.Equal(t, 1, got, "round %d: exactly one of 32 concurrent inserts is fresh", round)
	}
}

// Two pools on one database stand for two replicas.
func testReplayConcurrentTwoHandles(t *testing.T, b storetest.Backend, _ func(*testing.T) *store.Store) {
	u := b.NewMigratedURL(t)
	s1 := storetest.OpenURL(t, u, true)
	s2 := storetest.OpenURL(t, u, false)
	exp := time.Now().Add(time.Minute)
	for round := range 3 {
		got := countFresh(t, []*store.Store{s1, s2}, 24, fmt.Sprintf("race-%d", round), exp)
		assert.Equal(t, 1, got, "round %d", round)
	}
}

// testRevocationRetriesClaimedOnce: two PS replicas on one database
// (two handles) claim the due retries of failed deliveries at once (design
// §5, migration 00040); each due retry is claimed by exactly one of them,
// so one replica sends it (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite:
// one writer). Half of the tokens have expired: their retries are claimed
// once too, and their claimant ends them (EndRetries), once.
func testRevocationRetriesClaimedOnce(t *testing.T, b storetest.Backend, _ func(*testing.T) *store.Store) {
	u := b.NewMigratedURL(t)
	s1 := storetest.OpenURL(t, u, true)
	s2 := storetest.OpenURL(t, u, false)
	at := time.Unix(1_800_000_000, 0)
	require.NoError(t, s1.CreateCascade(ctx(t), revocation.Cascade{ID: "c", Iss: "person:p", JTI: "j", Exp: at.Add(time.Hour), Created: at}))
	const n = 60
	ds := make([]revocation.Delivery, n)
	for i := range ds {
		ds[i] = revocation.Delivery{CascadeID: "c", Recipient: "https://rs.example", TokenJTI: fmt.Sprintf("t%02d", i),
			TokenExp: at.Add(time.Hour), Outcome: revocation.OutcomePending}
		if i%2 == 1 {
			ds[i].TokenExp = at
		}
	}
	require.NoError(t, s1.AddDeliveries(ctx(t), ds, at))
	for _, d := range ds {
		ok, err := s1.SettleDelivery(ctx(t), d, revocation.OutcomeUnavailable, at, at.Add(time.Second))
		require.True(t, ok)
		require.NoError(t, err)
	}
	now := at.Add(2 * time.Second)
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		ended   = map[string]int{}
		wg      sync.WaitGroup
	)
	for i := range 8 {
		wg.Add(1)
		go func(st *store.Store) {
			defer wg.Done()
			for {
				got, err := st.ClaimRetries(ctx(t), now, now.Add(150*time.Second), 5)
				if !assert.NoError(t, err) || len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					claimed[d.TokenJTI]++
				}
				mu.Unlock()
				for _, d := range got {
					if d.TokenExp.After(now) {
						continue
					}
					ok, err := st.EndRetries(ctx(t), d, now)
					assert.NoError(t, err)
					mu.Lock()
					if ok {
						ended[d.TokenJTI]++
					}
					mu.Unlock()
				}
			}
		}([]*store.Store{s1, s2}[i%2])
	}
	wg.Wait()
	assert.Len(t, claimed, n, "every due retry is claimed")
	for jti, c := range claimed {
		assert.Equal(t, 1, c, "%s claimed by more than one replica", jti)
	}
	assert.Len(t, ended, n/2, "every expired token's retries are ended")
	for jti, c := range ended {
		assert.Equal(t, 1, c, "%s's retries ended more than once", jti)
	}
}

func testRevocation(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	s := open(t)
	now := time.Unix(1_800_000_000, 0)

	revoked, err := s.IsRevoked(ctx(t), "https://ap.test", "j1")
	require.NoError(t, err)
	assert.False(t, revoked)

	require.NoError(t, s.RecordRevocation(ctx(t), "https://ap.test", "j1", now.Add(time.Hour), now))
	require.NoError(t, s.RecordRevocation(ctx(t), "https://ap.test", "j1", now.Add(time.Hour), now.Add(time.Minute)), "idempotent")
	require.NoError(t, s.RecordRevocation(ctx(t), "https://ap.test", "j1", now.Add(time.Minute), now), "an earlier exp is ignored")

	revoked, err = s.IsRevoked(ctx(t), "https://ap.test", "j1")
	require.NoError(t, err)
	assert.True(t, revoked)

	for _, k := range [][2]string{{"https://ap.test", "j2"}, {"https://other.test", "j1"}, {"https://AP.test", "j1"}} {
		revoked, err = s.IsRevoked(ctx(t), k[0], k[1])
		require.NoError(t, err)
		assert.False(t, revoked, "%v", k)
	}

	var n int64
	require.NoError(t, s.QuerySQL(context.Background(), &n, `SELECT COUNT(*) FROM revoked_tokens`))
	assert.EqualValues(t, 1, n)
	var exp, at int64
	require.NoError(t, s.QuerySQL(context.Background(), &exp, `SELECT exp FROM revoked_tokens`))
	require.NoError(t, s.QuerySQL(context.Background(), &at, `SELECT revoked_at FROM revoked_tokens`))
	assert.Equal(t, now.Add(time.Hour).Unix(), exp, "exp only ever extends")
	assert.Equal(t, now.Unix(), at, "the first revoked_at is kept")

	assert.Error(t, s.RecordRevocation(ctx(t), "", "j", now, now))
	assert.Error(t, s.RecordRevocation(ctx(t), "https://ap.test", "", now, now))

	// A later, longer exp extends the row.
	require.NoError(t, s.RecordRevocation(ctx(t), "https://ap.test", "j1", now.Add(2*time.Hour), now))
	require.NoError(t, s.QuerySQL(context.Background(), &exp, `SELECT exp FROM revoked_tokens`))
	assert.Equal(t, now.Add(2*time.Hour).Unix(), exp)
}

func testPurgeExpired(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	now := time.Unix(1_800_000_000, 0)
	s := open(t).WithClock(func() time.Time { return now.Add(-time.Hour) })

	for i, exp := range []time.Time{now.Add(-time.Second), now, now.Add(time.Second)} {
		f, err := s.RememberSignature(ctx(t), fmt.Sprintf("r%d", i), exp)
		require.NoError(t, err)
		require.True(t, f)
	}
	for i, exp := range []time.Time{now.Add(-301 * time.Second), now.Add(-300 * time.Second), now.Add(-time.Second), now.Add(time.Hour)} {
		require.NoError(t, s.RecordRevocation(ctx(t), "https://ap.test", fmt.Sprintf("j%d", i), exp, now.Add(-time.Hour)))
	}

	n, err := s.PurgeExpired(ctx(t), now)
	require.NoError(t, err)
	assert.EqualValues(t, 3, n, "r0, r1 (expires_at <= now) and j0 (exp < now-300s)")

	n, err = s.PurgeExpired(ctx(t), now)
	require.NoError(t, err)
	assert.EqualValues(t, 0, n, "nothing left to purge")

	live := s.WithClock(func() time.Time { return now })
	f, err := live.RememberSignature(ctx(t), "r2", now.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, f, "r2 survived the purge")
	for i, want := range []bool{false, true, true, true} {
		revoked, err := s.IsRevoked(ctx(t), "https://ap.test", fmt.Sprintf("j%d", i))
		require.NoError(t, err)
		assert.Equal(t, want, revoked, "j%d", i)
	}
}

func keyRow(kid, state string, created time.Time) store.SigningKeyRow {
	r := store.SigningKeyRow{
		KID: kid, Alg: "Ed25519",
		PublicJWK:     []byte(`{"kty":"OKP","crv":"Ed25519","alg":"Ed25519","kid":"` + kid + `","x":"AA"}`),
		PrivateSealed: []byte{0x01, 0x00, 0xff, 0x80, 0x7f, byte(len(kid))},
		State:         state, CreatedAt: created, ActivatedAt: created,
	}
	if state == store.KeyStateRetired {
		ra, pu := created.Add(time.Minute), created.Add(time.Hour)
		r.RetiredAt, r.PublishUntil = &ra, &pu
	}
	return r
}

func testSigningKeysRoundTrip(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	s := open(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.FixedZone("x", 3600))

	keys, err := s.ListSigningKeys(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, keys)

	old := keyRow("kid-old", store.KeyStateRetired, t0)
	cur := keyRow("kid-cur", store.KeyStateActive, t0.Add(time.Hour))
	tie := keyRow("kid-tie", store.KeyStateRetired, t0.Add(time.Hour))
	for _, r := range []store.SigningKeyRow{old, tie, cur} {
		require.NoError(t, s.InsertSigningKey(ctx(t), r))
	}

	keys, err = s.ListSigningKeys(ctx(t))
	require.NoError(t, err)
	require.Len(t, keys, 3)
	assert.Equal(t, []string{"kid-cur", "kid-tie", "kid-old"}, []string{keys[0].KID, keys[1].KID, keys[2].KID},
		"newest first; on a tie the active key first")

	got := keys[2]
	assert.Equal(t, old.KID, got.KID)
	assert.Equal(t, old.Alg, got.Alg)
	assert.JSONEq(t, string(old.PublicJWK), string(got.PublicJWK))
	assert.Equal(t, old.PrivateSealed, got.PrivateSealed, "bytes round-trip exactly")
	assert.Equal(t, old.State, got.State)
	assert.True(t, got.CreatedAt.Equal(t0.Truncate(time.Second)), "created %v", got.CreatedAt)
	assert.Equal(t, time.UTC, got.CreatedAt.Location())
	assert.True(t, got.ActivatedAt.Equal(t0.Truncate(time.Second)))
	require.NotNil(t, got.RetiredAt)
	require.NotNil(t, got.PublishUntil)
	assert.True(t, got.RetiredAt.Equal(old.RetiredAt.Truncate(time.Second)))
	assert.True(t, got.PublishUntil.Equal(old.PublishUntil.Truncate(time.Second)))
	assert.Nil(t, keys[0].RetiredAt)
	assert.Nil(t, keys[0].PublishUntil)

	err = s.InsertSigningKey(ctx(t), keyRow("kid-old", store.KeyStateRetired, t0))
	assert.ErrorIs(t, err, store.ErrConflict, "duplicate kid")

	bad := keyRow("kid-bad", "pending", t0)
	assert.Error(t, s.InsertSigningKey(ctx(t), bad))
	bad = keyRow("", store.KeyStateActive, t0)
	assert.Error(t, s.InsertSigningKey(ctx(t), bad))
}

func testSigningKeysOneActive(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	s := open(t)
	t0 := time.Unix(1_800_000_000, 0)
	require.NoError(t, s.InsertSigningKey(ctx(t), keyRow("a1", store.KeyStateActive, t0)))
	err := s.InsertSigningKey(ctx(t), keyRow("a2", store.KeyStateActive, t0))
	assert.ErrorIs(t, err, store.ErrConflict, "a second active key is refused")
	require.NoError(t, s.InsertSigningKey(ctx(t), keyRow("r1", store.KeyStateRetired, t0)))
	require.NoError(t, s.InsertSigningKey(ctx(t), keyRow("r2", store.KeyStateRetired, t0)))
}

func testSigningKeysRetireAndDelete(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	s := open(t)
	t0 := time.Unix(1_800_000_000, 0)
	require.NoError(t, s.InsertSigningKey(ctx(t), keyRow("r0", store.KeyStateRetired, t0)))
	require.NoError(t, s.InsertSigningKey(ctx(t), keyRow("a1", store.KeyStateActive, t0.Add(time.Second))))

	retired, until := t0.Add(time.Hour), t0.Add(2*time.Hour)
	require.NoError(t, s.RetireActiveKeys(ctx(t), retired, until))
	require.NoError(t, s.RetireActiveKeys(ctx(t), retired.Add(time.Hour), until.Add(time.Hour)), "no active key: no-op")

	keys, err := s.ListSigningKeys(ctx(t))
	require.NoError(t, err)
	require.Len(t, keys, 2)
	assert.Equal(t, "a1", keys[0].KID)
	assert.Equal(t, store.KeyStateRetired, keys[0].State)
	require.NotNil(t, keys[0].RetiredAt)
	assert.True(t, keys[0].RetiredAt.Equal(retired))
	assert.True(t, keys[0].PublishUntil.Equal(until))
	assert.True(t, keys[1].PublishUntil.Equal(t0.Add(time.Hour)), "an already retired key is untouched")

	require.NoError(t, s.InsertSigningKey(ctx(t), keyRow("a2", store.KeyStateActive, t0.Add(time.Hour))), "a new active key after retirement")

	require.NoError(t, s.DeleteSigningKey(ctx(t), "r0"))
	assert.ErrorIs(t, s.DeleteSigningKey(ctx(t), "r0"), store.ErrNotFound)
	keys, err = s.ListSigningKeys(ctx(t))
	require.NoError(t, err)
	assert.Len(t, keys, 2)
}

var errBoom = errors.New("boom")

func testInTxRollback(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	s := open(t)
	t0 := time.Unix(1_800_000_000, 0)
	err := s.InTx(ctx(t), func(tx *store.Store) error {
		require.NoError(t, tx.InsertSigningKey(ctx(t), keyRow("k", store.KeyStateActive, t0)))
		_, err := tx.RememberSignature(ctx(t), "r", time.Now().Add(time.Minute))
		require.NoError(t, err)
		require.NoError(t, tx.RecordRevocation(ctx(t), "https://ap.test", "j", t0, t0))
		keys, err := tx.ListSigningKeys(ctx(t))
		require.NoError(t, err)
		require.Len(t, keys, 1, "the transaction sees its own writes")
		return errBoom
	})
	assert.Same(t, errBoom, err, "fn's error is returned unchanged")

	keys, err := s.ListSigningKeys(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, keys)
	f, err := s.RememberSignature(ctx(t), "r", time.Now().Add(time.Minute))
	require.NoError(t, err)
	assert.True(t, f, "replay row rolled back")
	revoked, err := s.IsRevoked(ctx(t), "https://ap.test", "j")
	require.NoError(t, err)
	assert.False(t, revoked)

	// A panic rolls back too, and propagates.
	assert.Panics(t, func() {
		_ = s.InTx(ctx(t), func(tx *store.Store) error {
			require.NoError(t, tx.InsertSigningKey(ctx(t), keyRow("p", store.KeyStateActive, t0)))
			panic("boom")
		})
	})
	keys, err = s.ListSigningKeys(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, keys)

	// A database error inside the transaction aborts it.
	err = s.InTx(ctx(t), func(tx *store.Store) error {
		require.NoError(t, tx.InsertSigningKey(ctx(t), keyRow("x", store.KeyStateRetired, t0)))
		return tx.InsertSigningKey(ctx(t), keyRow("x", store.KeyStateRetired, t0))
	})
	assert.ErrorIs(t, err, store.ErrConflict)
	keys, err = s.ListSigningKeys(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, keys)
}

func testInTxCommit(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	s := open(t)
	t0 := time.Unix(1_800_000_000, 0)
	err := s.InTx(ctx(t), func(tx *store.Store) error {
		if err := tx.InsertSigningKey(ctx(t), keyRow("k1", store.KeyStateActive, t0)); err != nil {
			return err
		}
		if err := tx.RetireActiveKeys(ctx(t), t0, t0.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.InsertSigningKey(ctx(t), keyRow("k2", store.KeyStateActive, t0.Add(time.Second))); err != nil {
			return err
		}
		// A nested InTx is a savepoint: its rollback keeps the outer work.
		nested := tx.InTx(ctx(t), func(tx2 *store.Store) error {
			require.NoError(t, tx2.RecordRevocation(ctx(t), "https://ap.test", "nested", t0, t0))
			return errBoom
		})
		require.ErrorIs(t, nested, errBoom)
		return tx.RecordRevocation(ctx(t), "https://ap.test", "outer", t0, t0)
	})
	require.NoError(t, err)

	keys, err := s.ListSigningKeys(ctx(t))
	require.NoError(t, err)
	require.Len(t, keys, 2)
	assert.Equal(t, "k2", keys[0].KID)
	assert.Equal(t, store.KeyStateActive, keys[0].State)
	assert.Equal(t, store.KeyStateRetired, keys[1].State)
	r, err := s.IsRevoked(ctx(t), "https://ap.test", "outer")
	require.NoError(t, err)
	assert.True(t, r)
	r, err = s.IsRevoked(ctx(t), "https://ap.test", "nested")
	require.NoError(t, err)
	assert.False(t, r)
}

func testInTxRestrictions(t *testing.T, _ storetest.Backend, open func(*testing.T) *store.Store) {
	s := open(t)
	require.NoError(t, s.InTx(ctx(t), func(tx *store.Store) error {
		assert.Equal(t, s.Dialect(), tx.Dialect())
		assert.NoError(t, tx.Ping(ctx(t)))
		assert.ErrorIs(t, tx.Close(), store.ErrInTx)
		assert.ErrorIs(t, tx.MigrateUp(ctx(t)), store.ErrInTx)
		_, err := tx.PendingMigrations(ctx(t))
		assert.ErrorIs(t, err, store.ErrInTx)
		return nil
	}))
}

func testErrorsHideSQL(t *testing.T, b storetest.Backend, _ func(*testing.T) *store.Store) {
	s := storetest.OpenURL(t, b.NewURL(t), false) // no tables
	_, err := s.RememberSignature(ctx(t), "k", time.Now())
	require.Error(t, err)
	assert.ErrorIs(t, err, store.ErrDatabase)
	assert.Equal(t, "store: remember signature: database error", err.Error())
	var se *store.Error
	require.ErrorAs(t, err, &se)
	assert.Contains(t, se.Cause(), "replay_cache", "the cause stays available to server logs")

	_, err = s.IsRevoked(ctx(t), "a", "b")
	assert.ErrorIs(t, err, store.ErrDatabase)
	assert.NotContains(t, err.Error(), "SELECT")
	assert.NotContains(t, err.Error(), "revoked_tokens")

	cctx, cancel := context.WithCancel(ctx(t))
	cancel()
	_, err = s.ListSigningKeys(cctx)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{
		"", "mysql://x", "sqlite:", "sqlite::memory:", "sqlite:file:x.db", "sqlite:/tmp/a?b.db",
		"postgres://user:s3cret@127.0.0.1:1/x?sslmode=disable&connect_timeout=1",
	} {
		_, err := store.Open(t.Context(), u, nil)
		if assert.Error(t, err, u) {
			assert.NotContains(t, err.Error(), "s3cret", "the password never appears in errors")
			var se *store.Error
			if errors.As(err, &se) {
				assert.NotContains(t, se.Cause(), "s3cret")
			}
		}
	}
}

func TestOpenSQLiteCreatesPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "ps.db"), nil)
	require.NoError(t, err)
	defer s.Close()
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	var mode string
	require.NoError(t, s.QuerySQL(context.Background(), &mode, "PRAGMA journal_mode"))
	assert.Equal(t, "wal", strings.ToLower(mode))
	var fk, busy int
	require.NoError(t, s.QuerySQL(context.Background(), &fk, "PRAGMA foreign_keys"))
	require.NoError(t, s.QuerySQL(context.Background(), &busy, "PRAGMA busy_timeout"))
	assert.Equal(t, 1, fk)
	assert.Equal(t, 5000, busy)
}

func TestOpenPostgresDoesNotLogPassword(t *testing.T) {
	var buf bytes.Buffer
	log := slogTo(&buf)
	u, err := url.Parse(storetest.NewPostgresURL(t))
	require.NoError(t, err)
	pw, has := u.User.Password()
	if !has {
		// The default URL uses trust authentication, which ignores a password.
		pw = "pw-s3cret"
		u.User = url.UserPassword(u.User.Username(), pw)
	}
	s, err := store.Open(t.Context(), u.String(), log)
	require.NoError(t, err)
	defer s.Close()
	assert.Contains(t, buf.String(), "database opened")
	assert.NotContains(t, buf.String(), pw)
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestStoreConformance runs storetest.Run: every store method on SQLite
// and PostgreSQL.
func TestStoreConformance(t *testing.T) { storetest.Run(t) }
