package account

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// Authenticate checks a username and password.
//
// Unknown username, wrong password, disabled person and person without a
// password all give ErrBadCredentials after comparable work (an unknown
// username is hashed against a dummy hash). Each failure is recorded in
// login_attempts under the username and under clientIP (IPv6: its /64);
// when either has reached its limit within the window, Authenticate refuses
// before checking the password with a *RateLimitedError (ErrRateLimited)
// and records nothing, so waiting out RetryAfter always helps. A success
// clears the username's failures and, when the stored hash used other
// parameters, rehashes the password.
//
// clientIP may be "" (no per-address limit). The check and the recording
// are not one statement: concurrent guesses may overshoot a limit by the
// number in flight.
func (s *Service) Authenticate(ctx context.Context, username, password, clientIP string) (*Person, error) {
	now := s.now()
	userKey, ipKey := userAttemptKey(username), ipAttemptKey(clientIP)
	if err := s.checkRate(ctx, userKey, s.opts.MaxFailuresPerUser, now); err != nil {
		return nil, err
	}
	if ipKey != "" {
		if err := s.checkRate(ctx, ipKey, s.opts.MaxFailuresPerIP, now); err != nil {
			return nil, err
		}
	}
	if len(password) > MaxPasswordBytes {
		password = password[:MaxPasswordBytes]
	}

	var m *PersonRecord
	if u, err := NormalizeUsername(username); err == nil {
		m, err = s.st.PersonByUsername(ctx, u)
		if err != nil && !errors.Is(err, dberr.ErrNotFound) {
			return nil, err
		}
	}
	encoded, usable := s.dummy, false
	if m != nil && m.HasPassword && !m.Disabled {
		encoded, usable = m.PasswordHash, true
	}
	ok, rehash, err := s.gate.verify(password, encoded, s.opts.Argon2)
	if err != nil {
		// A malformed stored hash: the person cannot log in with a
		// password; say nothing more to the client.
		if usable {
			s.log.Warn("account: stored password hash does not parse", "person", m.ID)
		}
		ok = false
	}
	if !ok || !usable {
		if err := s.recordFailure(ctx, now, userKey, ipKey); err != nil {
			return nil, err
		}
		return nil, ErrBadCredentials
	}

	if err := s.st.ClearLoginFailures(ctx, userKey); err != nil {
		return nil, err
	}
	if rehash {
		if h, err := s.gate.hash(password, s.opts.Argon2); err == nil {
			// Only replace the hash that was verified (a concurrent
			// SetPassword wins).
			if _, err := s.st.ReplacePasswordHash(ctx, m.ID, encoded, h); err != nil {
				s.log.Warn("account: rehash password failed", "person", m.ID, "error", err)
			}
		}
	}
	return &m.Person, nil
}

// userAttemptKey is the login_attempts key of a submitted username: its
// lowercase form hashed, so a password typed into the username field is not
// stored in clear.
func userAttemptKey(username string) string {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(username))))
	return "user:" + hex.EncodeToString(h[:16])
}

// ipAttemptKey is "ip:ADDRESS", with IPv6 addresses reduced to their /64
// (one subscriber's usual allocation). "" for no address.
func ipAttemptKey(clientIP string) string {
	clientIP = strings.TrimSpace(clientIP)
	if clientIP == "" {
		return ""
	}
	ip := net.ParseIP(clientIP)
	switch {
	case ip == nil:
		if len(clientIP) > 64 {
			clientIP = clientIP[:64]
		}
		return "ip:" + clientIP
	case ip.To4() != nil:
		return "ip:" + ip.To4().String()
	default:
		return "ip:" + (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
	}
}

// checkRate returns a *RateLimitedError when key has limit or more failures
// in (now-window, now].
func (s *Service) checkRate(ctx context.Context, key string, limit int, now time.Time) error {
	return s.checkRateIn(ctx, key, limit, s.opts.FailureWindow, now)
}

// checkRateIn is checkRate over window instead of the failure window.
func (s *Service) checkRateIn(ctx context.Context, key string, limit int, window time.Duration, now time.Time) error {
	ats, err := s.st.RecentLoginFailures(ctx, key, now.Add(-window), limit)
	if err != nil {
		return err
	}
	if len(ats) < limit {
		return nil
	}
	// The limit-th most recent failure is the one whose leaving the window
	// brings the count below limit.
	until := ats[limit-1].Add(window)
	wait := until.Sub(now).Truncate(time.Second)
	if until.Sub(now) > wait {
		wait += time.Second
	}
	return &RateLimitedError{RetryAfter: max(wait, time.Second)}
}

func (s *Service) recordFailure(ctx context.Context, now time.Time, keys ...string) error {
	for _, k := range keys {
		if k == "" {
			continue
		}
		if err := s.st.RecordLoginFailure(ctx, k, now); err != nil {
			return err
		}
	}
	return nil
}
