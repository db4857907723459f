package tokens

import (
	"context"
	"net/http"
	"slices"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// RevocationGuard is what issuance re-checks inside its own transaction
// (ps/store implements it), so that a revocation recorded between a
// request's checks and its issuance cannot let a token out (issue 8).
type RevocationGuard interface {
	// LockMissionForIssuance re-reads a mission and holds its row until
	// the transaction ends: its state cannot change before the issuance
	// commits, and a change that committed first is seen.
	LockMissionForIssuance(ctx context.Context, s256 string) (*mission.Record, error)
	// ShareRevocationLock holds, until the transaction ends, the lock
	// every revocation holds exclusively: what is read after it includes
	// every revocation that committed, and a revocation still to come
	// cascades to what this transaction issues. The store may take it
	// with the transaction's next statement, ahead of it.
	ShareRevocationLock(ctx context.Context) error
	IsRevoked(ctx context.Context, iss, jti string) (bool, error)
}

// revocable is a token an issuance stands on, with the answer when it
// was revoked.
type revocable struct {
	iss, jti string
	status   int
	code     string
	detail   string
}

// guard runs the issuance's last checks in its transaction, before
// anything is written: the mission is still active and not suspended
// (read again, its row held) and none of the tokens the issuance stands on — the agent token,
// the sub-agent token, the upstream token and what the caller adds (the
// presented and resource tokens) — is revoked. It returns the mission as
// it is now. The mission comes first: a revoked mission's tokens are
// revoked too, and mission_terminated is the more useful answer.
func (s *Service) guard(ctx context.Context, a Agent, ms *mission.Record, more ...revocable) (*mission.Record, error) {
	if ms != nil {
		fresh, err := s.o.Store.LockMissionForIssuance(ctx, ms.S256)
		if err != nil {
			return nil, err
		}
		if ok, reason := fresh.State().Active(s.o.Now()); !ok {
			return nil, mission.Terminated(reason)
		}
		if fresh.Hold != nil {
			// Suspended since the request read it (design §5: new token
			// requests are held). The request's own path holds it; here,
			// past that check, nothing is issued and the agent asks again,
			// to be held then.
			return nil, aauth.Unavailable("the mission was suspended while this request was decided; ask again", 1)
		}
		ms = fresh
	}
	if err := s.o.Store.ShareRevocationLock(ctx); err != nil {
		return nil, err
	}
	checks := []revocable{{a.Iss, a.TokenJTI, http.StatusForbidden, aauth.ErrRevoked, "the agent token was revoked"}}
	if a.SubAgent != nil {
		// The sub-agent token's iss is its parent's provider (checked
		// before anything was fetched).
		checks = append(checks, revocable{a.Iss, a.SubAgent.TokenJTI, http.StatusBadRequest, aauth.ErrRevokedSubagentToken,
			"the sub-agent token was revoked"})
	}
	if a.Upstream != nil {
		iss := s.o.Issuer
		if a.Upstream.Iss != "" {
			iss = a.Upstream.Iss // an access server's auth token
		}
		checks = append(checks, revocable{iss, a.Upstream.JTI, http.StatusBadRequest, aauth.ErrRevokedUpstreamToken,
			"the upstream token has been revoked"})
		if a.Upstream.Via != "" {
			checks = append(checks, revocable{s.o.Issuer, a.Upstream.Via, http.StatusBadRequest, aauth.ErrRevokedUpstreamToken,
				"the person token the upstream auth token was obtained with has been revoked"})
		}
	}
	checks = slices.DeleteFunc(append(checks, more...), func(c revocable) bool { return c.iss == "" || c.jti == "" })
	if batch, ok := s.o.Store.(batchRevocations); ok {
		// One statement for every check (issue 12); the first revoked
		// token in the order above answers, as one by one.
		keys := make([][2]string, len(checks))
		for i, c := range checks {
			keys[i] = [2]string{c.iss, c.jti}
		}
		i, err := batch.FirstRevoked(ctx, keys)
		if err != nil {
			return nil, err
		}
		if i >= 0 {
			return nil, aauth.NewProblem(checks[i].status, checks[i].code, checks[i].detail)
		}
		return ms, nil
	}
	for _, c := range checks {
		if revoked, err := s.o.Store.IsRevoked(ctx, c.iss, c.jti); err != nil {
			return nil, err
		} else if revoked {
			return nil, aauth.NewProblem(c.status, c.code, c.detail)
		}
	}
	return ms, nil
}

// batchRevocations is a RevocationGuard that looks several tokens up in
// one statement (ps/store).
type batchRevocations interface {
	// FirstRevoked is the index of the first revoked token, or -1.
	FirstRevoked(ctx context.Context, tokens [][2]string) (int, error)
}
