package authtoken

import (
	"context"
	"net/http"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/chain"
	"github.com/aauth-ps/aauth-ps/ps/resourcetoken"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// presented verifies the agent's presented_token against rt
// (P§resource-token-verification step 3): a person or auth token this PS
// issued, or an auth token of an access server this PS presented a person
// token to for that token's aud and sub (PS-268) — the four-party step-up
// (PS-273), where the resource names the AS's token in presented_jti. One
// verification path (resourcetoken.VerifyPresentedToken); only the issuer
// and key resolution (s.signers) tells the two apart. The AS verifies its
// token again when the PS presents it.
//
// An AS's token is resolved to the person token this PS presented to that
// AS it was obtained with (p.Via, chain.ObtainedWith), whose revocation
// revokes it (PS-266, P§revocation-cascade); one the PS cannot trace to
// such a person token is 400 invalid_presented_token, as an upstream one
// is invalid_upstream_token.
func (s *Service) presented(ctx context.Context, raw string, rt *resourcetoken.ResourceToken, e resourcetoken.Expect) (*resourcetoken.Presented, error) {
	p, err := resourcetoken.VerifyPresentedToken(ctx, raw, s.signers(), rt, e)
	if err != nil || p.AccessServer == "" {
		return p, err
	}
	rec, err := chain.ObtainedWith(ctx, s.o.Tokens, p.AccessServer, p.Aud, p.Sub, p.CnfJKT, p.MissionS256.Value, "")
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidPresentedToken,
			"this person server cannot identify the person token the access server's auth token was obtained with")
	}
	p.Via = rec.JTI
	return p, nil
}

// signers resolves who signed a presented token: this PS, or — with
// federation configured — an AS it presented a person token to.
func (s *Service) signers() resourcetoken.Signers {
	sg := resourcetoken.Signers{Issuer: s.o.Issuer, Own: s.o.OwnKeys}
	if s.o.Federation != nil {
		sg.Access, sg.Federated = s.o.Discovery, PresentedTo(s.o.Tokens)
	}
	return sg
}

// PresentedRecords lists the person tokens this PS presented to an AS for
// (aud, sub) (*tokens.Service).
type PresentedRecords interface {
	PresentedPersonTokens(ctx context.Context, as, aud, sub string) ([]tokens.Record, error)
}

// PresentedTo answers resourcetoken.Signers.Federated from the PS's
// presentation records (PS-259).
func PresentedTo(r PresentedRecords) func(ctx context.Context, as, aud, sub string) (bool, error) {
	return func(ctx context.Context, as, aud, sub string) (bool, error) {
		recs, err := r.PresentedPersonTokens(ctx, as, aud, sub)
		return len(recs) > 0, err
	}
}
