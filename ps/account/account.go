package account

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Defaults for Options fields left zero.
const (
	DefaultSessionIdle        = 12 * time.Hour
	DefaultSessionAbsolute    = 7 * 24 * time.Hour
	DefaultInviteTTL          = 72 * time.Hour
	DefaultFailureWindow      = 15 * time.Minute
	DefaultMaxFailuresPerUser = 5
	DefaultMaxFailuresPerIP   = 50
	// CeremonyTTL is how long a passkey ceremony (Begin… to Finish…) lives.
	CeremonyTTL = 5 * time.Minute
	// sessionTouchInterval: Session writes last_seen_at at most this often.
	sessionTouchInterval = time.Minute
)

// Argon2Params are the argon2id cost parameters for new password hashes.
// A stored hash made with other parameters still verifies and is rehashed
// with these at the next successful login.
type Argon2Params struct {
	Time      uint32 // passes; default 2
	MemoryKiB uint32 // default 64 MiB (65536)
	Threads   uint8  // default 2
}

// DefaultArgon2 is the production cost (RFC 9106 §4 second choice, reduced
// to 64 MiB for small servers).
var DefaultArgon2 = Argon2Params{Time: 2, MemoryKiB: 64 * 1024, Threads: 2}

// Options configure a Service. Zero fields take the defaults above.
type Options struct {
	SessionIdle     time.Duration // a session unused this long ends (default 12 h)
	SessionAbsolute time.Duration // a session ends this long after login, used or not (default 7 d)
	InviteTTL       time.Duration // default 72 h

	// Password-guessing limits: at most MaxFailuresPerUser failed logins
	// per username and MaxFailuresPerIP per client address (IPv6: per /64)
	// within FailureWindow (default 5, 50 and 15 min).
	MaxFailuresPerUser int
	MaxFailuresPerIP   int
	FailureWindow      time.Duration

	Argon2 Argon2Params // zero: DefaultArgon2; tests use tiny values

	// WebAuthn relying party. RPID empty turns passkeys off
	// (ErrPasskeysDisabled). RPOrigins are the web UI's origins, e.g.
	// "https://ps.example".
	RPID          string
	RPOrigins     []string
	RPDisplayName string // default "AAuth Person Server"

	// Log receives warnings (a passkey whose sign count went backwards, a
	// failed rehash). It never receives passwords, tokens or hashes. nil:
	// discard.
	Log *slog.Logger
}

// Service manages persons, their credentials and browser sessions on a
// store. It holds no mutable state; it is safe for concurrent use.
type Service struct {
	st    Store
	now   func() time.Time
	opts  Options
	wa    *webauthn.WebAuthn // nil when passkeys are off
	dummy string             // a hash to verify against for unknown users
	log   *slog.Logger
	gate  *hashGate // argon2 admission: the process's argonGate
}

// New returns a Service over st (ps/store's *Store, or a transaction's).
// now is the clock (nil: time.Now). It fails on inconsistent options.
func New(st Store, now func() time.Time, opts Options) (*Service, error) {
	if st == nil {
		return nil, errors.New("account: nil store")
	}
	if now == nil {
		now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.SessionIdle, DefaultSessionIdle)
	def(&opts.SessionAbsolute, DefaultSessionAbsolute)
	def(&opts.InviteTTL, DefaultInviteTTL)
	def(&opts.FailureWindow, DefaultFailureWindow)
	if opts.MaxFailuresPerUser == 0 {
		opts.MaxFailuresPerUser = DefaultMaxFailuresPerUser
	}
	if opts.MaxFailuresPerIP == 0 {
		opts.MaxFailuresPerIP = DefaultMaxFailuresPerIP
	}
	if opts.Argon2 == (Argon2Params{}) {
		opts.Argon2 = DefaultArgon2
	}
	if opts.RPDisplayName == "" {
		opts.RPDisplayName = "AAuth Person Server"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	for name, d := range map[string]time.Duration{
		"SessionIdle": opts.SessionIdle, "SessionAbsolute": opts.SessionAbsolute,
		"InviteTTL": opts.InviteTTL, "FailureWindow": opts.FailureWindow,
	} {
		if d < time.Second {
			errs = append(errs, fmt.Errorf("account: %s must be at least 1s", name))
		}
	}
	if opts.SessionIdle > opts.SessionAbsolute {
		errs = append(errs, errors.New("account: SessionIdle must not exceed SessionAbsolute"))
	}
	if opts.MaxFailuresPerUser < 1 || opts.MaxFailuresPerIP < 1 {
		errs = append(errs, errors.New("account: failure limits must be at least 1"))
	}
	if err := opts.Argon2.validate(); err != nil {
		errs = append(errs, err)
	}
	s := &Service{st: st, now: now, opts: opts, log: opts.Log, gate: argonGate}
	if opts.RPID != "" {
		wa, err := webauthn.New(&webauthn.Config{
			RPID:          opts.RPID,
			RPDisplayName: opts.RPDisplayName,
			RPOrigins:     opts.RPOrigins,
			AuthenticatorSelection: protocol.AuthenticatorSelection{
				ResidentKey:      protocol.ResidentKeyRequirementRequired,
				UserVerification: protocol.VerificationRequired,
			},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("account: webauthn: %w", err))
		}
		s.wa = wa
	} else if len(opts.RPOrigins) > 0 {
		errs = append(errs, errors.New("account: RPOrigins without RPID"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	dummy, err := dummyHash(opts.Argon2)
	if err != nil {
		return nil, err
	}
	s.dummy = dummy
	return s, nil
}

// WithStore returns a Service sharing s's options on st, typically a
// transaction's Store, so account changes join a caller's transaction.
func (s *Service) WithStore(st Store) *Service {
	c := *s
	c.st = st
	return &c
}

// randomBytes returns n bytes from crypto/rand (which never fails on
// supported platforms; rand.Read panics rather than return short).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// randomToken is a 256-bit random base64url string (43 characters): session,
// CSRF and invite tokens.
func randomToken() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

// newID is a random 128-bit base64url identifier (22 characters).
func newID() string { return base64.RawURLEncoding.EncodeToString(randomBytes(16)) }

// tokenHash is the stored form of a token: hex SHA-256.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// wellFormedToken reports whether t looks like a randomToken, so garbage
// never reaches the database.
func wellFormedToken(t string) bool {
	if len(t) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(t)
	return err == nil
}

// PasskeysEnabled reports whether WebAuthn is configured (Options.RPID).
func (s *Service) PasskeysEnabled() bool { return s.wa != nil }
