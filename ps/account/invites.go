package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Invite is what an invite token grants: a new account, as an administrator
// when IsAdmin, with Email preset when not "".
type Invite struct {
	CreatedBy string // person ID; "" when the operator made it (CLI)
	Email     string
	IsAdmin   bool
	CreatedAt time.Time
	ExpiresAt time.Time
}

type inviteModel struct {
	TokenHash  string  `gorm:"column:token_hash;primaryKey"`
	CreatedBy  *string `gorm:"column:created_by"`
	Email      *string `gorm:"column:email"`
	IsAdmin    bool    `gorm:"column:is_admin"`
	Created    int64   `gorm:"column:created_at"`
	Expires    int64   `gorm:"column:expires_at"`
	RedeemedAt *int64  `gorm:"column:redeemed_at"`
	RedeemedBy *string `gorm:"column:redeemed_by"`
}

func (inviteModel) TableName() string { return "invites" }

func (m *inviteModel) invite() *Invite {
	inv := &Invite{IsAdmin: m.IsAdmin, CreatedAt: fromUnix(m.Created), ExpiresAt: fromUnix(m.Expires)}
	if m.CreatedBy != nil {
		inv.CreatedBy = *m.CreatedBy
	}
	if m.Email != nil {
		inv.Email = *m.Email
	}
	return inv
}

// CreateInvite makes a single-use invite valid for Options.InviteTTL and
// returns its token (256-bit random, base64url; shown once, stored hashed).
// createdBy is the inviting person's ID, or "" for the operator; email is
// optional and becomes the new person's email. Errors: ErrNotFound (no such
// createdBy), ErrInvalidEmail.
func (s *Service) CreateInvite(ctx context.Context, createdBy, email string, isAdmin bool) (string, time.Time, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	m := inviteModel{IsAdmin: isAdmin, Created: now.Unix(), Expires: now.Add(s.opts.InviteTTL).Unix()}
	if createdBy != "" {
		if _, err := s.personRow(ctx, "create invite", "id = ?", createdBy); err != nil {
			return "", time.Time{}, err
		}
		m.CreatedBy = &createdBy
	}
	if email != "" {
		m.Email = &email
	}
	token := randomToken()
	m.TokenHash = tokenHash(token)
	if err := s.db(ctx).Create(&m).Error; err != nil {
		return "", time.Time{}, dbErr("create invite", err)
	}
	return token, fromUnix(m.Expires), nil
}

// InviteInfo returns what a still-usable invite grants, for the sign-up
// page. ErrInviteInvalid for a malformed, unknown, expired or redeemed
// token, alike.
func (s *Service) InviteInfo(ctx context.Context, token string) (*Invite, error) {
	if !wellFormedToken(token) {
		return nil, ErrInviteInvalid
	}
	var m inviteModel
	err := s.db(ctx).Where("token_hash = ? AND redeemed_at IS NULL AND expires_at > ?",
		tokenHash(token), s.now().Unix()).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrInviteInvalid
	}
	if err != nil {
		return nil, dbErr("get invite", err)
	}
	return m.invite(), nil
}

// RedeemInvite creates the invited person and uses the invite up, in one
// transaction: of two concurrent redemptions exactly one succeeds, the
// other gets ErrInviteInvalid. From np only Username, Name, Email and
// Password are used (a password is required): IsAdmin comes from the
// invite, the invite's email (when set) replaces np.Email, and Tenant,
// Groups and Roles start empty for an administrator to set. Errors: those
// of CreatePerson, ErrWeakPassword for a missing password, and
// ErrInviteInvalid; on any error the invite stays usable (unless redeemed
// by someone else).
func (s *Service) RedeemInvite(ctx context.Context, token string, np NewPerson) (*Person, error) {
	inv, err := s.InviteInfo(ctx, token)
	if err != nil {
		return nil, err
	}
	if np.Password == "" {
		return nil, fmt.Errorf("%w: a password is required", ErrWeakPassword)
	}
	np = NewPerson{Username: np.Username, Name: np.Name, Email: np.Email, Password: np.Password, IsAdmin: inv.IsAdmin}
	if inv.Email != "" {
		np.Email = inv.Email
	}
	m, err := s.prepare(np) // hashes: outside the transaction
	if err != nil {
		return nil, err
	}
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		ts := s.WithStore(tx)
		db := tx.DB().WithContext(ctx)
		// Claim first: the loser of a race stops here, whatever username
		// it chose. On PostgreSQL the second UPDATE waits for the first
		// transaction and then sees redeemed_at set.
		res := db.Exec(`UPDATE invites SET redeemed_at = ? WHERE token_hash = ? AND redeemed_at IS NULL AND expires_at > ?`,
			s.now().Unix(), tokenHash(token), s.now().Unix())
		if res.Error != nil {
			return dbErr("redeem invite", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrInviteInvalid
		}
		if err := ts.insertPerson(ctx, m); err != nil {
			return err
		}
		return dbErr("redeem invite", db.Exec(`UPDATE invites SET redeemed_by = ? WHERE token_hash = ?`,
			m.ID, tokenHash(token)).Error)
	})
	if err != nil {
		return nil, err
	}
	return m.person(), nil
}
