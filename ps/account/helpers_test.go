package account

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Test relying party.
const (
	testRPID   = "ps.example.test"
	testOrigin = "https://ps.example.test"
)

// tinyArgon2 keeps hashing fast in tests.
var tinyArgon2 = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

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

func testOptions() Options {
	return Options{Argon2: tinyArgon2, RPID: testRPID, RPOrigins: []string{testOrigin}}
}

// newTestService returns a Service on st with tiny argon2 parameters, a
// fake clock and passkeys on, after applying edit to the options.
func newTestService(t *testing.T, st *store.Store, edit ...func(*Options)) (*Service, *fakeClock) {
	t.Helper()
	clk := newClock()
	opts := testOptions()
	for _, e := range edit {
		e(&opts)
	}
	s, err := New(st, clk.Now, opts)
	require.NoError(t, err)
	return s, clk
}

const goodPassword = "correct horse battery"

// mustPerson creates a person with goodPassword.
func mustPerson(t *testing.T, s *Service, username string, admin bool) *Person {
	t.Helper()
	p, err := s.CreatePerson(t.Context(), NewPerson{Username: username, Password: goodPassword, IsAdmin: admin})
	require.NoError(t, err)
	return p
}

func countRows(t *testing.T, st *store.Store, table, where string, args ...any) int64 {
	t.Helper()
	var n int64
	q := st.DB().WithContext(t.Context()).Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	require.NoError(t, q.Count(&n).Error)
	return n
}

func ptr[T any](v T) *T { return &v }
