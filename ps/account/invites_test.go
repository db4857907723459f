package account_test

import (
	"fmt"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

func TestInvites(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st)
		ctx := t.Context()
		admin := mustPerson(t, s, "admin", true)

		tok, exp, err := s.CreateInvite(ctx, admin.ID, "New.Admin@example.org", true)
		require.NoError(t, err)
		assert.True(t, account.WellFormedToken(tok))
		assert.Equal(t, clk.Now().Add(account.DefaultInviteTTL), exp)
		assert.Zero(t, countRows(t, st, "invites", "token_hash = ?", tok), "only the hash is stored")
		assert.EqualValues(t, 1, countRows(t, st, "invites", "token_hash = ?", account.TokenHash(tok)))

		inv, err := s.InviteInfo(ctx, tok)
		require.NoError(t, err)
		assert.Equal(t, &account.Invite{CreatedBy: admin.ID, Email: "New.Admin@example.org", IsAdmin: true,
			CreatedAt: clk.Now(), ExpiresAt: exp}, inv)

		// A failing redemption leaves the invite usable.
		_, err = s.RedeemInvite(ctx, tok, account.NewPerson{Username: "carol"})
		assert.ErrorIs(t, err, account.ErrWeakPassword)
		_, err = s.RedeemInvite(ctx, tok, account.NewPerson{Username: "carol", Password: "short"})
		assert.ErrorIs(t, err, account.ErrWeakPassword)
		_, err = s.RedeemInvite(ctx, tok, account.NewPerson{Username: "ADMIN", Password: goodPassword})
		assert.ErrorIs(t, err, account.ErrUsernameTaken)
		_, err = s.RedeemInvite(ctx, tok, account.NewPerson{Username: "x", Password: goodPassword})
		assert.ErrorIs(t, err, account.ErrInvalidUsername)
		_, err = s.InviteInfo(ctx, tok)
		require.NoError(t, err)

		// Only username, name, email and password come from the invitee;
		// the invite's email and admin flag win.
		clk.Advance(time.Hour)
		p, err := s.RedeemInvite(ctx, tok, account.NewPerson{
			Username: "Carol", Name: "Carol", Email: "other@example.org", Password: goodPassword,
			IsAdmin: false, Tenant: "evil", Groups: []string{"root"}, Roles: []string{"superuser"},
		})
		require.NoError(t, err)
		assert.Equal(t, "carol", p.Username)
		assert.Equal(t, "New.Admin@example.org", p.Email)
		assert.True(t, p.IsAdmin)
		assert.Equal(t, "", p.Tenant)
		assert.Empty(t, p.Groups)
		assert.Empty(t, p.Roles)
		_, err = s.Authenticate(ctx, "carol", goodPassword, "")
		require.NoError(t, err)
		var row redeemedInvite
		storetest.Scan(t, st, &row, `SELECT redeemed_at, redeemed_by FROM invites WHERE token_hash = ?`, account.TokenHash(tok))
		require.NotNil(t, row.RedeemedBy)
		assert.Equal(t, p.ID, *row.RedeemedBy)
		assert.Equal(t, clk.Now().Unix(), *row.RedeemedAt)

		// Single use.
		_, err = s.InviteInfo(ctx, tok)
		assert.ErrorIs(t, err, account.ErrInviteInvalid)
		_, err = s.RedeemInvite(ctx, tok, account.NewPerson{Username: "dave", Password: goodPassword})
		assert.ErrorIs(t, err, account.ErrInviteInvalid)

		// Operator invite without email; the invitee picks one.
		tok2, _, err := s.CreateInvite(ctx, "", "", false)
		require.NoError(t, err)
		inv, err = s.InviteInfo(ctx, tok2)
		require.NoError(t, err)
		assert.Equal(t, "", inv.CreatedBy)
		p, err = s.RedeemInvite(ctx, tok2, account.NewPerson{Username: "dave", Email: "dave@example.org", Password: goodPassword})
		require.NoError(t, err)
		assert.Equal(t, "dave@example.org", p.Email)
		assert.False(t, p.IsAdmin)

		// Expiry, exactly at expires_at.
		tok3, exp3, err := s.CreateInvite(ctx, admin.ID, "", false)
		require.NoError(t, err)
		clk.Advance(exp3.Sub(clk.Now()) - time.Second)
		_, err = s.InviteInfo(ctx, tok3)
		require.NoError(t, err)
		clk.Advance(time.Second)
		_, err = s.InviteInfo(ctx, tok3)
		assert.ErrorIs(t, err, account.ErrInviteInvalid)
		_, err = s.RedeemInvite(ctx, tok3, account.NewPerson{Username: "erin", Password: goodPassword})
		assert.ErrorIs(t, err, account.ErrInviteInvalid)

		for _, bad := range []string{"", "garbage", account.RandomToken()} {
			_, err = s.InviteInfo(ctx, bad)
			assert.ErrorIs(t, err, account.ErrInviteInvalid)
			_, err = s.RedeemInvite(ctx, bad, account.NewPerson{Username: "erin", Password: goodPassword})
			assert.ErrorIs(t, err, account.ErrInviteInvalid)
		}

		_, _, err = s.CreateInvite(ctx, "nope", "", false)
		assert.ErrorIs(t, err, account.ErrNotFound)
		_, _, err = s.CreateInvite(ctx, admin.ID, "not an email", false)
		assert.ErrorIs(t, err, account.ErrInvalidEmail)
	})
}

func TestInviteConcurrentRedemption(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := newTestService(t, st)
		ctx := t.Context()
		for _, sameName := range []bool{false, true} {
			tok, _, err := s.CreateInvite(ctx, "", "", false)
			require.NoError(t, err)
			const n = 8
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				wins []*account.Person
				errs []error
			)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					name := fmt.Sprintf("racer%d-%v", i, sameName)
					if sameName {
						name = "racer-same"
					}
					<-start
					p, err := s.RedeemInvite(ctx, tok, account.NewPerson{Username: name, Password: goodPassword})
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						wins = append(wins, p)
					} else {
						errs = append(errs, err)
					}
				})
			}
			close(start)
			wg.Wait()
			require.Len(t, wins, 1, "exactly one redemption wins (same username: %v); errors: %v", sameName, errs)
			for _, err := range errs {
				assert.ErrorIs(t, err, account.ErrInviteInvalid, "every loser is told the invite is used")
			}
			var row redeemedInvite
			storetest.Scan(t, st, &row, `SELECT redeemed_at, redeemed_by FROM invites WHERE token_hash = ?`, account.TokenHash(tok))
			require.NotNil(t, row.RedeemedBy)
			assert.Equal(t, wins[0].ID, *row.RedeemedBy)
		}
		c, err := s.CountPersons(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 2, c, "one person per invite, no orphans")
	})
}

// redeemedInvite reads what an invite row says about its redemption.
type redeemedInvite struct {
	RedeemedAt *int64  `gorm:"column:redeemed_at"`
	RedeemedBy *string `gorm:"column:redeemed_by"`
}
