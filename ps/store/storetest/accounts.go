package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runAccounts checks the accounts aggregate: every account.Store method,
// with the uniqueness, conditional updates and single-use takes the
// account service relies on.
func runAccounts(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	var _ account.Store = st
	at := time.Unix(1_800_000_000, 0).UTC()
	alice := account.PersonRecord{Person: account.Person{ID: "p-alice", Username: "alice", Email: "Alice@Example.org",
		Name: "Alice", Tenant: "t1", Groups: []string{"g1", "g2"}, Roles: []string{}, IsAdmin: true, HasPassword: true,
		CreatedAt: at, UpdatedAt: at}, PasswordHash: "$argon2id$hash-a"}
	bob := account.PersonRecord{Person: account.Person{ID: "p-bob", Username: "bob", Groups: []string{}, Roles: []string{"r"},
		CreatedAt: at, UpdatedAt: at}}

	t.Run("persons", func(t *testing.T) {
		for _, p := range []account.PersonRecord{alice, bob} {
			if err := st.InsertPerson(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		dupName := bob
		dupName.ID, dupName.Email = "p-x", "x@example.org"
		if err := st.InsertPerson(ctx, dupName); !errors.Is(err, account.ErrUsernameTaken) {
			t.Fatalf("a taken username: %v", err)
		}
		dupMail := bob
		dupMail.ID, dupMail.Username, dupMail.Email = "p-y", "yves", "alice@EXAMPLE.org"
		if err := st.InsertPerson(ctx, dupMail); !errors.Is(err, account.ErrEmailTaken) {
			t.Fatalf("a taken email (any case): %v", err)
		}
		got, err := st.PersonByID(ctx, alice.ID)
		if err != nil || !samePerson(got, &alice) {
			t.Fatalf("PersonByID = %+v, %v", got, err)
		}
		if got, err := st.PersonByUsername(ctx, "bob"); err != nil || !samePerson(got, &bob) || got.HasPassword {
			t.Fatalf("PersonByUsername = %+v, %v", got, err)
		}
		for _, miss := range []func() error{
			func() error { _, err := st.PersonByID(ctx, "nobody"); return err },
			func() error { _, err := st.PersonByUsername(ctx, "Alice"); return err },
		} {
			if err := miss(); !errors.Is(err, dberr.ErrNotFound) {
				t.Fatalf("a missing person: %v", err)
			}
		}
		if n, err := st.CountPersons(ctx); err != nil || n != 2 {
			t.Fatalf("CountPersons = %d, %v", n, err)
		}
		if ps, err := st.Persons(ctx); err != nil || len(ps) != 2 || ps[0].Username != "alice" || ps[1].Username != "bob" {
			t.Fatalf("Persons = %+v, %v", ps, err)
		}

		// SavePerson writes the mutable fields and nothing else.
		changed := alice
		later := at.Add(time.Hour)
		changed.Name, changed.Email, changed.EmailVerified, changed.Tenant = "Alicia", "", true, ""
		changed.Groups, changed.Roles, changed.IsAdmin, changed.InboxChannel = []string{}, []string{"x"}, false, true
		changed.DisabledAt, changed.Disabled, changed.UpdatedAt = &later, true, later
		changed.Username, changed.PasswordHash = "ignored", "ignored"
		if err := st.SavePerson(ctx, changed); err != nil {
			t.Fatal(err)
		}
		got, _ = st.PersonByID(ctx, alice.ID)
		if got.Name != "Alicia" || got.Email != "" || !got.EmailVerified || got.Tenant != "" || len(got.Groups) != 0 ||
			!slices.Equal(got.Roles, []string{"x"}) || got.IsAdmin || !got.InboxChannel || !got.Disabled ||
			got.DisabledAt == nil || !got.DisabledAt.Equal(later) || !got.UpdatedAt.Equal(later) ||
			got.Username != "alice" || got.PasswordHash != alice.PasswordHash || !got.CreatedAt.Equal(at) {
			t.Fatalf("after SavePerson: %+v", got)
		}
		taken := bob
		taken.Email = "ALICE@example.org"
		changed.Email = "alice@example.org"
		if err := st.SavePerson(ctx, changed); err != nil {
			t.Fatal(err)
		}
		if err := st.SavePerson(ctx, taken); !errors.Is(err, account.ErrEmailTaken) {
			t.Fatalf("saving a taken email: %v", err)
		}
		ghost := bob
		ghost.ID = "nobody"
		if err := st.SavePerson(ctx, ghost); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("saving a missing person: %v", err)
		}
		if err := st.SavePerson(ctx, alice); err != nil { // back to enabled admin
			t.Fatal(err)
		}

		// Enabled administrators, also inside a transaction (locked rows);
		// a disabled administrator is not one.
		gone := account.PersonRecord{Person: account.Person{ID: "p-gone", Username: "gone", IsAdmin: true, Disabled: true,
			CreatedAt: at, UpdatedAt: at}, DisabledAt: &at}
		if err := st.InsertPerson(ctx, gone); err != nil {
			t.Fatal(err)
		}
		if got, err := st.PersonByID(ctx, gone.ID); err != nil || !got.Disabled || got.DisabledAt == nil || !got.DisabledAt.Equal(at) {
			t.Fatalf("a disabled person = %+v, %v", got, err)
		}
		if ids, err := st.EnabledAdmins(ctx); err != nil || !slices.Equal(ids, []string{alice.ID}) {
			t.Fatalf("EnabledAdmins = %v, %v", ids, err)
		}
		err = st.InTx(ctx, func(tx *store.Store) error {
			ids, err := tx.EnabledAdmins(ctx)
			if err == nil && !slices.Equal(ids, []string{alice.ID}) {
				err = errors.New("wrong administrators in a transaction")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		// Passwords.
		if err := st.SetPasswordHash(ctx, bob.ID, "h1", later); err != nil {
			t.Fatal(err)
		}
		if err := st.SetPasswordHash(ctx, "nobody", "h1", later); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("SetPasswordHash of nobody: %v", err)
		}
		if ok, err := st.ReplacePasswordHash(ctx, bob.ID, "stale", "h2"); err != nil || ok {
			t.Fatalf("ReplacePasswordHash of a stale hash = %v, %v", ok, err)
		}
		if ok, err := st.ReplacePasswordHash(ctx, bob.ID, "h1", "h2"); err != nil || !ok {
			t.Fatalf("ReplacePasswordHash = %v, %v", ok, err)
		}
		if got, _ := st.PersonByID(ctx, bob.ID); got.PasswordHash != "h2" || !got.HasPassword || !got.UpdatedAt.Equal(later) {
			t.Fatalf("after the password changes: %+v", got)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		s := account.Session{IDHash: "hash-1", PersonID: alice.ID, CSRFToken: "csrf", CreatedAt: at, LastSeenAt: at,
			ExpiresAt: at.Add(time.Hour), IdleExpiresAt: at.Add(time.Minute), UserAgent: "ua", IP: "192.0.2.1"}
		s2 := s
		s2.IDHash, s2.AuthenticatedAt = "hash-2", at.Add(time.Second) // a proven session (migration 00045)
		for _, x := range []account.Session{s, s2} {
			if err := st.InsertSession(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.InsertSession(ctx, s); !errors.Is(err, dberr.ErrConflict) {
			t.Fatalf("a second session with one hash: %v", err)
		}
		if got, err := st.SessionByHash(ctx, "hash-1"); err != nil || *got != s {
			t.Fatalf("SessionByHash = %+v, %v", got, err)
		}
		if got, err := st.SessionByHash(ctx, "hash-2"); err != nil || *got != s2 {
			t.Fatalf("SessionByHash of a proven session = %+v, %v", got, err)
		}
		if err := st.TouchSession(ctx, "hash-1", at.Add(time.Minute), at.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.SessionByHash(ctx, "hash-1"); !got.LastSeenAt.Equal(at.Add(time.Minute)) || !got.IdleExpiresAt.Equal(at.Add(2*time.Minute)) {
			t.Fatalf("after TouchSession: %+v", got)
		}
		if ok, err := st.DeleteSession(ctx, "hash-1"); err != nil || !ok {
			t.Fatalf("DeleteSession = %v, %v", ok, err)
		}
		if ok, err := st.DeleteSession(ctx, "hash-1"); err != nil || ok {
			t.Fatalf("DeleteSession twice = %v, %v", ok, err)
		}
		if _, err := st.SessionByHash(ctx, "hash-1"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("an ended session: %v", err)
		}
		other := s
		other.IDHash, other.PersonID = "hash-bob", bob.ID
		if err := st.InsertSession(ctx, other); err != nil {
			t.Fatal(err)
		}
		if err := st.DeletePersonSessions(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SessionByHash(ctx, "hash-2"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("DeletePersonSessions left one: %v", err)
		}
		if _, err := st.SessionByHash(ctx, "hash-bob"); err != nil {
			t.Fatalf("DeletePersonSessions ended another person's: %v", err)
		}
	})

	t.Run("invites", func(t *testing.T) {
		inv := account.InviteRecord{TokenHash: "inv-1", Invite: account.Invite{CreatedBy: alice.ID, Email: "new@example.org",
			IsAdmin: true, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}}
		op := account.InviteRecord{TokenHash: "inv-2", Invite: account.Invite{CreatedAt: at, ExpiresAt: at.Add(time.Hour)}}
		for _, x := range []account.InviteRecord{inv, op} {
			if err := st.InsertInvite(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := st.UsableInvite(ctx, "inv-1", at); err != nil || *got != inv.Invite {
			t.Fatalf("UsableInvite = %+v, %v", got, err)
		}
		if got, err := st.UsableInvite(ctx, "inv-2", at); err != nil || *got != op.Invite {
			t.Fatalf("UsableInvite of the operator's = %+v, %v", got, err)
		}
		if _, err := st.UsableInvite(ctx, "inv-1", at.Add(time.Hour)); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("an expired invite: %v", err)
		}
		if ok, err := st.ClaimInvite(ctx, "inv-1", at.Add(time.Hour)); err != nil || ok {
			t.Fatalf("claiming an expired invite = %v, %v", ok, err)
		}
		if ok, err := st.ClaimInvite(ctx, "inv-1", at); err != nil || !ok {
			t.Fatalf("ClaimInvite = %v, %v", ok, err)
		}
		if ok, err := st.ClaimInvite(ctx, "inv-1", at); err != nil || ok {
			t.Fatalf("claiming twice = %v, %v", ok, err)
		}
		if _, err := st.UsableInvite(ctx, "inv-1", at); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("a redeemed invite: %v", err)
		}
		if err := st.SetInviteRedeemer(ctx, "inv-1", bob.ID); err != nil {
			t.Fatal(err)
		}

		// Issue 9 item 10: the open invitations listed (newest first,
		// bounded), revoked only while unredeemed.
		later := account.InviteRecord{TokenHash: "inv-3", Invite: account.Invite{CreatedAt: at.Add(time.Minute), ExpiresAt: at.Add(2 * time.Hour)}}
		if err := st.InsertInvite(ctx, later); err != nil {
			t.Fatal(err)
		}
		if got, err := st.OpenInvites(ctx, at.Add(time.Minute), 10); err != nil || len(got) != 2 || got[0] != later || got[1] != op {
			t.Fatalf("OpenInvites = %+v, %v; want inv-3 then inv-2 (inv-1 was redeemed)", got, err)
		}
		if got, _ := st.OpenInvites(ctx, at.Add(time.Minute), 1); len(got) != 1 || got[0].TokenHash != "inv-3" {
			t.Fatalf("OpenInvites with limit 1 = %+v", got)
		}
		if got, _ := st.OpenInvites(ctx, at.Add(time.Hour), 10); len(got) != 1 || got[0].TokenHash != "inv-3" {
			t.Fatalf("OpenInvites after inv-2 expired = %+v", got)
		}
		if ok, err := st.DeleteInvite(ctx, "inv-1"); err != nil || ok {
			t.Fatalf("deleting a redeemed invite = %v, %v", ok, err)
		}
		if ok, err := st.DeleteInvite(ctx, "inv-3"); err != nil || !ok {
			t.Fatalf("DeleteInvite = %v, %v", ok, err)
		}
		if ok, _ := st.DeleteInvite(ctx, "inv-3"); ok {
			t.Fatal("deleting twice")
		}
		if _, err := st.UsableInvite(ctx, "inv-3", at); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("a revoked invite is still usable: %v", err)
		}
	})

	t.Run("passkeys", func(t *testing.T) {
		used := at.Add(time.Minute)
		c := account.Credential{Passkey: account.Passkey{ID: "cred-1", Name: "phone", AAGUID: "00000000-0000-0000-0000-000000000000",
			Transports: []string{"internal", "hybrid"}, BackupEligible: true, BackupState: false, SignCount: 5, CreatedAt: at},
			PersonID: alice.ID, PublicKey: []byte{1, 2, 3}, AttestationType: "none", AttestationFormat: "packed"}
		c2 := c
		c2.ID, c2.Name, c2.CreatedAt, c2.SignCount, c2.Transports, c2.LastUsedAt = "cred-2", "key", at.Add(time.Second), 0, []string{}, &used
		for _, x := range []account.Credential{c, c2} {
			if err := st.InsertCredential(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.InsertCredential(ctx, c); !errors.Is(err, dberr.ErrConflict) {
			t.Fatalf("a credential registered twice: %v", err)
		}
		cs, err := st.Credentials(ctx, alice.ID)
		if err != nil || len(cs) != 2 || cs[0].ID != "cred-1" || cs[1].ID != "cred-2" ||
			!slices.Equal(cs[0].Transports, c.Transports) || string(cs[0].PublicKey) != string(c.PublicKey) ||
			cs[0].AttestationFormat != "packed" || !cs[0].BackupEligible || cs[0].SignCount != 5 || cs[0].LastUsedAt != nil ||
			cs[1].LastUsedAt == nil || !cs[1].LastUsedAt.Equal(used) || cs[0].PersonID != alice.ID {
			t.Fatalf("Credentials = %+v, %v", cs, err)
		}
		if cs, err := st.Credentials(ctx, bob.ID); err != nil || len(cs) != 0 {
			t.Fatalf("bob's credentials = %+v, %v", cs, err)
		}
		for _, tc := range []struct {
			id    string
			count uint32
			want  bool
		}{{"cred-1", 5, false}, {"cred-1", 4, false}, {"cred-1", 6, true}, {"cred-2", 0, true}, {"cred-2", 0, true}, {"cred-9", 9, false}} {
			if ok, err := st.AdvanceSignCount(ctx, alice.ID, tc.id, tc.count, true, used); err != nil || ok != tc.want {
				t.Fatalf("AdvanceSignCount(%s, %d) = %v, %v; want %v", tc.id, tc.count, ok, err, tc.want)
			}
		}
		if ok, _ := st.AdvanceSignCount(ctx, bob.ID, "cred-1", 99, true, used); ok {
			t.Fatal("another person's credential advanced")
		}
		cs, _ = st.Credentials(ctx, alice.ID)
		if cs[0].SignCount != 6 || !cs[0].BackupState || cs[0].LastUsedAt == nil {
			t.Fatalf("after AdvanceSignCount: %+v", cs[0])
		}
		if ok, err := st.DeleteCredential(ctx, bob.ID, "cred-1"); err != nil || ok {
			t.Fatalf("deleting another person's credential = %v, %v", ok, err)
		}
		if ok, err := st.DeleteCredential(ctx, alice.ID, "cred-1"); err != nil || !ok {
			t.Fatalf("DeleteCredential = %v, %v", ok, err)
		}

		reg := account.Ceremony{ID: "cer-1", PersonID: alice.ID, Kind: "register", Data: `{"challenge":"x"}`, ExpiresAt: at}
		login := account.Ceremony{ID: "cer-2", Kind: "login", Data: `{}`, ExpiresAt: at}
		for _, x := range []account.Ceremony{reg, login} {
			if err := st.InsertCeremony(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range []account.Ceremony{reg, login} {
			if got, err := st.TakeCeremony(ctx, want.ID); err != nil || *got != want {
				t.Fatalf("TakeCeremony = %+v, %v", got, err)
			}
			if _, err := st.TakeCeremony(ctx, want.ID); !errors.Is(err, dberr.ErrNotFound) {
				t.Fatalf("a ceremony taken twice: %v", err)
			}
		}
	})

	t.Run("login failures", func(t *testing.T) {
		for i := range 4 {
			if err := st.RecordLoginFailure(ctx, "user:a", at.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.RecordLoginFailure(ctx, "ip:b", at); err != nil {
			t.Fatal(err)
		}
		got, err := st.RecentLoginFailures(ctx, "user:a", at, 2)
		if err != nil || len(got) != 2 || !got[0].Equal(at.Add(3*time.Second)) || !got[1].Equal(at.Add(2*time.Second)) {
			t.Fatalf("RecentLoginFailures = %v, %v", got, err)
		}
		if got, _ := st.RecentLoginFailures(ctx, "user:a", at, 10); len(got) != 3 {
			t.Fatalf("failures after since: %v (the one at since is not counted)", got)
		}
		if err := st.ClearLoginFailures(ctx, "user:a"); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.RecentLoginFailures(ctx, "user:a", at.Add(-time.Hour), 10); len(got) != 0 {
			t.Fatalf("after ClearLoginFailures: %v", got)
		}
		if got, _ := st.RecentLoginFailures(ctx, "ip:b", at.Add(-time.Hour), 10); len(got) != 1 {
			t.Fatalf("ClearLoginFailures cleared another key: %v", got)
		}
	})

	t.Run("purge", func(t *testing.T) {
		now := at.Add(time.Hour)
		live := account.Session{IDHash: "live", PersonID: bob.ID, CSRFToken: "c", CreatedAt: at, LastSeenAt: at,
			ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Minute)}
		idle := live
		idle.IDHash, idle.IdleExpiresAt = "idle", now
		if err := errors.Join(st.InsertSession(ctx, live), st.InsertSession(ctx, idle),
			st.InsertCeremony(ctx, account.Ceremony{ID: "old", Kind: "login", Data: "{}", ExpiresAt: now}),
			st.InsertCeremony(ctx, account.Ceremony{ID: "new", Kind: "login", Data: "{}", ExpiresAt: now.Add(time.Second)}),
			st.InsertInvite(ctx, account.InviteRecord{TokenHash: "late", Invite: account.Invite{CreatedAt: now, ExpiresAt: now.Add(time.Hour)}}),
			st.RecordLoginFailure(ctx, "ip:c", now)); err != nil {
			t.Fatal(err)
		}
		// Expired: the session "hash-bob" (at+1h) and "idle", ceremony
		// "old", invites inv-1 and inv-2 (at+1h), failures of ip:b (at).
		n, err := st.PurgeAccounts(ctx, now, at)
		if err != nil || n != 6 {
			t.Fatalf("PurgeAccounts = %d, %v; want 6", n, err)
		}
		if _, err := st.SessionByHash(ctx, "live"); err != nil {
			t.Fatalf("a live session was purged: %v", err)
		}
		if _, err := st.TakeCeremony(ctx, "new"); err != nil {
			t.Fatalf("a live ceremony was purged: %v", err)
		}
		if _, err := st.UsableInvite(ctx, "late", now); err != nil {
			t.Fatalf("a live invite was purged: %v", err)
		}
		if got, _ := st.RecentLoginFailures(ctx, "ip:c", at, 10); len(got) != 1 {
			t.Fatalf("a recent failure was purged: %v", got)
		}
	})

	t.Run("transaction", func(t *testing.T) {
		boom := errors.New("boom")
		err := st.InAccountTx(ctx, func(tx account.Store) error {
			if err := tx.InsertSession(ctx, account.Session{IDHash: "tx", PersonID: bob.ID, CreatedAt: at, LastSeenAt: at,
				ExpiresAt: at, IdleExpiresAt: at}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InAccountTx = %v", err)
		}
		if _, err := st.SessionByHash(ctx, "tx"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("a rolled-back write is visible: %v", err)
		}
	})
}

// samePerson compares what a person record round-trips.
func samePerson(got, want *account.PersonRecord) bool {
	return got.ID == want.ID && got.Username == want.Username && got.Email == want.Email && got.Name == want.Name &&
		got.Tenant == want.Tenant && slices.Equal(got.Groups, want.Groups) && slices.Equal(got.Roles, want.Roles) &&
		got.IsAdmin == want.IsAdmin && got.HasPassword == want.HasPassword && got.PasswordHash == want.PasswordHash &&
		got.CreatedAt.Equal(want.CreatedAt) && got.UpdatedAt.Equal(want.UpdatedAt) && got.Disabled == want.Disabled &&
		got.EmailVerified == want.EmailVerified && got.InboxChannel == want.InboxChannel
}

// Raw access for the account package's tests, which check what is stored
// beneath account.Store (only hashes of tokens, the PHC string, a lock-out
// behind the service's back). Kept here, beside the backends, so no test
// outside ps/store reaches into gorm.

// CountWhere counts the rows of table matching where ("" for all).
func CountWhere(t testing.TB, st *store.Store, table, where string, args ...any) int64 {
	t.Helper()
	n, err := st.CountRows(context.Background(), table, where, args...)
	if err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// Scan runs query and scans its one row into dest.
func Scan(t testing.TB, st *store.Store, dest any, query string, args ...any) {
	t.Helper()
	if err := st.QuerySQL(context.Background(), dest, query, args...); err != nil {
		t.Fatalf("scan: %v", err)
	}
}

// Exec runs a statement.
func Exec(t testing.TB, st *store.Store, statement string, args ...any) {
	t.Helper()
	if err := st.ExecSQL(context.Background(), statement, args...); err != nil {
		t.Fatalf("exec: %v", err)
	}
}

// HasTable reports whether the database has table.
func HasTable(st *store.Store, table string) bool {
	return st.HasTable(context.Background(), table)
}
