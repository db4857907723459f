package governance

import (
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
)

// IndexedToken is the PS's index entry for a token issued under a
// mission (design §1 "token index").
type IndexedToken struct {
	Iss, JTI, Aud string
	Kind          string // "auth" or "person"
	Exp           time.Time
	Entries       []string
	Parent        string // the parent token's jti (chains, sub-agents)
	Depth         int
}

// ToRevoke selects the tokens a termination revokes: every unexpired
// indexed token, none for `expired` (already capped by expires_at), and
// for `superseded` none the successor still permits (keep reports that).
func ToRevoke(tokens []IndexedToken, reason mission.Reason, now time.Time, keep func(IndexedToken) bool) []IndexedToken {
	if reason == mission.ReasonExpired {
		return nil
	}
	var out []IndexedToken
	for _, t := range tokens {
		if !now.Before(t.Exp) || (keep != nil && keep(t)) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// Revocation retries back off from 1 s, doubling, to at most 60 s, and
// stop at the token's exp (design §5 "Revocation propagation").
const (
	firstRetry = time.Second
	maxRetry   = 60 * time.Second
)

// NextRevocationAttempt is when to try a failed revocation again (attempt
// counts from 1), or false when the token will have expired by then.
func NextRevocationAttempt(attempt int, failedAt, exp time.Time) (time.Time, bool) {
	d := firstRetry
	for i := 1; i < attempt && d < maxRetry; i++ {
		d *= 2
	}
	d = min(d, maxRetry)
	next := failedAt.Add(d)
	return next, next.Before(exp)
}

// ResidualExposureUntil is the latest exp among tokens whose revocation
// was not confirmed: until then a resource that missed the revocation may
// still honour one (recorded with the lifecycle transition).
func ResidualExposureUntil(unconfirmed []IndexedToken) *time.Time {
	var latest *time.Time
	for _, t := range unconfirmed {
		if latest == nil || t.Exp.After(*latest) {
			e := t.Exp
			latest = &e
		}
	}
	return latest
}

// RiskPolicy suspends a mission whose requests hit exclusions too often:
// Hits within Window (design §5: e.g. 3 exclusion hits in 10 minutes).
type RiskPolicy struct {
	Hits   int
	Window time.Duration
}

// DefaultRiskPolicy is the design's example.
var DefaultRiskPolicy = RiskPolicy{Hits: 3, Window: 10 * time.Minute}

// Trips reports whether the exclusion hits recorded (any order) reach the
// policy within the window ending at now.
func (p RiskPolicy) Trips(hits []time.Time, now time.Time) bool {
	if p.Hits <= 0 {
		return false
	}
	n := 0
	for _, h := range hits {
		if !h.After(now) && now.Sub(h) < p.Window {
			n++
		}
	}
	return n >= p.Hits
}
