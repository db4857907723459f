package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
)

// The accounts aggregate (ps/account declares the interface): persons and
// invitations here; sessions and login failures in accounts_sessions.go;
// passkeys and their ceremonies in accounts_passkeys.go. Times are stored
// as unix seconds.

var _ account.Store = (*Store)(nil)

// InAccountTx is InTx for the account service.
func (s *Store) InAccountTx(ctx context.Context, fn func(tx account.Store) error) error {
	return s.InTx(ctx, func(tx *Store) error { return fn(tx) })
}

func unixTime(u int64) time.Time { return time.Unix(u, 0).UTC() }

func unixTimePtr(u *int64) *time.Time {
	if u == nil {
		return nil
	}
	t := unixTime(*u)
	return &t
}

// nullIfEmpty maps "" to NULL.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func emptyIfNull(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// encodeList stores a string list as a JSON array ("[]" for none).
func encodeList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// decodeList never returns nil; a corrupt value reads as empty.
func decodeList(s string) []string {
	var out []string
	if json.Unmarshal([]byte(s), &out) != nil || out == nil {
		return []string{}
	}
	return out
}

type personRow struct {
	ID            string  `gorm:"column:id;primaryKey"`
	Username      string  `gorm:"column:username"`
	Email         *string `gorm:"column:email"`
	EmailVerified bool    `gorm:"column:email_verified"`
	Name          string  `gorm:"column:name"`
	Tenant        string  `gorm:"column:tenant"`
	GroupsJSON    string  `gorm:"column:groups_json"`
	RolesJSON     string  `gorm:"column:roles_json"`
	IsAdmin       bool    `gorm:"column:is_admin"`
	InboxChannel  bool    `gorm:"column:inbox_channel"`
	PasswordHash  *string `gorm:"column:password_hash"`
	CreatedAt     int64   `gorm:"column:created_at"`
	UpdatedAt     int64   `gorm:"column:updated_at"`
	DisabledAt    *int64  `gorm:"column:disabled_at"`
}

func (personRow) TableName() string { return "persons" }

func newPersonRow(p account.PersonRecord) personRow {
	return personRow{
		ID: p.ID, Username: p.Username, Email: nullIfEmpty(p.Email), EmailVerified: p.EmailVerified,
		Name: p.Name, Tenant: p.Tenant, GroupsJSON: encodeList(p.Groups), RolesJSON: encodeList(p.Roles),
		IsAdmin: p.IsAdmin, InboxChannel: p.InboxChannel, PasswordHash: nullIfEmpty(p.PasswordHash),
		CreatedAt: p.CreatedAt.Unix(), UpdatedAt: p.UpdatedAt.Unix(), DisabledAt: unixPtr(p.DisabledAt),
	}
}

func (r *personRow) record() *account.PersonRecord {
	return &account.PersonRecord{
		Person: account.Person{
			ID: r.ID, Username: r.Username, Email: emptyIfNull(r.Email), EmailVerified: r.EmailVerified,
			Name: r.Name, Tenant: r.Tenant, Groups: decodeList(r.GroupsJSON), Roles: decodeList(r.RolesJSON),
			IsAdmin: r.IsAdmin, InboxChannel: r.InboxChannel, HasPassword: r.PasswordHash != nil,
			CreatedAt: unixTime(r.CreatedAt), UpdatedAt: unixTime(r.UpdatedAt), Disabled: r.DisabledAt != nil,
		},
		PasswordHash: emptyIfNull(r.PasswordHash),
		DisabledAt:   unixTimePtr(r.DisabledAt),
	}
}

// personConflict tells a taken email from a taken username by the name
// of the violated index in the driver's message (never shown).
func personConflict(op string, err error) error {
	err = wrap(op, err)
	if !errors.Is(err, ErrConflict) {
		return err
	}
	if strings.Contains(err.(*Error).Cause(), "email") {
		return account.ErrEmailTaken
	}
	return account.ErrUsernameTaken
}

// InsertPerson stores a new person.
func (s *Store) InsertPerson(ctx context.Context, p account.PersonRecord) error {
	r := newPersonRow(p)
	return personConflict("create person", s.stmt(ctx).Create(&r).Error)
}

// SavePerson writes a person's mutable fields.
func (s *Store) SavePerson(ctx context.Context, p account.PersonRecord) error {
	r := newPersonRow(p)
	res := s.stmt(ctx).Model(&personRow{}).Where("id = ?", p.ID).Updates(map[string]any{
		"name": r.Name, "email": r.Email, "email_verified": r.EmailVerified, "tenant": r.Tenant,
		"groups_json": r.GroupsJSON, "roles_json": r.RolesJSON, "is_admin": r.IsAdmin,
		"inbox_channel": r.InboxChannel, "disabled_at": r.DisabledAt, "updated_at": r.UpdatedAt,
	})
	if res.Error != nil {
		if err := personConflict("update person", res.Error); errors.Is(err, account.ErrUsernameTaken) {
			return account.ErrEmailTaken // the username is not among the fields written
		} else {
			return err
		}
	}
	if res.RowsAffected == 0 {
		return &Error{Op: "update person", Kind: ErrNotFound}
	}
	return nil
}

func (s *Store) personWhere(ctx context.Context, where string, arg any) (*account.PersonRecord, error) {
	var r personRow
	if err := s.stmt(ctx).Where(where, arg).Take(&r).Error; err != nil {
		return nil, wrap("get person", err)
	}
	return r.record(), nil
}

// PersonByID returns a person, or ErrNotFound.
func (s *Store) PersonByID(ctx context.Context, id string) (*account.PersonRecord, error) {
	return s.personWhere(ctx, "id = ?", id)
}

// PersonByUsername returns a person by their (lowercase) username, or
// ErrNotFound.
func (s *Store) PersonByUsername(ctx context.Context, username string) (*account.PersonRecord, error) {
	return s.personWhere(ctx, "username = ?", username)
}

// Persons lists every person by username.
func (s *Store) Persons(ctx context.Context) ([]account.PersonRecord, error) {
	var rs []personRow
	if err := s.stmt(ctx).Order("username").Find(&rs).Error; err != nil {
		return nil, wrap("list persons", err)
	}
	out := make([]account.PersonRecord, 0, len(rs))
	for i := range rs {
		out = append(out, *rs[i].record())
	}
	return out, nil
}

// CountPersons counts persons, disabled ones included.
func (s *Store) CountPersons(ctx context.Context) (int64, error) {
	var n int64
	return n, wrap("count persons", s.stmt(ctx).Model(&personRow{}).Count(&n).Error)
}

// EnabledAdmins returns the enabled administrators' ids. On PostgreSQL it
// locks their rows for the transaction (SQLite transactions are already
// serialised by BEGIN IMMEDIATE).
func (s *Store) EnabledAdmins(ctx context.Context) ([]string, error) {
	q := `SELECT id FROM persons WHERE is_admin = ? AND disabled_at IS NULL ORDER BY id`
	if s.dialect == DialectPostgres && s.inTx() {
		q += ` FOR UPDATE`
	}
	ids := []string{}
	return ids, wrap("list administrators", s.stmt(ctx).Raw(q, true).Scan(&ids).Error)
}

// SetPasswordHash replaces a person's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string, at time.Time) error {
	res := s.stmt(ctx).Exec(`UPDATE persons SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, at.Unix(), id)
	if res.Error != nil {
		return wrap("set password", res.Error)
	}
	if res.RowsAffected == 0 {
		return &Error{Op: "set password", Kind: ErrNotFound}
	}
	return nil
}

// ReplacePasswordHash swaps old for hash while old is still stored.
func (s *Store) ReplacePasswordHash(ctx context.Context, id, old, hash string) (bool, error) {
	res := s.stmt(ctx).Exec(`UPDATE persons SET password_hash = ? WHERE id = ? AND password_hash = ?`, hash, id, old)
	return res.RowsAffected == 1, wrap("rehash password", res.Error)
}

type inviteRow struct {
	TokenHash  string  `gorm:"column:token_hash;primaryKey"`
	CreatedBy  *string `gorm:"column:created_by"`
	Email      *string `gorm:"column:email"`
	IsAdmin    bool    `gorm:"column:is_admin"`
	CreatedAt  int64   `gorm:"column:created_at"`
	ExpiresAt  int64   `gorm:"column:expires_at"`
	RedeemedAt *int64  `gorm:"column:redeemed_at"`
	RedeemedBy *string `gorm:"column:redeemed_by"`
}

func (inviteRow) TableName() string { return "invites" }

// InsertInvite stores an invitation.
func (s *Store) InsertInvite(ctx context.Context, inv account.InviteRecord) error {
	r := inviteRow{TokenHash: inv.TokenHash, CreatedBy: nullIfEmpty(inv.CreatedBy), Email: nullIfEmpty(inv.Email),
		IsAdmin: inv.IsAdmin, CreatedAt: inv.CreatedAt.Unix(), ExpiresAt: inv.ExpiresAt.Unix()}
	return wrap("create invite", s.stmt(ctx).Create(&r).Error)
}

// UsableInvite returns an invitation neither redeemed nor expired at now.
func (s *Store) UsableInvite(ctx context.Context, tokenHash string, now time.Time) (*account.Invite, error) {
	var r inviteRow
	err := s.stmt(ctx).Where("token_hash = ? AND redeemed_at IS NULL AND expires_at > ?", tokenHash, now.Unix()).Take(&r).Error
	if err != nil {
		return nil, wrap("get invite", err)
	}
	return &account.Invite{CreatedBy: emptyIfNull(r.CreatedBy), Email: emptyIfNull(r.Email), IsAdmin: r.IsAdmin,
		CreatedAt: unixTime(r.CreatedAt), ExpiresAt: unixTime(r.ExpiresAt)}, nil
}

// ClaimInvite marks a usable invitation redeemed. On PostgreSQL a second
// concurrent claim waits for the first transaction, then finds it used.
func (s *Store) ClaimInvite(ctx context.Context, tokenHash string, now time.Time) (bool, error) {
	res := s.stmt(ctx).Exec(`UPDATE invites SET redeemed_at = ? WHERE token_hash = ? AND redeemed_at IS NULL AND expires_at > ?`,
		now.Unix(), tokenHash, now.Unix())
	return res.RowsAffected == 1, wrap("redeem invite", res.Error)
}

// OpenInvites lists the invitations neither redeemed nor expired at now,
// newest first, at most limit.
func (s *Store) OpenInvites(ctx context.Context, now time.Time, limit int) ([]account.InviteRecord, error) {
	var rows []inviteRow
	err := s.stmt(ctx).Where("redeemed_at IS NULL AND expires_at > ?", now.Unix()).
		Order("created_at DESC, token_hash").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, wrap("list invites", err)
	}
	out := make([]account.InviteRecord, len(rows))
	for i, r := range rows {
		out[i] = account.InviteRecord{TokenHash: r.TokenHash, Invite: account.Invite{CreatedBy: emptyIfNull(r.CreatedBy),
			Email: emptyIfNull(r.Email), IsAdmin: r.IsAdmin, CreatedAt: unixTime(r.CreatedAt), ExpiresAt: unixTime(r.ExpiresAt)}}
	}
	return out, nil
}

// DeleteInvite deletes an unredeemed invitation (a redeemed one stays, as
// the record of who joined through it).
func (s *Store) DeleteInvite(ctx context.Context, tokenHash string) (bool, error) {
	res := s.stmt(ctx).Exec(`DELETE FROM invites WHERE token_hash = ? AND redeemed_at IS NULL`, tokenHash)
	return res.RowsAffected == 1, wrap("revoke invite", res.Error)
}

// SetInviteRedeemer records who redeemed an invitation.
func (s *Store) SetInviteRedeemer(ctx context.Context, tokenHash, personID string) error {
	return wrap("redeem invite", s.stmt(ctx).Exec(`UPDATE invites SET redeemed_by = ? WHERE token_hash = ?`,
		personID, tokenHash).Error)
}
