package account_test

import (
	"github.com/aauth-ps/aauth-ps/ps/account"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// The fixtures shared with the package's internal tests (export_test.go).
const (
	testRPID     = account.TestRPID
	testOrigin   = account.TestOrigin
	goodPassword = account.GoodPassword
)

var tinyArgon2 = account.TinyArgon2

// fakeClock is the injected clock; tests move it, nothing sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0).UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testOptions() account.Options {
	return account.Options{Argon2: tinyArgon2, RPID: testRPID, RPOrigins: []string{testOrigin}}
}

// newTestService returns an account.Service on st with tiny argon2 parameters, a
// fake clock and passkeys on, after applying edit to the options.
func newTestService(t *testing.T, st *store.Store, edit ...func(*account.Options)) (*account.Service, *fakeClock) {
	t.Helper()
	clk := newClock()
	opts := testOptions()
	for _, e := range edit {
		e(&opts)
	}
	s, err := account.New(st, clk.Now, opts)
	require.NoError(t, err)
	return s, clk
}

// mustPerson creates a person with goodPassword.
func mustPerson(t *testing.T, s *account.Service, username string, admin bool) *account.Person {
	t.Helper()
	p, err := s.CreatePerson(t.Context(), account.NewPerson{Username: username, Password: goodPassword, IsAdmin: admin})
	require.NoError(t, err)
	return p
}

func countRows(t *testing.T, st *store.Store, table, where string, args ...any) int64 {
	t.Helper()
	return storetest.CountWhere(t, st, table, where, args...)
}

func ptr[T any](v T) *T { return &v }
