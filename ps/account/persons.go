package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Field limits.
const (
	MaxNameLength   = 200 // characters, for Name and Tenant
	MaxLabelLength  = 128 // characters, for one group or role
	MaxLabels       = 100 // groups or roles per person
	maxEmailLength  = 254
	usernamePattern = `^[a-z0-9._-]{3,64}$`
)

var usernameRE = regexp.MustCompile(usernamePattern)

// Person is a person this PS serves. Email is "" when the person has none.
// Name, Email/EmailVerified, Tenant, Groups and Roles are the sources of the
// A-42 identity claims of the same names; Tenant is organisational context,
// never part of the person's identifier. ID is random and never changes.
type Person struct {
	ID            string
	Username      string // lowercase
	Email         string
	EmailVerified bool
	Name          string
	Tenant        string
	Groups        []string // never nil
	Roles         []string // never nil
	IsAdmin       bool
	InboxChannel  bool // agents may reach the person through the PS inbox
	HasPassword   bool // false: the person logs in with passkeys only
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Disabled      bool
}

// NewPerson is the input of CreatePerson and RedeemInvite. Password may be
// empty in CreatePerson (a passkey-only person, or one an admin sets up
// later); RedeemInvite requires it.
type NewPerson struct {
	Username string // lowercased before validation
	Email    string // optional
	Name     string
	Password string
	IsAdmin  bool
	Tenant   string
	Groups   []string
	Roles    []string
}

// PersonUpdate changes the non-nil fields. Setting Email resets
// EmailVerified to false unless EmailVerified is set too; an empty Email
// removes it. Setting Disabled to true ends all the person's sessions.
type PersonUpdate struct {
	Name          *string
	Email         *string
	EmailVerified *bool
	Tenant        *string
	Groups        *[]string
	Roles         *[]string
	IsAdmin       *bool
	InboxChannel  *bool
	Disabled      *bool
}

// personModel is the gorm mapping of persons. Field names avoid gorm's
// CreatedAt/UpdatedAt conventions on purpose (times are unix seconds).
type personModel struct {
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
	Created       int64   `gorm:"column:created_at"`
	Updated       int64   `gorm:"column:updated_at"`
	DisabledAt    *int64  `gorm:"column:disabled_at"`
}

func (personModel) TableName() string { return "persons" }

func (m *personModel) person() *Person {
	p := &Person{
		ID: m.ID, Username: m.Username, EmailVerified: m.EmailVerified, Name: m.Name,
		Tenant: m.Tenant, IsAdmin: m.IsAdmin, InboxChannel: m.InboxChannel,
		HasPassword: m.PasswordHash != nil, CreatedAt: fromUnix(m.Created),
		UpdatedAt: fromUnix(m.Updated), Disabled: m.DisabledAt != nil,
		Groups: decodeLabels(m.GroupsJSON), Roles: decodeLabels(m.RolesJSON),
	}
	if m.Email != nil {
		p.Email = *m.Email
	}
	return p
}

func decodeLabels(s string) []string {
	var out []string
	if json.Unmarshal([]byte(s), &out) != nil || out == nil {
		return []string{}
	}
	return out
}

func encodeLabels(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// NormalizeUsername lowercases and trims u and checks it is 3 to 64
// characters of [a-z0-9._-]; otherwise ErrInvalidUsername.
func NormalizeUsername(u string) (string, error) {
	u = strings.ToLower(strings.TrimSpace(u))
	if !usernameRE.MatchString(u) {
		return "", ErrInvalidUsername
	}
	return u, nil
}

// normalizeEmail trims e; "" stays "" (no email). It must be a bare address.
func normalizeEmail(e string) (string, error) {
	e = strings.TrimSpace(e)
	if e == "" {
		return "", nil
	}
	if len(e) > maxEmailLength {
		return "", ErrInvalidEmail
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", ErrInvalidEmail
	}
	return e, nil
}

// checkText accepts printable text of at most max characters.
func checkText(field, v string, max int) error {
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > max {
		return fmt.Errorf("%w: %s is longer than %d characters", ErrInvalidField, field, max)
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: %s contains control characters", ErrInvalidField, field)
	}
	return nil
}

// normalizeLabels trims, drops empties and duplicates (keeping order) and
// checks each group or role.
func normalizeLabels(field string, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, l := range in {
		l = strings.TrimSpace(l)
		if l == "" || slices.Contains(out, l) {
			continue
		}
		if err := checkText(field, l, MaxLabelLength); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	if len(out) > MaxLabels {
		return nil, fmt.Errorf("%w: more than %d %s", ErrInvalidField, MaxLabels, field)
	}
	return out, nil
}

// prepare validates np and builds its row (hashing the password, the slow
// part, before any transaction starts).
func (s *Service) prepare(np NewPerson) (*personModel, error) {
	username, err := NormalizeUsername(np.Username)
	if err != nil {
		return nil, err
	}
	email, err := normalizeEmail(np.Email)
	if err != nil {
		return nil, err
	}
	name, tenant := strings.TrimSpace(np.Name), strings.TrimSpace(np.Tenant)
	if err := checkText("name", name, MaxNameLength); err != nil {
		return nil, err
	}
	if err := checkText("tenant", tenant, MaxNameLength); err != nil {
		return nil, err
	}
	groups, err := normalizeLabels("groups", np.Groups)
	if err != nil {
		return nil, err
	}
	roles, err := normalizeLabels("roles", np.Roles)
	if err != nil {
		return nil, err
	}
	now := s.now().Unix()
	m := &personModel{
		ID: newID(), Username: username, Name: name, Tenant: tenant,
		GroupsJSON: encodeLabels(groups), RolesJSON: encodeLabels(roles),
		IsAdmin: np.IsAdmin, Created: now, Updated: now,
	}
	if email != "" {
		m.Email = &email
	}
	if np.Password != "" {
		if err := checkPassword(np.Password, username, email); err != nil {
			return nil, err
		}
		h, err := hashPassword(np.Password, s.opts.Argon2)
		if err != nil {
			return nil, err
		}
		m.PasswordHash = &h
	}
	return m, nil
}

// insertPerson inserts m, mapping unique violations to ErrUsernameTaken or
// ErrEmailTaken.
func (s *Service) insertPerson(ctx context.Context, m *personModel) error {
	err := s.db(ctx).Create(m).Error
	if err != nil && isUniqueViolation(err) {
		// The driver's message names the constraint or index; it is not
		// shown, only used to tell the two apart.
		if strings.Contains(err.Error(), "email") {
			return ErrEmailTaken
		}
		return ErrUsernameTaken
	}
	return dbErr("create person", err)
}

// CreatePerson validates and stores a new person. Errors:
// ErrInvalidUsername, ErrInvalidEmail, ErrInvalidField, ErrWeakPassword
// (only when a password is given), ErrUsernameTaken, ErrEmailTaken.
func (s *Service) CreatePerson(ctx context.Context, np NewPerson) (*Person, error) {
	m, err := s.prepare(np)
	if err != nil {
		return nil, err
	}
	if err := s.insertPerson(ctx, m); err != nil {
		return nil, err
	}
	return m.person(), nil
}

func (s *Service) personRow(ctx context.Context, op, where string, arg any) (*personModel, error) {
	var m personModel
	err := s.db(ctx).Where(where, arg).Take(&m).Error
	if err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		}
		return nil, dbErr(op, err)
	}
	return &m, nil
}

// Person returns the person with id, disabled or not. ErrNotFound.
func (s *Service) Person(ctx context.Context, id string) (*Person, error) {
	m, err := s.personRow(ctx, "get person", "id = ?", id)
	if err != nil {
		return nil, err
	}
	return m.person(), nil
}

// PersonByUsername returns the person with username (any case).
// ErrNotFound.
func (s *Service) PersonByUsername(ctx context.Context, username string) (*Person, error) {
	u, err := NormalizeUsername(username)
	if err != nil {
		return nil, ErrNotFound
	}
	m, err := s.personRow(ctx, "get person", "username = ?", u)
	if err != nil {
		return nil, err
	}
	return m.person(), nil
}

// ListPersons returns every person, disabled ones included, by username.
func (s *Service) ListPersons(ctx context.Context) ([]Person, error) {
	var ms []personModel
	if err := s.db(ctx).Order("username").Find(&ms).Error; err != nil {
		return nil, dbErr("list persons", err)
	}
	out := make([]Person, 0, len(ms))
	for i := range ms {
		out = append(out, *ms[i].person())
	}
	return out, nil
}

// CountPersons counts persons, disabled ones included (0: first start, time
// to create the first administrator).
func (s *Service) CountPersons(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db(ctx).Model(&personModel{}).Count(&n).Error; err != nil {
		return 0, dbErr("count persons", err)
	}
	return n, nil
}

// HasEnabledAdmin reports whether an enabled administrator exists (false:
// nobody can administer the PS yet; the operator runs "aauth-ps admin
// invite").
func (s *Service) HasEnabledAdmin(ctx context.Context) (bool, error) {
	var n int64
	if err := s.db(ctx).Model(&personModel{}).Where("is_admin = ? AND disabled_at IS NULL", true).Count(&n).Error; err != nil {
		return false, dbErr("count administrators", err)
	}
	return n > 0, nil
}

// UpdatePerson applies u to the person id and returns the result. Errors:
// ErrNotFound, ErrInvalidEmail, ErrInvalidField, ErrEmailTaken, and
// ErrLastAdmin when the change would leave no enabled administrator.
// Disabling a person also ends their sessions, in the same transaction.
func (s *Service) UpdatePerson(ctx context.Context, id string, u PersonUpdate) (*Person, error) {
	set := map[string]any{}
	if u.Name != nil {
		v := strings.TrimSpace(*u.Name)
		if err := checkText("name", v, MaxNameLength); err != nil {
			return nil, err
		}
		set["name"] = v
	}
	if u.Tenant != nil {
		v := strings.TrimSpace(*u.Tenant)
		if err := checkText("tenant", v, MaxNameLength); err != nil {
			return nil, err
		}
		set["tenant"] = v
	}
	if u.Email != nil {
		v, err := normalizeEmail(*u.Email)
		if err != nil {
			return nil, err
		}
		if v == "" {
			set["email"] = nil
		} else {
			set["email"] = v
		}
		set["email_verified"] = false
	}
	if u.EmailVerified != nil {
		set["email_verified"] = *u.EmailVerified
	}
	if u.Groups != nil {
		v, err := normalizeLabels("groups", *u.Groups)
		if err != nil {
			return nil, err
		}
		set["groups_json"] = encodeLabels(v)
	}
	if u.Roles != nil {
		v, err := normalizeLabels("roles", *u.Roles)
		if err != nil {
			return nil, err
		}
		set["roles_json"] = encodeLabels(v)
	}
	if u.IsAdmin != nil {
		set["is_admin"] = *u.IsAdmin
	}
	if u.InboxChannel != nil {
		set["inbox_channel"] = *u.InboxChannel
	}
	now := s.now().Unix()
	var out *Person
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		ts := s.WithStore(tx)
		cur, err := ts.personRow(ctx, "update person", "id = ?", id)
		if err != nil {
			return err
		}
		if u.Disabled != nil {
			switch {
			case *u.Disabled && cur.DisabledAt == nil:
				set["disabled_at"] = now
			case !*u.Disabled && cur.DisabledAt != nil:
				set["disabled_at"] = nil
			}
		}
		losesAdmin := cur.IsAdmin && cur.DisabledAt == nil &&
			((u.IsAdmin != nil && !*u.IsAdmin) || (u.Disabled != nil && *u.Disabled))
		if losesAdmin {
			if err := ts.checkOtherAdmin(ctx, id); err != nil {
				return err
			}
		}
		set["updated_at"] = now
		db := tx.DB().WithContext(ctx)
		if err := db.Model(&personModel{}).Where("id = ?", id).Updates(set).Error; err != nil {
			if isUniqueViolation(err) {
				return ErrEmailTaken
			}
			return dbErr("update person", err)
		}
		if _, ok := set["disabled_at"]; ok && *u.Disabled {
			if err := db.Exec(`DELETE FROM sessions WHERE person_id = ?`, id).Error; err != nil {
				return dbErr("end sessions", err)
			}
		}
		m, err := ts.personRow(ctx, "update person", "id = ?", id)
		if err != nil {
			return err
		}
		out = m.person()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkOtherAdmin returns ErrLastAdmin unless an enabled administrator other
// than id exists. On PostgreSQL it locks the administrators' rows, so two
// concurrent demotions cannot both pass (SQLite transactions are already
// serialised by BEGIN IMMEDIATE).
func (s *Service) checkOtherAdmin(ctx context.Context, id string) error {
	q := `SELECT id FROM persons WHERE is_admin = ? AND disabled_at IS NULL`
	if s.st.Dialect() == store.DialectPostgres {
		q += ` FOR UPDATE`
	}
	var ids []string
	if err := s.db(ctx).Raw(q, true).Scan(&ids).Error; err != nil {
		return dbErr("count administrators", err)
	}
	for _, other := range ids {
		if other != id {
			return nil
		}
	}
	return ErrLastAdmin
}

// SetPassword checks newPassword against the policy and stores its hash.
// It does not end the person's sessions: the web UI uses ChangePassword,
// which does. Errors: ErrNotFound, ErrWeakPassword.
func (s *Service) SetPassword(ctx context.Context, id, newPassword string) error {
	h, err := s.newPasswordHash(ctx, id, newPassword)
	if err != nil {
		return err
	}
	return s.storePasswordHash(ctx, id, h)
}

// newPasswordHash checks newPassword against the policy for person id and
// hashes it (the slow part, to do before any transaction starts).
func (s *Service) newPasswordHash(ctx context.Context, id, newPassword string) (string, error) {
	m, err := s.personRow(ctx, "set password", "id = ?", id)
	if err != nil {
		return "", err
	}
	email := ""
	if m.Email != nil {
		email = *m.Email
	}
	if err := checkPassword(newPassword, m.Username, email); err != nil {
		return "", err
	}
	return hashPassword(newPassword, s.opts.Argon2)
}

func (s *Service) storePasswordHash(ctx context.Context, id, h string) error {
	res := s.db(ctx).Exec(`UPDATE persons SET password_hash = ?, updated_at = ? WHERE id = ?`, h, s.now().Unix(), id)
	if res.Error != nil {
		return dbErr("set password", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
