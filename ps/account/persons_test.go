package account_test

import (
	"errors"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

func TestNormalizeUsername(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"alice": "alice", "Alice": "alice", "  BOB.smith_2-x ": "bob.smith_2-x",
		"abc": "abc", strings.Repeat("a", 64): strings.Repeat("a", 64),
		"alice\n": "alice", "İstanbul": "istanbul", // folds to ASCII before the uniqueness check
	} {
		got, err := account.NormalizeUsername(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{
		"", "ab", strings.Repeat("a", 65), "al ice", "alice@example.org", "ålice",
		"alice/../x", "al\nice", "al\x00ice", "Ωmega",
	} {
		_, err := account.NormalizeUsername(in)
		assert.ErrorIs(t, err, account.ErrInvalidUsername, "%q", in)
	}
}

func TestCreatePerson(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st)
		ctx := t.Context()
		p, err := s.CreatePerson(ctx, account.NewPerson{
			Username: "Alice", Email: "Alice@Example.org", Name: " Alice Liddell ", Password: goodPassword,
			Tenant: "wonderland", Groups: []string{"eng", " eng", "", "ops"}, Roles: []string{"approver"},
		})
		require.NoError(t, err)
		assert.Len(t, p.ID, 22)
		assert.Equal(t, "alice", p.Username)
		assert.Equal(t, "Alice@Example.org", p.Email)
		assert.False(t, p.EmailVerified)
		assert.Equal(t, "Alice Liddell", p.Name)
		assert.Equal(t, "wonderland", p.Tenant)
		assert.Equal(t, []string{"eng", "ops"}, p.Groups)
		assert.Equal(t, []string{"approver"}, p.Roles)
		assert.False(t, p.IsAdmin)
		assert.False(t, p.InboxChannel, "inbox channel defaults to off")
		assert.True(t, p.HasPassword)
		assert.False(t, p.Disabled)
		assert.Equal(t, clk.Now(), p.CreatedAt)

		got, err := s.Person(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, p, got, "what CreatePerson returns is what is stored")

		var hash string
		storetest.Scan(t, st, &hash, `SELECT password_hash FROM persons WHERE id = ?`, p.ID)
		assert.True(t, strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$"))
		assert.NotContains(t, hash, goodPassword)

		// Duplicates, case-insensitively.
		_, err = s.CreatePerson(ctx, account.NewPerson{Username: "ALICE", Password: goodPassword})
		assert.ErrorIs(t, err, account.ErrUsernameTaken)
		_, err = s.CreatePerson(ctx, account.NewPerson{Username: "alice2", Email: "alice@EXAMPLE.org"})
		assert.ErrorIs(t, err, account.ErrEmailTaken)

		// A person without password or email.
		q, err := s.CreatePerson(ctx, account.NewPerson{Username: "queen"})
		require.NoError(t, err)
		assert.False(t, q.HasPassword)
		assert.Equal(t, "", q.Email)
		assert.Equal(t, []string{}, q.Groups)
		_, err = s.CreatePerson(ctx, account.NewPerson{Username: "hatter"}) // two NULL emails do not collide
		require.NoError(t, err)

		for name, tc := range map[string]struct {
			np   account.NewPerson
			want error
		}{
			"short username":  {account.NewPerson{Username: "al"}, account.ErrInvalidUsername},
			"bad username":    {account.NewPerson{Username: "al ice"}, account.ErrInvalidUsername},
			"short password":  {account.NewPerson{Username: "bob", Password: "short"}, account.ErrWeakPassword},
			"common password": {account.NewPerson{Username: "bob", Password: "1234567890"}, account.ErrWeakPassword},
			"username as pw":  {account.NewPerson{Username: "bobby.tables", Password: "Bobby.Tables"}, account.ErrWeakPassword},
			"bad email":       {account.NewPerson{Username: "bob", Email: "Bob <bob@example.org>"}, account.ErrInvalidEmail},
			"not an email":    {account.NewPerson{Username: "bob", Email: "bob"}, account.ErrInvalidEmail},
			"control in name": {account.NewPerson{Username: "bob", Name: "Bob\x07"}, account.ErrInvalidField},
			"long tenant":     {account.NewPerson{Username: "bob", Tenant: strings.Repeat("t", account.MaxNameLength+1)}, account.ErrInvalidField},
			"long role":       {account.NewPerson{Username: "bob", Roles: []string{strings.Repeat("r", account.MaxLabelLength+1)}}, account.ErrInvalidField},
			"too many groups": {account.NewPerson{Username: "bob", Groups: manyLabels(account.MaxLabels + 1)}, account.ErrInvalidField},
		} {
			_, err := s.CreatePerson(ctx, tc.np)
			assert.ErrorIs(t, err, tc.want, name)
		}
		n, err := s.CountPersons(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 3, n, "no failed creation left a row")
	})
}

func manyLabels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Repeat("g", i+1)
	}
	return out
}

func TestPersonLookups(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := newTestService(t, st)
		ctx := t.Context()
		n, err := s.CountPersons(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
		list, err := s.ListPersons(ctx)
		require.NoError(t, err)
		assert.Empty(t, list)

		bob := mustPerson(t, s, "bob", false)
		alice := mustPerson(t, s, "alice", true)

		p, err := s.PersonByUsername(ctx, " ALICE ")
		require.NoError(t, err)
		assert.Equal(t, alice.ID, p.ID)
		assert.True(t, p.IsAdmin)
		_, err = s.PersonByUsername(ctx, "carol")
		assert.ErrorIs(t, err, account.ErrNotFound)
		_, err = s.PersonByUsername(ctx, "no such user!")
		assert.ErrorIs(t, err, account.ErrNotFound)
		_, err = s.Person(ctx, "nope")
		assert.ErrorIs(t, err, account.ErrNotFound)

		list, err = s.ListPersons(ctx)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, []string{"alice", "bob"}, []string{list[0].Username, list[1].Username})
		assert.Equal(t, bob.ID, list[1].ID)
		n, err = s.CountPersons(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 2, n)
	})
}

func TestUpdatePerson(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st)
		ctx := t.Context()
		admin := mustPerson(t, s, "admin", true)
		p, err := s.CreatePerson(ctx, account.NewPerson{Username: "alice", Email: "alice@example.org", Password: goodPassword})
		require.NoError(t, err)
		mustPerson(t, s, "bob", false)
		_, err = s.UpdatePerson(ctx, p.ID, account.PersonUpdate{EmailVerified: ptr(true)})
		require.NoError(t, err)

		clk.Advance(time.Hour)
		u, err := s.UpdatePerson(ctx, p.ID, account.PersonUpdate{
			Name: ptr("Alice L."), Tenant: ptr("acme"), Groups: ptr([]string{"a", "b"}),
			Roles: ptr([]string{"r"}), IsAdmin: ptr(true), InboxChannel: ptr(true),
		})
		require.NoError(t, err)
		assert.Equal(t, "Alice L.", u.Name)
		assert.Equal(t, "acme", u.Tenant)
		assert.Equal(t, []string{"a", "b"}, u.Groups)
		assert.Equal(t, []string{"r"}, u.Roles)
		assert.True(t, u.IsAdmin)
		assert.True(t, u.InboxChannel)
		assert.True(t, u.EmailVerified, "untouched email keeps its verification")
		assert.Equal(t, "alice@example.org", u.Email)
		assert.Equal(t, clk.Now(), u.UpdatedAt)
		assert.Equal(t, p.CreatedAt, u.CreatedAt)

		u, err = s.UpdatePerson(ctx, p.ID, account.PersonUpdate{Email: ptr("alice@new.example")})
		require.NoError(t, err)
		assert.Equal(t, "alice@new.example", u.Email)
		assert.False(t, u.EmailVerified, "a new email is unverified")
		u, err = s.UpdatePerson(ctx, p.ID, account.PersonUpdate{Email: ptr("alice@new.example"), EmailVerified: ptr(true)})
		require.NoError(t, err)
		assert.True(t, u.EmailVerified)
		u, err = s.UpdatePerson(ctx, p.ID, account.PersonUpdate{Email: ptr("")})
		require.NoError(t, err)
		assert.Equal(t, "", u.Email)
		u, err = s.UpdatePerson(ctx, p.ID, account.PersonUpdate{Groups: ptr([]string(nil))})
		require.NoError(t, err)
		assert.Equal(t, []string{}, u.Groups)

		_, err = s.UpdatePerson(ctx, admin.ID, account.PersonUpdate{Email: ptr("shared@example.org")})
		require.NoError(t, err)
		_, err = s.UpdatePerson(ctx, p.ID, account.PersonUpdate{Email: ptr("SHARED@example.org")})
		assert.ErrorIs(t, err, account.ErrEmailTaken)
		_, err = s.UpdatePerson(ctx, p.ID, account.PersonUpdate{Email: ptr("not-an-email")})
		assert.ErrorIs(t, err, account.ErrInvalidEmail)
		_, err = s.UpdatePerson(ctx, p.ID, account.PersonUpdate{Name: ptr("x\ny")})
		assert.ErrorIs(t, err, account.ErrInvalidField)
		_, err = s.UpdatePerson(ctx, "nope", account.PersonUpdate{Name: ptr("x")})
		assert.ErrorIs(t, err, account.ErrNotFound)
		u, err = s.UpdatePerson(ctx, p.ID, account.PersonUpdate{})
		require.NoError(t, err, "an empty update is fine")
		assert.Equal(t, p.ID, u.ID)

		// Disabling ends the sessions, in the same transaction.
		tok, _, err := s.CreateSession(ctx, p.ID, "ua", "192.0.2.1")
		require.NoError(t, err)
		u, err = s.UpdatePerson(ctx, p.ID, account.PersonUpdate{Disabled: ptr(true)})
		require.NoError(t, err)
		assert.True(t, u.Disabled)
		assert.Zero(t, countRows(t, st, "sessions", "person_id = ?", p.ID))
		_, _, err = s.Session(ctx, tok)
		assert.ErrorIs(t, err, account.ErrNoSession)
		u, err = s.UpdatePerson(ctx, p.ID, account.PersonUpdate{Disabled: ptr(false)})
		require.NoError(t, err)
		assert.False(t, u.Disabled)
	})
}

func TestLastAdmin(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := newTestService(t, st)
		ctx := t.Context()
		a := mustPerson(t, s, "admin", true)
		b := mustPerson(t, s, "bob", false)

		_, err := s.UpdatePerson(ctx, a.ID, account.PersonUpdate{IsAdmin: ptr(false)})
		assert.ErrorIs(t, err, account.ErrLastAdmin)
		_, err = s.UpdatePerson(ctx, a.ID, account.PersonUpdate{Disabled: ptr(true)})
		assert.ErrorIs(t, err, account.ErrLastAdmin)
		got, err := s.Person(ctx, a.ID)
		require.NoError(t, err)
		assert.True(t, got.IsAdmin && !got.Disabled, "nothing changed")

		// Not an admin: no restriction.
		_, err = s.UpdatePerson(ctx, b.ID, account.PersonUpdate{IsAdmin: ptr(false), Disabled: ptr(true)})
		require.NoError(t, err)
		// A disabled admin does not count.
		_, err = s.UpdatePerson(ctx, b.ID, account.PersonUpdate{IsAdmin: ptr(true)})
		require.NoError(t, err)
		_, err = s.UpdatePerson(ctx, a.ID, account.PersonUpdate{IsAdmin: ptr(false)})
		assert.ErrorIs(t, err, account.ErrLastAdmin)
		// With a second enabled admin, the first may step down.
		_, err = s.UpdatePerson(ctx, b.ID, account.PersonUpdate{Disabled: ptr(false)})
		require.NoError(t, err)
		_, err = s.UpdatePerson(ctx, a.ID, account.PersonUpdate{IsAdmin: ptr(false)})
		require.NoError(t, err)
		_, err = s.UpdatePerson(ctx, b.ID, account.PersonUpdate{Disabled: ptr(true)})
		assert.ErrorIs(t, err, account.ErrLastAdmin)
	})
}

func TestSetPassword(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := newTestService(t, st)
		ctx := t.Context()
		p, err := s.CreatePerson(ctx, account.NewPerson{Username: "alice", Email: "alice@example.org"})
		require.NoError(t, err)
		_, err = s.Authenticate(ctx, "alice", goodPassword, "")
		assert.ErrorIs(t, err, account.ErrBadCredentials, "no password yet")

		assert.ErrorIs(t, s.SetPassword(ctx, p.ID, "short"), account.ErrWeakPassword)
		assert.ErrorIs(t, s.SetPassword(ctx, p.ID, "alice@example.org"), account.ErrWeakPassword)
		assert.ErrorIs(t, s.SetPassword(ctx, "nope", goodPassword), account.ErrNotFound)

		require.NoError(t, s.SetPassword(ctx, p.ID, goodPassword))
		got, err := s.Person(ctx, p.ID)
		require.NoError(t, err)
		assert.True(t, got.HasPassword)
		_, err = s.Authenticate(ctx, "alice", goodPassword, "")
		require.NoError(t, err)

		const next = "another long passphrase"
		tok, _, err := s.CreateSession(ctx, p.ID, "", "")
		require.NoError(t, err)
		require.NoError(t, s.SetPassword(ctx, p.ID, next))
		_, _, err = s.Session(ctx, tok)
		assert.NoError(t, err, "SetPassword leaves sessions to the caller")
		_, err = s.Authenticate(ctx, "alice", goodPassword, "")
		assert.ErrorIs(t, err, account.ErrBadCredentials)
		_, err = s.Authenticate(ctx, "alice", next, "")
		assert.NoError(t, err)
	})
}

func TestWithStoreJoinsTransaction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := newTestService(t, st)
		ctx := t.Context()
		boom := errors.New("boom")
		err := st.InTx(ctx, func(tx *store.Store) error {
			ts := s.WithStore(tx)
			p := mustPerson(t, ts, "alice", true)
			_, err := ts.Person(ctx, p.ID)
			require.NoError(t, err, "visible inside the transaction")
			_, _, err = ts.CreateSession(ctx, p.ID, "", "")
			require.NoError(t, err)
			_, err = ts.UpdatePerson(ctx, p.ID, account.PersonUpdate{Name: ptr("A")}) // nested InTx: a savepoint
			require.NoError(t, err)
			return boom
		})
		require.ErrorIs(t, err, boom)
		n, err := s.CountPersons(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "rolled back with the caller's transaction")
		assert.Zero(t, countRows(t, st, "sessions", ""))
	})
}

// TestPreparePersonHashesOutsideTheTransaction: a person created inside a
// caller's transaction (the web's and the CLI's, with the audit row) is
// prepared first: validation and the argon2 hash happen in PreparePerson,
// which writes nothing, and the
// transaction only inserts. The stored hash is the prepared one: the
// password then signs in.
func TestPreparePersonHashesOutsideTheTransaction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := newTestService(t, st)
		ctx := t.Context()
		_, err := s.PreparePerson(account.NewPerson{Username: "bob", Password: "short"})
		require.ErrorIs(t, err, account.ErrWeakPassword)
		pp, err := s.PreparePerson(account.NewPerson{Username: "Bob", Password: goodPassword})
		require.NoError(t, err)
		assert.Zero(t, countRows(t, st, "persons", ""), "preparing writes nothing")
		var p *account.Person
		require.NoError(t, st.InTx(ctx, func(tx *store.Store) error {
			p, err = s.WithStore(tx).InsertPerson(ctx, pp)
			return err
		}))
		assert.Equal(t, "bob", p.Username)
		assert.True(t, p.HasPassword)
		got, err := s.Authenticate(ctx, "bob", goodPassword, "192.0.2.1")
		require.NoError(t, err)
		assert.Equal(t, p.ID, got.ID)
		_, err = s.InsertPerson(ctx, pp)
		require.ErrorIs(t, err, account.ErrUsernameTaken, "a prepared person is inserted once")
	})
}
