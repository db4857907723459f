package account

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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

// prepare validates np and builds its record (hashing the password, the
// slow part, before any transaction starts).
func (s *Service) prepare(np NewPerson) (*PersonRecord, error) {
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
	now := s.now().Truncate(time.Second).UTC()
	r := &PersonRecord{Person: Person{
		ID: newID(), Username: username, Email: email, Name: name, Tenant: tenant,
		Groups: groups, Roles: roles, IsAdmin: np.IsAdmin, CreatedAt: now, UpdatedAt: now,
	}}
	if np.Password != "" {
		if err := checkPassword(np.Password, username, email); err != nil {
			return nil, err
		}
		h, err := s.gate.hash(np.Password, s.opts.Argon2)
		if err != nil {
			return nil, err
		}
		r.PasswordHash, r.HasPassword = h, true
	}
	return r, nil
}

// CreatePerson validates and stores a new person. Errors:
// ErrInvalidUsername, ErrInvalidEmail, ErrInvalidField, ErrWeakPassword
// (only when a password is given), ErrUsernameTaken, ErrEmailTaken.
func (s *Service) CreatePerson(ctx context.Context, np NewPerson) (*Person, error) {
	pp, err := s.PreparePerson(np)
	if err != nil {
		return nil, err
	}
	return s.InsertPerson(ctx, pp)
}

// PreparedPerson is a validated new person whose password is hashed,
// ready for InsertPerson.
type PreparedPerson struct{ r *PersonRecord }

// PreparePerson validates np and hashes its password, touching no
// storage: callers that create a person inside a transaction (with its
// audit row) prepare first, so the slow argon2 hash never holds a
// transaction (on SQLite, the one writer) open. Errors as CreatePerson's
// validation ones.
func (s *Service) PreparePerson(np NewPerson) (*PreparedPerson, error) {
	r, err := s.prepare(np)
	if err != nil {
		return nil, err
	}
	return &PreparedPerson{r: r}, nil
}

// InsertPerson stores a prepared person. Errors: ErrUsernameTaken,
// ErrEmailTaken.
func (s *Service) InsertPerson(ctx context.Context, pp *PreparedPerson) (*Person, error) {
	if err := s.st.InsertPerson(ctx, *pp.r); err != nil {
		return nil, err
	}
	p := pp.r.Person
	return &p, nil
}

// record returns the stored person id; ErrNotFound.
func (s *Service) record(ctx context.Context, id string) (*PersonRecord, error) {
	r, err := s.st.PersonByID(ctx, id)
	return r, notFound(err, ErrNotFound)
}

// Person returns the person with id, disabled or not. ErrNotFound.
func (s *Service) Person(ctx context.Context, id string) (*Person, error) {
	r, err := s.record(ctx, id)
	if err != nil {
		return nil, err
	}
	return &r.Person, nil
}

// PersonByUsername returns the person with username (any case).
// ErrNotFound.
func (s *Service) PersonByUsername(ctx context.Context, username string) (*Person, error) {
	u, err := NormalizeUsername(username)
	if err != nil {
		return nil, ErrNotFound
	}
	r, err := s.st.PersonByUsername(ctx, u)
	if err != nil {
		return nil, notFound(err, ErrNotFound)
	}
	return &r.Person, nil
}

// ListPersons returns every person, disabled ones included, by username.
func (s *Service) ListPersons(ctx context.Context) ([]Person, error) {
	rs, err := s.st.Persons(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Person, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Person)
	}
	return out, nil
}

// CountPersons counts persons, disabled ones included (0: first start, time
// to create the first administrator).
func (s *Service) CountPersons(ctx context.Context) (int64, error) { return s.st.CountPersons(ctx) }

// HasEnabledAdmin reports whether an enabled administrator exists (false:
// nobody can administer the PS yet; the operator runs "aauth-ps admin
// invite").
func (s *Service) HasEnabledAdmin(ctx context.Context) (bool, error) {
	ids, err := s.st.EnabledAdmins(ctx)
	return len(ids) > 0, err
}

// UpdatePerson applies u to the person id and returns the result. Errors:
// ErrNotFound, ErrInvalidEmail, ErrInvalidField, ErrEmailTaken, and
// ErrLastAdmin when the change would leave no enabled administrator.
// Disabling a person also ends their sessions, in the same transaction.
func (s *Service) UpdatePerson(ctx context.Context, id string, u PersonUpdate) (*Person, error) {
	var out *Person
	err := s.st.InAccountTx(ctx, func(tx Store) error {
		ts := s.WithStore(tx)
		cur, err := ts.record(ctx, id)
		if err != nil {
			return err
		}
		next, err := s.applyUpdate(*cur, u)
		if err != nil {
			return err
		}
		losesAdmin := cur.IsAdmin && !cur.Disabled && (!next.IsAdmin || next.Disabled)
		if losesAdmin {
			if err := ts.checkOtherAdmin(ctx, id); err != nil {
				return err
			}
		}
		if err := tx.SavePerson(ctx, next); err != nil {
			return notFound(err, ErrNotFound)
		}
		if next.Disabled && !cur.Disabled {
			if err := tx.DeletePersonSessions(ctx, id); err != nil {
				return err
			}
		}
		out = &next.Person
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// applyUpdate validates u and returns cur with it applied.
func (s *Service) applyUpdate(cur PersonRecord, u PersonUpdate) (PersonRecord, error) {
	next := cur
	if u.Name != nil {
		v := strings.TrimSpace(*u.Name)
		if err := checkText("name", v, MaxNameLength); err != nil {
			return cur, err
		}
		next.Name = v
	}
	if u.Tenant != nil {
		v := strings.TrimSpace(*u.Tenant)
		if err := checkText("tenant", v, MaxNameLength); err != nil {
			return cur, err
		}
		next.Tenant = v
	}
	if u.Email != nil {
		v, err := normalizeEmail(*u.Email)
		if err != nil {
			return cur, err
		}
		next.Email, next.EmailVerified = v, false
	}
	if u.EmailVerified != nil {
		next.EmailVerified = *u.EmailVerified
	}
	if u.Groups != nil {
		v, err := normalizeLabels("groups", *u.Groups)
		if err != nil {
			return cur, err
		}
		next.Groups = v
	}
	if u.Roles != nil {
		v, err := normalizeLabels("roles", *u.Roles)
		if err != nil {
			return cur, err
		}
		next.Roles = v
	}
	if u.IsAdmin != nil {
		next.IsAdmin = *u.IsAdmin
	}
	if u.InboxChannel != nil {
		next.InboxChannel = *u.InboxChannel
	}
	now := s.now().Truncate(time.Second).UTC()
	if u.Disabled != nil && *u.Disabled != cur.Disabled {
		next.Disabled = *u.Disabled
		next.DisabledAt = nil
		if next.Disabled {
			next.DisabledAt = &now
		}
	}
	next.UpdatedAt = now
	return next, nil
}

// checkOtherAdmin returns ErrLastAdmin unless an enabled administrator other
// than id exists. Inside UpdatePerson's transaction the store locks the
// administrators' rows, so two concurrent demotions cannot both pass.
func (s *Service) checkOtherAdmin(ctx context.Context, id string) error {
	ids, err := s.st.EnabledAdmins(ctx)
	if err != nil {
		return err
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
	r, err := s.record(ctx, id)
	if err != nil {
		return "", err
	}
	if err := checkPassword(newPassword, r.Username, r.Email); err != nil {
		return "", err
	}
	return s.gate.hash(newPassword, s.opts.Argon2)
}

func (s *Service) storePasswordHash(ctx context.Context, id, h string) error {
	return notFound(s.st.SetPasswordHash(ctx, id, h, s.now()), ErrNotFound)
}
