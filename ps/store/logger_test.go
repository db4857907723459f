package store_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// lockedBuffer is a log sink the pool's goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStatementLogging (issue 12, the quiet statement logger): a fast
// statement is not logged, a failing one is (error level, placeholders and
// no values), and a statement slower than 500 ms is (warn level), exactly
// as gorm's logger did before statements stopped being rendered first.
func TestStatementLogging(t *testing.T) {
	var buf lockedBuffer
	st, err := store.Open(t.Context(), storetest.NewMigratedPostgresURL(t), slogTo(&buf))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := t.Context()

	var n int
	require.NoError(t, st.QuerySQL(ctx, &n, "SELECT 1 + ?", 41))
	assert.NotContains(t, buf.String(), "SQL executed", "a fast statement was logged")

	require.Error(t, st.ExecSQL(ctx, "SELECT * FROM no_such_table WHERE secret = ?", "s3cret-value"))
	out := buf.String()
	assert.Contains(t, out, "SQL executed")
	assert.Contains(t, out, "level=ERROR")
	assert.Contains(t, out, "no_such_table")
	assert.NotContains(t, out, "s3cret-value", "a value reached the log")

	require.NoError(t, st.ExecSQL(ctx, "SELECT pg_sleep(0.6)"))
	assert.Contains(t, buf.String(), "level=WARN", "a slow statement was not logged")
	assert.Contains(t, buf.String(), "pg_sleep")

	// A read into a value (gorm's Scan) is traced through a recorder that
	// renders the statement eagerly: its values must not reach the log
	// either, slow or failing.
	var v string
	require.NoError(t, st.QuerySQL(ctx, &v, "SELECT CAST(? AS text) FROM pg_sleep(0.6)", "s3cret-slow-read"))
	require.Equal(t, "s3cret-slow-read", v)
	require.Error(t, st.QuerySQL(ctx, &v, "SELECT secret FROM no_such_table WHERE secret = ?", "s3cret-failed-read"))
	out = buf.String()
	assert.Contains(t, out, "pg_sleep(0.6)", "the slow read was not logged")
	assert.Contains(t, out, "SELECT secret FROM no_such_table", "the failed read was not logged")
	assert.NotContains(t, out, "s3cret-slow-read", "a slow read's value reached the log")
	assert.NotContains(t, out, "s3cret-failed-read", "a failed read's value reached the log")
}

// The same on SQLite: a failing read is logged with its placeholders and
// without its values.
func TestStatementLoggingSQLiteReadKeepsValuesOut(t *testing.T) {
	var buf lockedBuffer
	st, err := store.Open(t.Context(), storetest.NewMigratedSQLiteURL(t), slogTo(&buf))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	var v string
	require.Error(t, st.QuerySQL(t.Context(), &v, "SELECT secret FROM no_such_table WHERE secret = ?", "s3cret-sqlite-read"))
	out := buf.String()
	assert.Contains(t, out, "SELECT secret FROM no_such_table WHERE secret = ?")
	assert.NotContains(t, out, "s3cret-sqlite-read", "a value reached the log")
}
