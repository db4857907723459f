package suite

import (
	"context"
	"net/http"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

const revNamespaceKey = "PS-238 a revocation of jti X signed by a second provider leaves the first provider's token X working"

// revNamespaceFlow (PS-238, PS-235; P§revocation-request): revocation
// state is keyed by (iss, jti) with iss the verified signer, so a caller
// revokes only its own tokens. Two agent providers the PS accepts (the
// target AP and a second one under its own host, the provider whose JWKS
// merely carries foreign members) each issue an agent token with the same
// jti X, and both are used at E3. The second provider revokes X, signed as
// itself: its own token X then gets 401 revoked_jwt (the revocation took
// effect), and the target AP's token X still passes verification.
func revNamespaceFlow(ctx context.Context, t *Target, rec recorder) error {
	ep, err := t.need(ctx, "revocation_endpoint")
	if err != nil {
		return err
	}
	e3, err := t.need(ctx, "person_token_endpoint")
	if err != nil {
		return err
	}
	ap2 := t.Faulty[FaultForeignJWKSMembers]
	if ap2 == nil {
		return Skip("no second agent provider the PS accepts (Target.Faulty[%s])", FaultForeignJWKSMembers)
	}
	jti := randomHex(16)
	mine, err := t.mint(conformance.TokenSpec{JTI: jti})
	if err != nil {
		return err
	}
	theirs, err := t.mintFrom(ap2, conformance.TokenSpec{JTI: jti})
	if err != nil {
		return err
	}
	use := func(a *conformance.Agent, n int) (*Response, error) {
		return t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": "https://rs.test", "n": n}), nil)
	}
	for _, a := range []*conformance.Agent{mine, theirs} {
		r, err := use(a, 1)
		if err != nil {
			return err
		}
		if err := ExpectVerified(r); err != nil {
			return Skip("a token of %s is not accepted before any revocation: %v", a.Issuer, err)
		}
	}
	body := []byte(`{"jti":"` + jti + `","exp":` + itoa(time.Now().Add(time.Hour).Unix()) + `}`)
	req, err := newRequest(http.MethodPost, ep, body)
	if err != nil {
		return err
	}
	if _, err := ap2.ServerSigner().Sign(req, body); err != nil {
		return err
	}
	r, err := t.Do(ctx, req)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return rec(revNamespaceKey, Skip("the second provider's revocation of its own token was not accepted: %s", r))
	}
	if r, err = use(theirs, 2); err != nil {
		return err
	}
	if err := onlyCode(r, aauth.SigRevokedJWT); err != nil {
		return rec(revNamespaceKey, Skip("the second provider's own token X still works after it revoked X (see PS-236): %v", err))
	}
	if r, err = use(mine, 2); err != nil {
		return err
	}
	v := verdict{}
	if err := ExpectVerified(r); err != nil {
		v.add(MUST, "%s's token with jti X, after %s revoked its own X: %v", t.AP.Issuer(), ap2.Issuer(), err)
	}
	return rec(revNamespaceKey, v.err())
}

// revNamespaceChecks (confD).
var revNamespaceChecks = func() []Check {
	s := stepsOf("revocation-namespace", revNamespaceFlow)
	return []Check{
		s("PS-238", "a revocation of jti X signed by a second provider leaves the first provider's token X working", MUST, "PS-235"),
	}
}
