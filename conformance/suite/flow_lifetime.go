package suite

import (
	"context"
	"net/http"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Keys of the checks on AS-issued auth tokens as body members (PS-267,
// PS-133, PS-268).
const (
	longUpstreamKey  = "PS-267 an AS auth token whose exp − iat is 2 h, as upstream_token, gets 400 invalid_upstream_token"
	longPresentedKey = "PS-267 an AS auth token whose exp − iat is 2 h, as presented_token (step-up), gets 400 invalid_presented_token"
	issuerUpKey      = "PS-133 an upstream auth token from an AS this PS never presented that person to gets 400 invalid_upstream_token"
	issuerStepUpKey  = "PS-268 a step-up auth token of an AS this PS never presented that person to gets 400 invalid_presented_token"
)

// chainLongLived (PS-267, P§common-verification): a token whose exp − iat
// exceeds 3600 s is refused wherever the PS verifies one. A (the bound
// agent) first has its person token for the intermediary presented to the
// test AS (four-party, granted), so that an auth token of that AS for the
// intermediary and the person is one the PS must otherwise accept
// (PS-133, PS-268). The AS then signs such tokens living 1 h (the control:
// accepted) and 2 h (refused), used as upstream_token by the intermediary
// at E3 and as presented_token in a step-up at E4. A PS refusing the 1 h
// token too leaves the check skipped: it then says nothing about lifetime.
//
// The same control makes the issuer checks honest: ps133 is what the
// intermediary got for the AS's token naming a sub this PS never presented
// there (chainingFlow), and the step-up is tried with such a token
// (PS-268). Each passes only once the control token is accepted, so a PS
// refusing every AS-issued token passes neither.
func chainLongLived(ctx context.Context, t *Target, rec recorder, a, m *conformance.Agent, up string, ps133 error) error {
	skipAll := func(err error) {
		for _, k := range []string{longUpstreamKey, longPresentedKey, issuerUpKey, issuerStepUpKey} {
			rec(k, err)
		}
	}
	if t.AccessServer == nil {
		return nil // no AS: none of these apply
	}
	f, err := t.fedFor(ctx)
	if err != nil {
		skipAll(err)
		return nil
	}
	e3, _ := t.need(ctx, "person_token_endpoint")
	in, down := t.Intermediary, t.Resource.Issuer()
	rt, err := in.MintFor(up, a.Key, conformance.ResourceAPIScope, time.Time{}, func(s *conformance.ResourceTokenSpec) { s.Aud = f.as.Issuer() })
	if err != nil {
		return err
	}
	f.as.Script()
	r, err := f.send(ctx, a, map[string]any{"resource_token": rt, "presented_token": up}, "let "+a.ID+" use "+in.Issuer()+" through its access server")
	if err != nil {
		return err
	}
	if at, _ := r.Body["auth_token"].(string); r.Status != http.StatusOK || at == "" {
		skipAll(Skip("the four-party request presenting the person token for the intermediary to the AS: %s", r))
		return nil
	}
	_, upc, err := conformance.DecodeJWT(up)
	if err != nil {
		return err
	}
	mintFor := func(sub any, life time.Duration) (string, error) {
		now := time.Now()
		return f.as.MintAuthToken(map[string]any{"aud": in.Issuer(), "sub": sub, "ps": t.Issuer, "scope": conformance.ResourceAPIScope,
			"cnf": map[string]any{"jwk": a.Key.PublicJWK()}, "iat": now.Unix(), "exp": now.Add(life).Unix()})
	}
	mint := func(life time.Duration) (string, error) { return mintFor(upc["sub"], life) }

	// As upstream_token: the intermediary at E3.
	chained := func(tok string) (*Response, error) {
		r, err := t.agentSend(ctx, m, http.MethodPost, e3, jsonBody(map[string]any{"resource": down, "upstream_token": tok, "capabilities": []string{"interaction"}}), nil)
		if err != nil {
			return nil, err
		}
		return t.resolve(ctx, m, r, true, "let "+in.Issuer()+" act at "+down+" for the request it received")
	}
	// As presented_token: A's step-up at E4 with a resource token of the
	// intermediary naming the AS token.
	stepUp := func(tok string) (*Response, error) {
		rt, err := in.MintFor(tok, a.Key, conformance.ResourceAPIScope, time.Time{}, nil)
		if err != nil {
			return nil, err
		}
		r, err := t.agentSend(ctx, a, http.MethodPost, f.e4, jsonBody(map[string]any{"resource_token": rt, "presented_token": tok, "capabilities": []string{"interaction"}}), nil)
		if err != nil {
			return nil, err
		}
		return t.resolve(ctx, a, r, true, "let "+a.ID+" read the calendar at "+in.Issuer()+" again (step-up)")
	}
	for _, c := range []struct {
		key, issuerKey, got, code string
		send                      func(string) (*Response, error)
	}{
		{longUpstreamKey, issuerUpKey, "person_token", aauth.ErrInvalidUpstreamToken, chained},
		{longPresentedKey, issuerStepUpKey, "auth_token", aauth.ErrInvalidPresentedToken, stepUp},
	} {
		ok, err := mint(time.Hour)
		if err != nil {
			return err
		}
		long, err := mint(2 * time.Hour)
		if err != nil {
			return err
		}
		r, err := c.send(ok)
		if err != nil {
			return err
		}
		if s, _ := r.Body[c.got].(string); r.Status != http.StatusOK || s == "" {
			skip := Skip("the same AS's token for a person it was presented, living 1 h, is refused too: %s", r)
			rec(c.key, skip)
			rec(c.issuerKey, skip)
			continue
		}
		if r, err = c.send(long); err != nil {
			return err
		}
		rec(c.key, ExpectProblem(r, http.StatusBadRequest, c.code))
		if c.issuerKey == issuerUpKey {
			rec(c.issuerKey, ps133)
			continue
		}
		never, err := mintFor("never-presented-"+randomHex(6), time.Hour)
		if err != nil {
			return err
		}
		if r, err = c.send(never); err != nil {
			return err
		}
		rec(c.issuerKey, ExpectProblem(r, http.StatusBadRequest, c.code))
	}
	return nil
}
