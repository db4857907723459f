package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/aauth-ps/aauth-ps/ps/account"
)

// DevUsername is the development person `make run` prints a login for.
const DevUsername = "dev"

// EnsureDevLogin (development mode only) makes sure an administrator
// "dev" exists with the password kept in the data directory (0600), and
// returns the login to print. The password is generated once.
func (a *App) EnsureDevLogin(ctx context.Context) (username, password string, err error) {
	if !a.Config.Dev {
		return "", "", errors.New("the development login exists only in --dev mode")
	}
	path := filepath.Join(a.Config.DataDir(), "dev-login")
	if b, err := os.ReadFile(path); err == nil {
		password = strings.TrimSpace(string(b))
	}
	if len(password) < 16 {
		raw := make([]byte, 15)
		if _, err := rand.Read(raw); err != nil {
			return "", "", err
		}
		password = base64.RawURLEncoding.EncodeToString(raw)
		if err := os.MkdirAll(a.Config.DataDir(), 0o700); err != nil {
			return "", "", err
		}
		if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
			return "", "", err
		}
	}
	p, err := a.Accounts.PersonByUsername(ctx, DevUsername)
	switch {
	case errors.Is(err, account.ErrNotFound):
		_, err = a.Accounts.CreatePerson(ctx, account.NewPerson{
			Username: DevUsername, Name: "Development Person", Email: "dev@localhost.test", Password: password, IsAdmin: true,
		})
	case err == nil:
		err = a.Accounts.SetPassword(ctx, p.ID, password)
	}
	if err != nil {
		return "", "", err
	}
	return DevUsername, password, nil
}
