package tokens

import (
	"context"
	"reflect"
	"time"
)

// Presigned is a token signed before the transaction that issues it, so
// that the signature (and the signing key's lookup) is not computed while
// the transaction holds the database's writer (SQLite's writer turn, a
// mission's row lock; issue 12). Its content is chosen first — jti, iat,
// the directed sub, and the exp and mission the request's mission as read
// before gives — and the issuance uses it only when the claims it builds
// in its transaction, from what it reads there, are exactly these;
// otherwise it signs afresh there and this token is never released. A
// presigned token is thus only ever a token the transaction would have
// issued itself at the presigned instant: no token without its record,
// and a refused decision issues nothing (the presigned one is dropped).
type Presigned struct {
	typ    string
	at     time.Time
	jti    string
	sub    string // the directed sub chosen (stored, or the candidate)
	claims map[string]any
	token  string
}

// maxPresignAge bounds how long before its transaction a token may have
// been signed: its iat is the presigned instant, which must stay close to
// the issuance (the record's issued_at is the same instant). Waits for
// the writer under load are seconds; beyond this the token is signed again.
const maxPresignAge = 30 * time.Second

// claimBuilder builds a token's claims at an instant with a jti (and its
// exp), from what the caller resolved: pure, so that building twice from
// the same inputs gives the same claims.
type claimBuilder func(at time.Time, jti string) (map[string]any, time.Time, error)

// presign signs what build gives now; nil when it cannot be built or
// signed (the issuance then signs in its transaction as before).
func (s *Service) presign(ctx context.Context, typ, sub string, build claimBuilder) *Presigned {
	at := s.o.Now()
	jti := newJTI(at)
	claims, _, err := build(at, jti)
	if err != nil {
		return nil
	}
	tok, err := s.o.Signer.SignJWT(ctx, typ, claims)
	if err != nil {
		return nil
	}
	return &Presigned{typ: typ, at: at, jti: jti, sub: sub, claims: claims, token: tok}
}

// signed is the issuance's token at now: the presigned one when build,
// given its instant and jti, gives exactly its claims (and it leaves the
// token its minimum lifetime from now), else claims built and signed now.
// It returns the token, its claims, the instant they were built at, and
// exp.
func (s *Service) signed(ctx context.Context, typ string, now time.Time, pre *Presigned, build claimBuilder) (string, map[string]any, time.Time, time.Time, error) {
	if pre.usableAt(typ, now) {
		claims, exp, err := build(pre.at, pre.jti)
		if err == nil && exp.Sub(now) >= minLifetime && reflect.DeepEqual(claims, pre.claims) {
			return pre.token, claims, pre.at, exp, nil
		}
	}
	claims, exp, err := build(now, newJTI(now))
	if err != nil {
		return "", nil, now, exp, err
	}
	tok, err := s.o.Signer.SignJWT(ctx, typ, claims)
	return tok, claims, now, exp, err
}

func (p *Presigned) usableAt(typ string, now time.Time) bool {
	return p != nil && p.typ == typ && !now.Before(p.at) && now.Sub(p.at) <= maxPresignAge
}

// subCandidate is the directed sub a presigned token chose when the
// person had none at the resource yet ("" without one): offered to the
// store as the new one, so that the first token for a resource can be
// presigned too.
func (p *Presigned) subCandidate() string {
	if p == nil {
		return ""
	}
	return p.sub
}
