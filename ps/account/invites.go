package account

import (
	"context"
	"fmt"
	"time"
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
	if createdBy != "" {
		if _, err := s.record(ctx, createdBy); err != nil {
			return "", time.Time{}, err
		}
	}
	now := s.now().Truncate(time.Second).UTC()
	token := randomToken()
	inv := InviteRecord{TokenHash: tokenHash(token), Invite: Invite{CreatedBy: createdBy, Email: email, IsAdmin: isAdmin,
		CreatedAt: now, ExpiresAt: now.Add(s.opts.InviteTTL).Truncate(time.Second)}}
	if err := s.st.InsertInvite(ctx, inv); err != nil {
		return "", time.Time{}, err
	}
	return token, inv.ExpiresAt, nil
}

// InviteInfo returns what a still-usable invite grants, for the sign-up
// page. ErrInviteInvalid for a malformed, unknown, expired or redeemed
// token, alike.
func (s *Service) InviteInfo(ctx context.Context, token string) (*Invite, error) {
	if !wellFormedToken(token) {
		return nil, ErrInviteInvalid
	}
	inv, err := s.st.UsableInvite(ctx, tokenHash(token), s.now())
	return inv, notFound(err, ErrInviteInvalid)
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
	r, err := s.prepare(np) // hashes: outside the transaction
	if err != nil {
		return nil, err
	}
	hash := tokenHash(token)
	err = s.st.InAccountTx(ctx, func(tx Store) error {
		// Claim first: the loser of a race stops here, whatever username
		// it chose.
		claimed, err := tx.ClaimInvite(ctx, hash, s.now())
		if err != nil {
			return err
		}
		if !claimed {
			return ErrInviteInvalid
		}
		if err := tx.InsertPerson(ctx, *r); err != nil {
			return err
		}
		return tx.SetInviteRedeemer(ctx, hash, r.ID)
	})
	if err != nil {
		return nil, err
	}
	return &r.Person, nil
}

// maxListedInvites bounds the administrators' list of open invitations.
const maxListedInvites = 200

// OpenInvites lists the invitations still usable, newest first (issue 9
// item 10). Each is named by its TokenHash: the token itself is not kept,
// so a lost link cannot be shown again, only revoked and replaced.
func (s *Service) OpenInvites(ctx context.Context) ([]InviteRecord, error) {
	return s.st.OpenInvites(ctx, s.now(), maxListedInvites)
}

// RevokeInvite makes an unredeemed invitation unusable, by its TokenHash.
// ErrInviteInvalid when there is no such unredeemed invitation.
func (s *Service) RevokeInvite(ctx context.Context, tokenHash string) error {
	if len(tokenHash) != 64 {
		return ErrInviteInvalid
	}
	ok, err := s.st.DeleteInvite(ctx, tokenHash)
	if err != nil {
		return err
	}
	if !ok {
		return ErrInviteInvalid
	}
	return nil
}
