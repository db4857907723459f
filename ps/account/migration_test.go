package account_test

import (
	"github.com/aauth-ps/aauth-ps/ps/account"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

var accountTables = []string{
	"persons", "sessions", "invites", "login_attempts", "webauthn_credentials", "webauthn_ceremonies",
}

// TestMigrationDownUp rolls 00002_accounts back and forth with data in
// every table, on both backends: its Down removes all its tables and
// leaves 00001's.
func TestMigrationDownUp(t *testing.T) {
	t.Parallel()
	storetest.EachURL(t, func(t *testing.T, url string) {
		st := storetest.OpenURL(t, url, false)
		ctx := t.Context()
		has := func(tb string) bool { return storetest.HasTable(st, tb) }
		for _, tb := range accountTables {
			require.True(t, has(tb), tb)
		}

		s, _ := newTestService(t, st)
		p := mustPerson(t, s, "alice", true)
		_, _, err := s.CreateSession(ctx, p.ID, "", "")
		require.NoError(t, err)
		_, _, err = s.CreateInvite(ctx, p.ID, "", false)
		require.NoError(t, err)
		_, err = s.Authenticate(ctx, "alice", "wrong password!", "192.0.2.1")
		require.ErrorIs(t, err, account.ErrBadCredentials)
		register(t, s, p.ID, newSoftAuthenticator(t), "")
		_, _, err = s.BeginPasskeyLogin(ctx)
		require.NoError(t, err)
		for _, tb := range accountTables {
			assert.NotZero(t, countRows(t, st, tb, ""), "%s has a row", tb)
		}

		// Roll back one step at a time until 00002 is undone (later
		// migrations, if any, go first).
		for has("persons") {
			require.NoError(t, st.MigrateDown(ctx))
		}
		for _, tb := range accountTables {
			assert.False(t, has(tb), "%s must be gone", tb)
		}
		assert.True(t, has("signing_keys"), "00001's tables stay")

		require.NoError(t, st.MigrateUp(ctx))
		for _, tb := range accountTables {
			assert.True(t, has(tb), tb)
			assert.Zero(t, countRows(t, st, tb, ""), tb)
		}
		require.NoError(t, st.MigrateDownAll(ctx))
		for _, tb := range accountTables {
			assert.False(t, has(tb), tb)
		}
		require.NoError(t, st.MigrateUp(ctx))
	})
}
