package account

import (
	"context"
	"time"
)

// Store is what the account service needs from the database. ps/store
// implements it (ps/store/accounts*.go); the storage conformance suite
// (ps/store/storetest) runs every method on PostgreSQL and SQLite. Missing
// rows are dberr.ErrNotFound, database failures dberr.ErrDatabase.
type Store interface {
	// InAccountTx runs fn in a transaction whose Store is tx: everything
	// fn writes commits together, or nothing does (nested: a savepoint).
	InAccountTx(ctx context.Context, fn func(tx Store) error) error

	PersonStore
	SessionStore
	InviteStore
	PasskeyStore
	LoginFailureStore
	RoleStore

	// PurgeAccounts deletes sessions past either expiry, ceremonies and
	// invites past their expiry (at or before now), and login failures at
	// or before failuresBefore; it returns the number of rows deleted.
	PurgeAccounts(ctx context.Context, now, failuresBefore time.Time) (int64, error)
}

// PersonRecord is a person as stored: the Person and the secrets it does
// not show.
type PersonRecord struct {
	Person
	PasswordHash string     // PHC string; "" for none (then HasPassword is false)
	DisabledAt   *time.Time // nil: enabled (Disabled mirrors it)
}

// PersonStore keeps persons.
type PersonStore interface {
	// InsertPerson stores a new person. A taken username or email is
	// ErrUsernameTaken or ErrEmailTaken.
	InsertPerson(ctx context.Context, p PersonRecord) error
	// SavePerson writes p's mutable fields (name, email, email_verified,
	// tenant, groups, roles, is_admin, inbox_channel, disabled_at,
	// updated_at) over the stored person p.ID; ErrEmailTaken when another
	// person has the email.
	SavePerson(ctx context.Context, p PersonRecord) error
	PersonByID(ctx context.Context, id string) (*PersonRecord, error)
	PersonByUsername(ctx context.Context, username string) (*PersonRecord, error)
	// Persons lists every person by username.
	Persons(ctx context.Context) ([]PersonRecord, error)
	CountPersons(ctx context.Context) (int64, error)
	// EnabledAdmins returns the ids of the enabled administrators; inside
	// a transaction it locks their rows where the database can (so two
	// concurrent demotions cannot both see the other as the remaining one).
	EnabledAdmins(ctx context.Context) ([]string, error)
	// SetPasswordHash replaces the person's hash (NotFound without such a
	// person).
	SetPasswordHash(ctx context.Context, id, hash string, at time.Time) error
	// ReplacePasswordHash replaces old by hash, only while old is still
	// the stored hash; it reports whether it did.
	ReplacePasswordHash(ctx context.Context, id, old, hash string) (bool, error)
}

// SessionStore keeps browser sessions, by the hash of their token.
type SessionStore interface {
	InsertSession(ctx context.Context, s Session) error
	SessionByHash(ctx context.Context, idHash string) (*Session, error)
	TouchSession(ctx context.Context, idHash string, lastSeen, idleExpires time.Time) error
	// DeleteSession reports whether the session existed.
	DeleteSession(ctx context.Context, idHash string) (bool, error)
	DeletePersonSessions(ctx context.Context, personID string) error
}

// InviteRecord is an invitation as stored, by the hash of its token.
type InviteRecord struct {
	Invite
	TokenHash string
}

// InviteStore keeps invitations.
type InviteStore interface {
	InsertInvite(ctx context.Context, inv InviteRecord) error
	// UsableInvite returns the invite if it is neither redeemed nor
	// expired at now.
	UsableInvite(ctx context.Context, tokenHash string, now time.Time) (*Invite, error)
	// ClaimInvite marks a usable invite redeemed at now; false when it was
	// not usable (of two concurrent claims, one wins).
	ClaimInvite(ctx context.Context, tokenHash string, now time.Time) (bool, error)
	SetInviteRedeemer(ctx context.Context, tokenHash, personID string) error
	// OpenInvites lists the invites neither redeemed nor expired at now,
	// newest first (at most limit).
	OpenInvites(ctx context.Context, now time.Time, limit int) ([]InviteRecord, error)
	// DeleteInvite deletes an unredeemed invite; false when there is none.
	DeleteInvite(ctx context.Context, tokenHash string) (bool, error)
}

// Credential is a passkey as stored: the listed Passkey and what verifying
// it needs.
type Credential struct {
	Passkey
	PersonID          string
	PublicKey         []byte
	AttestationType   string
	AttestationFormat string
}

// Ceremony is a passkey ceremony in progress (the go-webauthn session data
// as JSON).
type Ceremony struct {
	ID        string
	PersonID  string // "" for a login
	Kind      string
	Data      string
	ExpiresAt time.Time
}

// PasskeyStore keeps passkeys and their ceremonies.
type PasskeyStore interface {
	// Credentials lists a person's passkeys, oldest first.
	Credentials(ctx context.Context, personID string) ([]Credential, error)
	// InsertCredential: a credential id already registered is
	// dberr.ErrConflict.
	InsertCredential(ctx context.Context, c Credential) error
	// DeleteCredential reports whether the person had the passkey.
	DeleteCredential(ctx context.Context, personID, id string) (bool, error)
	// AdvanceSignCount stores a login's counter, backup state and time,
	// only if count is greater than the stored one (or both are 0, an
	// authenticator without a counter); it reports whether it did.
	AdvanceSignCount(ctx context.Context, personID, id string, count uint32, backupState bool, at time.Time) (bool, error)
	InsertCeremony(ctx context.Context, c Ceremony) error
	// TakeCeremony deletes the ceremony and returns it (single use).
	TakeCeremony(ctx context.Context, id string) (*Ceremony, error)
}

// LoginFailureStore counts failed logins per key (a username's or an
// address's).
type LoginFailureStore interface {
	// RecentLoginFailures returns the times of key's failures after since,
	// newest first, at most limit of them.
	RecentLoginFailures(ctx context.Context, key string, since time.Time, limit int) ([]time.Time, error)
	RecordLoginFailure(ctx context.Context, key string, at time.Time) error
	ClearLoginFailures(ctx context.Context, key string) error
}
