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
// token expires (plus ExpirySkew). Then its retries end, a decision
// recorded like an outcome: the delivery is left terminal and, for a
// mission's cascade, a revocation_result saying so (retries_ended) is
// appended, in one transaction (retried, endRetries), once: whoever holds
// the delivery's claim ends it. Such a cascade's deliveries are queued
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
// while the claim holds; a claimed delivery whose token has expired (plus
// ExpirySkew) is not sent, its retries are ended. It returns how many it
// attempted, once every attempt ended. When ctx ends (shutdown) the
// attempts in flight are not recorded: their claims lapse and a replica,
// or the restarted PS, attempts them again.
func (s *Service) RetryDue(ctx context.Context) (int, error) {
	now := s.o.Now()
	ds, err := s.o.Store.ClaimRetries(ctx, now, now.Add(retryClaim), retryBatch)
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
	var send []Delivery
	for _, d := range ds {
		if d.TokenExp.Add(ExpirySkew).After(now) {
			send = append(send, d)
			continue
		}
		// Nothing is sent once a token is dead.
		if err := s.endRetries(ctx, cascades[d.CascadeID], d); err != nil {
			s.o.Logger.WarnContext(ctx, "revocation: end the retries of a downstream revocation", "recipient", d.Recipient, "err", err)
		}
	}
	<-s.sendEach(ctx, send, func(d Delivery, r Result) {
		if ctx.Err() != nil {
			return
		}
		if err := s.retried(context.WithoutCancel(ctx), cascades[d.CascadeID], d, r); err != nil {
			s.o.Logger.WarnContext(ctx, "revocation: record a retried delivery", "recipient", d.Recipient, "err", err)
		}
	})
	return len(send), nil
}

// retried records the outcome of claimed retry d of cascade c, its next
// retry, and — for a mission's cascade, when the outcome changed or the
// retries end (a revocation_unavailable with no next retry) — its
// revocation_result, in one transaction: a revocation_unavailable was
// evidenced when it was first stored, and the same outcome is not
// evidenced twice but for the end of its retries (a claimed pending
// delivery, whose sender is gone, has no outcome evidenced yet).
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
		ended := outcome == OutcomeUnavailable && next.IsZero()
		if recorded = ok; err != nil || !ok || (outcome == d.Outcome && !ended) || c == nil || c.Mission == "" || ev == nil {
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
		s.noMoreRetries(ctx, d, outcome, d.Attempts+1)
	default:
		s.o.Logger.InfoContext(ctx, "revocation: downstream revocation not recorded; retrying", "recipient", d.Recipient,
			"attempts", d.Attempts+1, "retry_at", next)
	}
	return err
}

// endRetries ends, without an attempt, the retries of claimed delivery d
// of cascade c, whose token has expired: in one transaction the delivery
// becomes terminal (revocation_unavailable, nothing scheduled) and, for a
// mission's cascade, its revocation_result says the retries ended. Only
// the claim's holder does it (EndRetries), so it happens once.
func (s *Service) endRetries(ctx context.Context, c *Cascade, d Delivery) error {
	ev := s.evidencer()
	ended := false
	err := s.o.InTx(ctx, func(st Store) error {
		now := s.o.Now()
		ok, err := st.EndRetries(ctx, d, now)
		if ended = ok; err != nil || !ok || c == nil || c.Mission == "" || ev == nil {
			return err
		}
		last := d
		last.Outcome, last.UpdatedAt, last.NextAttempt = OutcomeUnavailable, now, time.Time{}
		return ev.RevocationResult(ctx, st, c.Mission, s.o.Issuer, last, nil)
	})
	if err == nil && ended {
		s.noMoreRetries(ctx, d, OutcomeUnavailable, d.Attempts)
	}
	return err
}

// noMoreRetries logs that the retries of d ended with outcome after
// attempts.
func (s *Service) noMoreRetries(ctx context.Context, d Delivery, outcome string, attempts int) {
	s.o.Logger.WarnContext(ctx, "revocation: downstream revocation not recorded; no more retries", "recipient", d.Recipient,
		"outcome", outcome, "attempts", attempts, "token_exp", d.TokenExp)
}
