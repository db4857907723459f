package revocation

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/governance"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// Retries (design §5 "Revocation propagation": "backing off 1 s → 60 s
// until exp"). A delivery of a cascade the PS started itself — a
// mission's lifecycle transition, a person's revocation of an agent or
// of a grant — that ends revocation_unavailable keeps that terminal
// outcome (PS-286: what a report says) and is attempted again at the
// time governance.NextRevocationAttempt gives, stored with it (migration
// 00040), until it is recorded, becomes revocation_unsupported, or its
// token expires (plus ExpirySkew). Such a cascade's deliveries are queued
// with a fallback attempt staleDelivery ahead: one its sender did not
// finish (the process stopped) is claimed while still pending and sent.
// An agent provider's cascade is not retried on a timer: its repeat
// re-attempts what did not succeed (PS-291), and what it costs stays the
// provider's to spend (docs/decisions.md).

const (
	// personIss prefixes the iss of the cascades a person's action at the
	// PS started (CascadeAgent, CascadeMission): the ones it retries.
	personIss = "person:"
	// ExpirySkew is how long past its exp a resource may still accept a
	// token (the clock-skew allowance store.RevocationPurgeGrace keeps a
	// revocation for): retries stop once the token's exp plus it passed.
	ExpirySkew = 300 * time.Second
	// RetryTick is how often a PS looks for due retries (the first comes
	// 1 s after a failure).
	RetryTick = time.Second
	// retryBatch bounds the retries one sweep claims.
	retryBatch = 4 * maxConcurrentDeliveries
	// retryClaim is how long a claim holds: every attempt of a batch
	// (retryBatch/maxConcurrentDeliveries rounds of at most
	// attemptTimeout) ends within it. Past it, a replica claims again.
	retryClaim = (retryBatch/maxConcurrentDeliveries + 1) * attemptTimeout
)

// Retried reports whether the PS retries the failed deliveries of c on a
// timer: c is one the PS started itself. A nil cascade (gone) is not.
func (c *Cascade) Retried() bool {
	return c != nil && strings.HasPrefix(c.Iss, personIss)
}

// retryAfter is when to attempt again a delivery of c whose attempt-th
// attempt ended with outcome at failedAt: zero unless c is retried, the
// outcome revocation_unavailable and the next attempt before the token's
// exp plus ExpirySkew.
func retryAfter(c *Cascade, attempt int, outcome string, failedAt, exp time.Time) time.Time {
	if outcome != OutcomeUnavailable || !c.Retried() {
		return time.Time{}
	}
	next, ok := governance.NextRevocationAttempt(attempt, failedAt, exp.Add(ExpirySkew))
	if !ok {
		return time.Time{}
	}
	return next
}

// RetryDue claims the deliveries whose retry is due (one replica claims
// each), attempts them, and records each outcome with its next retry
// while the claim holds. It returns how many it attempted, once every
// attempt ended. When ctx ends (shutdown) the attempts in flight are not
// recorded: their claims lapse and a replica, or the restarted PS,
// attempts them again.
func (s *Service) RetryDue(ctx context.Context) (int, error) {
	now := s.o.Now()
	ds, err := s.o.Store.ClaimRetries(ctx, now, now.Add(-ExpirySkew), now.Add(retryClaim), retryBatch)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	cascades := map[string]*Cascade{}
	for _, d := range ds {
		if _, ok := cascades[d.CascadeID]; ok {
			continue
		}
		c, err := s.o.Store.CascadeByID(ctx, d.CascadeID)
		if err != nil && !errors.Is(err, dberr.ErrNotFound) {
			return 0, err
		}
		cascades[d.CascadeID] = c
	}
	<-s.sendEach(ctx, ds, func(d Delivery, r Result) {
		if ctx.Err() != nil {
			return
		}
		if err := s.retried(context.WithoutCancel(ctx), cascades[d.CascadeID], d, r); err != nil {
			s.o.Logger.WarnContext(ctx, "revocation: record a retried delivery", "recipient", d.Recipient, "err", err)
		}
	})
	return len(ds), nil
}

// retried records the outcome of claimed retry d of cascade c, its next
// retry, and — for a mission's cascade, when the outcome changed — its
// revocation_result, in one transaction: a revocation_unavailable was
// evidenced when it was first stored, and the same outcome is never
// evidenced twice (a claimed pending delivery, whose sender is gone, has
// no outcome evidenced yet).
func (s *Service) retried(ctx context.Context, c *Cascade, d Delivery, r Result) error {
	outcome := r.Outcome
	ev := s.evidencer()
	var next time.Time
	recorded := false
	err := s.o.InTx(ctx, func(st Store) error {
		now := s.o.Now()
		next = retryAfter(c, d.Attempts+1, outcome, now, d.TokenExp)
		ok, err := st.RetriedDelivery(ctx, d, outcome, now, next)
		if err == nil && ok {
			err = setDownstream(ctx, st, d, r)
		}
		if recorded = ok; err != nil || !ok || outcome == d.Outcome || c == nil || c.Mission == "" || ev == nil {
			return err
		}
		settled := d
		settled.Outcome, settled.Attempts, settled.UpdatedAt, settled.NextAttempt = outcome, d.Attempts+1, now, next
		return ev.RevocationResult(ctx, st, c.Mission, s.o.Issuer, settled, r.Downstream)
	})
	switch {
	case err != nil || !recorded:
	case outcome == OutcomeRevoked:
		s.o.Logger.InfoContext(ctx, "revocation: retried downstream revocation recorded", "recipient", d.Recipient, "attempts", d.Attempts+1)
	case next.IsZero():
		s.o.Logger.WarnContext(ctx, "revocation: downstream revocation not recorded; no more retries", "recipient", d.Recipient,
			"outcome", outcome, "attempts", d.Attempts+1, "token_exp", d.TokenExp)
	default:
		s.o.Logger.InfoContext(ctx, "revocation: downstream revocation not recorded; retrying", "recipient", d.Recipient,
			"attempts", d.Attempts+1, "retry_at", next)
	}
	return err
}
