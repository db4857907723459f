package store

import (
	"database/sql/driver"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Statements evicted from the pool after a transaction on the pinned
// writer connection used them were never finalised on that connection:
// database/sql defers their close to the connection's return to the
// pool, which a pinned sql.Conn never did. The driver's live statements
// now stay bounded whether the writer is pinned or not.
func TestStmtPoolEvictedStatementsAreClosedOnTheWriter(t *testing.T) {
	for _, pin := range []bool{false, true} {
		t.Run(fmt.Sprintf("pinned=%v", pin), func(t *testing.T) { evictedLeak(t, pin) })
	}
}

func evictedLeak(t *testing.T, pin bool) {
	p, d := countedPoolOf(t, 3)
	p.size = 4
	if pin {
		p.pinWriter()
	}
	t.Cleanup(p.close)
	ctx := t.Context()
	run := func(round int) {
		for i := range 50 {
			q := fmt.Sprintf("SELECT %d + count(*) FROM t", i)
			_, _ = p.QueryRowContext(ctx, q).Scan(new(int)), 0 // kept on the pool
			tx, err := p.BeginTx(ctx, nil)
			require.NoError(t, err)
			var n int
			require.NoError(t, tx.QueryRowContext(ctx, q).Scan(&n))
			require.NoError(t, tx.(driver.Tx).Commit())
		}
	}
	for round := range 4 {
		run(round)
		t.Logf("after round %d: %d live driver statements (pool keeps %d texts)", round, d.live.Load(), p.size)
	}
	require.Less(t, d.live.Load(), int64(3*p.size+10), "driver statements grow without bound")
}
