package account

// Internals the external tests (package account_test, which may import
// ps/store) check directly.
var (
	RandomToken     = randomToken
	TokenHash       = tokenHash
	WellFormedToken = wellFormedToken
	UserAttemptKey  = userAttemptKey
	IPAttemptKey    = ipAttemptKey
	RandomBytes     = randomBytes
)

// MaxCeremonyBody bounds a passkey response body.
const MaxCeremonyBody = maxCeremonyBody

// Test fixtures, shared by the internal and the external tests.
const (
	testRPID     = "ps.example.test"
	testOrigin   = "https://ps.example.test"
	goodPassword = "correct horse battery"

	TestRPID     = testRPID
	TestOrigin   = testOrigin
	GoodPassword = goodPassword
)

// tinyArgon2 keeps hashing fast in tests.
var (
	tinyArgon2 = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}
	TinyArgon2 = tinyArgon2
)

// Bounds on what a session keeps of its request.
const (
	MaxUserAgent = maxUserAgent
	MaxIP        = maxIP
)

// WithHashGate returns s with an argon2 gate of its own: n slots, during
// called while a slot is held, memory collected between queued hashes and
// returned after every burst whatever the cost; collected and released
// count those.
func WithHashGate(s *Service, n int, during func() (done func())) (_ *Service, collected, released func() int64) {
	g := newHashGate(n)
	g.during, g.releaseKiB = during, 0
	c := *s
	c.gate = g
	return &c, g.collected.Load, g.released.Load
}
