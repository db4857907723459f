package suite

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// threeParty is what the three-party flow works with: the connected agent,
// its person token for the test resource, the auth token endpoint, a good
// resource-token spec for that person token, a minter of variants of it,
// and a sender of E4 bodies as the agent (capabilities interaction unless
// the body sets them).
type threeParty struct {
	a    *conformance.Agent
	pt   issued
	rs   *conformance.Resource
	e4   string
	spec conformance.ResourceTokenSpec
	mint func(change func(*conformance.ResourceTokenSpec)) string
	send func(body map[string]any) (*Response, error)
}

// moreE4Refusals: resource-token header and claim defects, bad display
// members, and a presented token redeemed by another agent (PS-084,
// PS-090, PS-096, PS-098, PS-099). None needs the person.
func (t *Target) moreE4Refusals(ctx context.Context, rec recorder, x *threeParty) error {
	header := func(patch map[string]any) string {
		return x.mint(func(s *conformance.ResourceTokenSpec) { s.HeaderOverrides = patch })
	}
	refuse := func(v *verdict, what string, body map[string]any, status int, code string) error {
		r, err := x.send(body)
		if err != nil {
			return err
		}
		v.addErr(MUST, prefixed(what, ExpectProblem(r, status, code)))
		return nil
	}
	// Each token is signed with the resource's published key: only the
	// named header member or claim is wrong.
	hv := verdict{}
	for _, c := range []struct {
		what string
		rt   string
	}{
		{"alg none", header(map[string]any{"alg": "none"})},
		{"alg EdDSA", header(map[string]any{"alg": "EdDSA"})},
		{"alg HS256", header(map[string]any{"alg": "HS256"})},
		{"no kid", header(map[string]any{"kid": nil})},
		{"dwk aauth-agent.json", x.mint(func(s *conformance.ResourceTokenSpec) { s.Overrides = map[string]any{"dwk": aauth.DWKAgent} })},
	} {
		if err := refuse(&hv, c.what, map[string]any{"resource_token": c.rt, "presented_token": x.pt.raw}, 400, aauth.ErrInvalidResourceToken); err != nil {
			return err
		}
	}
	rec("PS-084 an RT with alg none, EdDSA or HS256, without kid, or with another dwk gets 400 invalid_resource_token", hv.err())

	av := verdict{}
	if err := refuse(&av, "aud http://x", map[string]any{"resource_token": x.mint(func(s *conformance.ResourceTokenSpec) { s.Aud = "http://x" }), "presented_token": x.pt.raw},
		400, aauth.ErrInvalidResourceToken); err != nil {
		return err
	}
	rec("PS-090 an RT whose aud is no server identifier gets 400 invalid_resource_token", av.err())

	iv := verdict{}
	interaction := map[string]any{"url": "http://" + strings.TrimPrefix(x.rs.Issuer(), "https://") + conformance.ResourceInteractionPath, "code": "ABCD-1234"}
	if err := refuse(&iv, "interaction.url http", map[string]any{"resource_token": x.mint(func(s *conformance.ResourceTokenSpec) {
		s.Overrides = map[string]any{"interaction": interaction}
	}), "presented_token": x.pt.raw}, 400, aauth.ErrInvalidResourceToken); err != nil {
		return err
	}
	rec("PS-098 an RT whose interaction url is not https gets 400 invalid_resource_token", iv.err())

	// PS-099 names E4 and E3 alike; the bind flow sends the E3 case.
	dv := verdict{}
	for _, m := range []map[string]any{{"platform": "tv"}, {"device": strings.Repeat("d", 65)}, {"device": "a\u0007b"}} {
		body := map[string]any{"resource_token": x.mint(nil), "presented_token": x.pt.raw}
		for k, v := range m {
			body[k] = v
		}
		if err := refuse(&dv, string(jsonBody(m)), body, 400, aauth.ErrInvalidRequest); err != nil {
			return err
		}
	}
	rec("PS-099 E4 with an unknown platform or a bad device gets 400 invalid_request", dv.err())

	// A2 holds an RT bound to its own key that names A1's person token,
	// and sends A1's person token with it.
	o, err := t.otherBound(ctx)
	if err != nil {
		return err
	}
	rt := x.mint(func(s *conformance.ResourceTokenSpec) { s.AgentJKT = o.Key.Thumbprint() })
	r, err := t.agentSend(ctx, o, http.MethodPost, x.e4, jsonBody(map[string]any{"resource_token": rt, "presented_token": x.pt.raw, "capabilities": []string{"interaction"}}), nil)
	if err != nil {
		return err
	}
	rec("PS-096 another agent redeeming an RT that names this agent's person token gets 400 invalid_presented_token",
		ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidPresentedToken))
	return nil
}

// shortPresented obtains a person token for the test resource under an
// agent token that lives a few seconds (the person token may not outlive
// it, PS-075) and a resource token naming it. The returned func waits
// until the person token has expired and submits the pair (PS-265).
func (t *Target) shortPresented(ctx context.Context, rec recorder, x *threeParty) (func() error, error) {
	const key = "PS-265 an RT naming a person token that has since expired gets 400 expired_presented_token"
	e3, err := t.need(ctx, "person_token_endpoint")
	if err != nil {
		return nil, err
	}
	short, err := t.mintFrom(t.AP, conformance.TokenSpec{Agent: x.a.Key, Sub: x.a.ID, Lifetime: 8 * time.Second})
	if err != nil {
		return nil, err
	}
	r, err := t.agentSend(ctx, short, http.MethodPost, e3, jsonBody(map[string]any{"resource": x.rs.Issuer()}), nil)
	if err != nil {
		return nil, err
	}
	s, _ := r.Body["person_token"].(string)
	if r.Status != http.StatusOK || s == "" {
		rec(key, Skip("the connected agent got no person token at once under a short agent token: %s", r))
		return func() error { return nil }, nil
	}
	exp := tokenExp(s)
	if time.Until(time.Unix(exp, 0)) > 30*time.Second {
		rec(key, Skip("the person token outlives its 8 s agent token (PS-075): exp in %s", time.Until(time.Unix(exp, 0)).Round(time.Second)))
		return func() error { return nil }, nil
	}
	rt, err := x.rs.MintFor(s, x.a.Key, conformance.ResourceAPIScope, time.Time{}, nil)
	if err != nil {
		return nil, err
	}
	return func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(time.Unix(exp+1, 0))):
		}
		r, err := x.send(map[string]any{"resource_token": rt, "presented_token": s})
		if err != nil {
			return err
		}
		rec(key, ExpectProblem(r, http.StatusBadRequest, aauth.ErrExpiredPresentedToken))
		return nil
	}, nil
}

// identityClaims checks PS-110 on an issued token: an identity claim only
// with a granted scope that yields it, and each listed in claims_supported.
func identityClaims(tok issued, md map[string]any) error {
	byScope := map[string][]string{
		"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile", "picture",
			"website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
		"email":   {"email", "email_verified"},
		"phone":   {"phone_number", "phone_number_verified"},
		"address": {"address"},
		"groups":  {"groups"},
		"roles":   {"roles"},
	}
	granted := strings.Fields(tok.str("scope"))
	supported, _ := md["claims_supported"].([]any)
	var v verdict
	for scope, claims := range byScope {
		for _, c := range claims {
			if _, ok := tok.claims[c]; !ok {
				continue
			}
			if !slices.Contains(granted, scope) {
				v.add(MUST, "claim %s without the %s scope (scope %q)", c, scope, tok.str("scope"))
			}
			if !slices.Contains(supported, any(c)) {
				v.add(MUST, "claim %s is not in claims_supported %v", c, supported)
			}
		}
	}
	return v.err()
}

// afterAuthToken: with an auth token in hand, step-up (PS-273), resource
// revocation (PS-288, PS-269), capabilities (PS-100), and two concurrent
// requests, one denied (PS-101, PS-112, PS-110).
func (t *Target) afterAuthToken(ctx context.Context, rec recorder, x *threeParty, at issued) error {
	// Step-up: the resource names the auth token it was shown.
	up, err := x.rs.MintFor(at.raw, x.a.Key, conformance.ResourceAPIScope, time.Time{}, nil)
	if err != nil {
		return err
	}
	r, err := x.send(map[string]any{"resource_token": up, "presented_token": at.raw})
	if err != nil {
		return err
	}
	if r, err = t.resolve(ctx, x.a, r, true, "let "+x.a.ID+" read the calendar again (step-up)"); err != nil {
		return err
	}
	sv := verdict{}
	if s, _ := r.Body["auth_token"].(string); r.Status != http.StatusOK || s == "" {
		sv.add(MUST, "%s, want 200 {auth_token}", r)
	} else if nt, err := t.verifyIssued(ctx, s, aauth.TypAuthToken, x.rs.Issuer(), x.a.Key); err != nil {
		sv.addErr(MUST, err)
	} else if nt.num("exp") > at.num("exp") {
		sv.add(MUST, "the new auth token's exp %d is after the presented auth token's %d", nt.num("exp"), at.num("exp"))
	}
	rec("PS-273 step-up: an RT naming an auth token, sent with it, gives a token expiring no later", sv.err())

	if err := t.resourceRevocation(ctx, rec, x); err != nil {
		return err
	}
	if err := t.presentedForAnother(ctx, rec, x); err != nil {
		return err
	}
	if err := t.noCapabilities(ctx, rec); err != nil {
		return err
	}
	if err := t.concurrentRequests(ctx, rec, x); err != nil {
		return err
	}
	return t.resourceInteraction(ctx, rec, x)
}

// resourceRevocation: the test resource revokes, signed as itself, a
// resource token the PS never saw; the PS answers 200 at once and refuses
// the token afterwards (PS-288, PS-269).
func (t *Target) resourceRevocation(ctx context.Context, rec recorder, x *threeParty) error {
	const k288 = "PS-288 a resource's revocation of a never-seen RT is answered 200 at once"
	const k269 = "PS-269 an RT its resource revoked gets 400 revoked_resource_token"
	ep, err := t.advertised(ctx, "revocation_endpoint")
	if err != nil {
		return err
	}
	if ep == "" {
		rec(k288, NotApplicable("revocation_endpoint not advertised"))
		rec(k269, NotApplicable("revocation_endpoint not advertised"))
		return nil
	}
	jti := randomHex(16)
	rt := x.mint(func(s *conformance.ResourceTokenSpec) { s.JTI = jti })
	body := []byte(`{"jti":"` + jti + `","exp":` + itoa(tokenExp(rt)) + `}`)
	req, err := newRequest(http.MethodPost, ep, body)
	if err != nil {
		return err
	}
	signer := &conformance.Signer{Key: x.rs.Key(), Member: conformance.JWKSURIMember(x.rs.Issuer(), aauth.DWKResource, x.rs.Key().Thumbprint())}
	if _, err := signer.Sign(req, body); err != nil {
		return err
	}
	r, err := t.Do(ctx, req)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		rec(k288, Failf(MUST, "%s, want 200 (a resource token has nothing downstream)", r))
		rec(k269, Skip("the revocation was not recorded: %s", r))
		return nil
	}
	rec(k288, nil)
	if r, err = x.send(map[string]any{"resource_token": rt, "presented_token": x.pt.raw}); err != nil {
		return err
	}
	rec(k269, ExpectProblem(r, http.StatusBadRequest, aauth.ErrRevokedResourceToken))
	return nil
}

// noCapabilities: a never-connected agent asks for a person token without
// capabilities. The PS assumes none: it cannot send the agent's user to an
// interaction, so it answers 403 user_unreachable, or reaches the person
// through its own channel (requirement=approval) (PS-100).
func (t *Target) noCapabilities(ctx context.Context, rec recorder) error {
	const key = "PS-100 unknown capabilities are ignored; absent capabilities assume none"
	e3, err := t.need(ctx, "person_token_endpoint")
	if err != nil {
		return err
	}
	n, err := t.newFlowAgent("nocap")
	if err != nil {
		return err
	}
	r, err := t.agentSend(ctx, n, http.MethodPost, e3, jsonBody(map[string]any{"resource": t.Resource.Issuer()}), nil)
	if err != nil {
		return err
	}
	if r.Status == http.StatusAccepted {
		req, err := conformance.ParseRequirement(r.Header.Values("AAuth-Requirement"))
		if err != nil || req.Token == "interaction" {
			rec(key, Failf(MUST, "without capabilities the PS answered 202 %v (requirement %q): the agent did not offer interaction", err, req.Token))
			return nil
		}
		rec(key, nil)
		return nil
	}
	rec(key, ExpectProblem(r, http.StatusForbidden, aauth.ErrUserUnreachable))
	return nil
}

// concurrentRequests: two resource tokens for scopes not yet consented
// are submitted together; the person denies one and approves the other
// (PS-101, PS-112); the approved token's identity claims are checked
// (PS-110).
func (t *Target) concurrentRequests(ctx context.Context, rec recorder, x *threeParty) error {
	const k101 = "PS-101 two deferred requests have their own Location; denying one leaves the other"
	const k112 = "PS-112 a denied request ends with 403 denied and never gives a token"
	md, err := t.Metadata(ctx)
	if err != nil {
		return err
	}
	scope1 := "calendar.write"
	if ss, _ := md["scopes_supported"].([]any); slices.Contains(ss, any("email")) {
		scope1 += " email"
	}
	mk := func(scope string) string { return x.mint(func(s *conformance.ResourceTokenSpec) { s.Scope = scope }) }
	r1, err := x.send(map[string]any{"resource_token": mk(scope1), "presented_token": x.pt.raw, "justification": "aauth-conformance: write the calendar"})
	if err != nil {
		return err
	}
	r2, err := x.send(map[string]any{"resource_token": mk("payments.charge"), "presented_token": x.pt.raw, "justification": "aauth-conformance: charge a payment"})
	if err != nil {
		return err
	}
	if r1.Status != http.StatusAccepted || r2.Status != http.StatusAccepted {
		rec(k101, Skip("both requests were not deferred: %s; %s", r1, r2))
		rec(k112, Skip("the request to deny was not deferred: %s", r2))
		return nil
	}
	loc1, err := t.location(r1)
	if err != nil {
		return err
	}
	loc2, err := t.location(r2)
	if err != nil {
		return err
	}
	v := verdict{}
	if loc1 == loc2 {
		v.add(MUST, "both requests have Location %s", loc1)
	}
	d, err := t.resolve(ctx, x.a, r2, false, "deny "+x.a.ID+" charging a payment")
	if err != nil {
		return err
	}
	dv := verdict{}
	dv.addErr(MUST, ExpectProblem(d, http.StatusForbidden, aauth.ErrDenied))
	after, err := t.agentSend(ctx, x.a, http.MethodGet, loc2, nil, nil)
	if err != nil {
		return err
	}
	if after.Status == http.StatusOK || after.Body["auth_token"] != nil {
		dv.add(MUST, "a poll after the denial: %s", after)
	}
	rec(k112, dv.err())
	p1, err := t.agentSend(ctx, x.a, http.MethodGet, loc1, nil, nil)
	if err != nil {
		return err
	}
	if p1.Status != http.StatusAccepted {
		v.add(MUST, "after the other request was denied this one answered %s, want 202", p1)
		return rec(k101, v.err())
	}
	ok, err := t.resolve(ctx, x.a, p1, true, "let "+x.a.ID+" write the calendar")
	if err != nil {
		return err
	}
	s, _ := ok.Body["auth_token"].(string)
	if ok.Status != http.StatusOK || s == "" {
		v.add(MUST, "the approved request: %s, want 200 {auth_token}", ok)
		return rec(k101, v.err())
	}
	rec(k101, v.err())
	tok, err := t.verifyIssued(ctx, s, aauth.TypAuthToken, x.rs.Issuer(), x.a.Key)
	if err != nil {
		return rec("PS-110 identity claims only with their granted scope, each in claims_supported", err)
	}
	rec("PS-110 identity claims only with their granted scope, each in claims_supported", identityClaims(tok, md))
	return nil
}

// resourceInteraction: resource tokens with an interaction claim naming
// the test resource's interaction endpoint. The PS defers, sends the
// person to the resource with the claim's code and a PS callback, and
// issues only after the callback and its own consent (PS-113, PS-115);
// a callback with an error ends the request with the mapped error
// (PS-114).
func (t *Target) resourceInteraction(ctx context.Context, rec recorder, x *threeParty) error {
	const k113 = "PS-113 an RT's interaction sends the person to the resource with its code and a PS callback"
	const k115 = "PS-115 an RT's interaction: no token before the resource's callback and the consent"
	const k114 = "PS-114 resource callback errors give 403 denied, 403 abandoned, 408 expired, 500 server_error"
	withInteraction := func(code string) string {
		return x.mint(func(s *conformance.ResourceTokenSpec) {
			s.Overrides = map[string]any{"interaction": map[string]any{"url": x.rs.Issuer() + conformance.ResourceInteractionPath, "code": code}}
		})
	}
	code := "CF-" + strings.ToUpper(randomHex(4))
	before := len(x.rs.InteractionVisits())
	r, err := x.send(map[string]any{"resource_token": withInteraction(code), "presented_token": x.pt.raw})
	if err != nil {
		return err
	}
	// The scope was consented already: only the resource's step defers.
	if r.Status != http.StatusAccepted {
		rec(k115, Failf(MUST, "%s, want 202 until the resource's interaction is done", r))
		rec(k113, Skip("the request was not deferred"))
		return nil
	}
	if r, err = t.resolve(ctx, x.a, r, true, "go through the resource's own step, then let "+x.a.ID+" read the calendar"); err != nil {
		return err
	}
	v113 := verdict{}
	visits := x.rs.InteractionVisits()[before:]
	i := slices.IndexFunc(visits, func(v conformance.InteractionVisit) bool { return v.Code == code })
	if i < 0 {
		v113.add(MUST, "the resource's interaction endpoint saw no visit with code %s (%d visits)", code, len(visits))
	} else if !strings.HasPrefix(visits[i].Callback, t.Issuer+"/") {
		v113.add(MUST, "callback %q is not on the PS origin", visits[i].Callback)
	}
	rec(k113, v113.err())
	v115 := verdict{}
	if s, _ := r.Body["auth_token"].(string); r.Status != http.StatusOK || s == "" {
		v115.add(MUST, "after the resource's step and the consent: %s, want 200 {auth_token}", r)
	} else if i < 0 {
		v115.add(MUST, "a token was issued though the resource's callback never came")
	}
	rec(k115, v115.err())

	if t.Person == nil {
		rec(k114, errNoPerson)
		return nil
	}
	defer x.rs.SetInteractionError("")
	v114 := verdict{}
	for _, c := range []struct {
		callback string
		status   int
		code     string
	}{
		{"access_denied", http.StatusForbidden, aauth.ErrDenied},
		{"user_abandoned", http.StatusForbidden, aauth.ErrAbandoned},
		{"interaction_expired", http.StatusRequestTimeout, aauth.ErrExpired},
		{"server_error", http.StatusInternalServerError, aauth.ErrServerError},
		{"temporarily_unavailable", http.StatusInternalServerError, aauth.ErrServerError},
	} {
		x.rs.SetInteractionError(c.callback)
		code := "CF-" + strings.ToUpper(randomHex(4))
		r, err := x.send(map[string]any{"resource_token": withInteraction(code), "presented_token": x.pt.raw})
		if err != nil {
			return err
		}
		if r.Status != http.StatusAccepted {
			v114.add(MUST, "%s: %s, want 202", c.callback, r)
			continue
		}
		loc, err := t.location(r)
		if err != nil {
			return err
		}
		req, err := conformance.ParseRequirement(r.Header.Values("AAuth-Requirement"))
		if err != nil {
			return err
		}
		// The person is sent back with the error before any consent: the
		// person step ends without a decision, which is not an error here.
		_ = t.Person.Decide(ctx, Interaction{URL: req.Params["url"], Code: req.Params["code"], Approve: true,
			What: "go through the resource's own step (it answers " + c.callback + ")",
			Visited: func() bool {
				return slices.ContainsFunc(x.rs.InteractionVisits(), func(v conformance.InteractionVisit) bool { return v.Code == code })
			}})
		end, err := t.pollEnd(ctx, x.a, loc, time.Minute)
		if err != nil {
			return err
		}
		v114.addErr(MUST, prefixed(c.callback, ExpectProblem(end, c.status, c.code)))
	}
	rec(k114, v114.err())
	return nil
}

// pollEnd polls a pending URL as a until the answer is not 202, for at
// most limit (then the last 202 is returned).
func (t *Target) pollEnd(ctx context.Context, a *conformance.Agent, loc string, limit time.Duration) (*Response, error) {
	deadline := time.Now().Add(limit)
	for {
		r, err := t.agentSend(ctx, a, http.MethodGet, loc, nil, http.Header{"Prefer": {"wait=5"}})
		if err != nil || r.Status != http.StatusAccepted || time.Now().After(deadline) {
			return r, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retryAfter(r)):
		}
	}
}

// presentedForAnother: the connected agent's person token for another
// server (the suite's agent provider, any server identifier will do) is
// sent with a test-resource RT whose other claims match it (PS-262).
func (t *Target) presentedForAnother(ctx context.Context, rec recorder, x *threeParty) error {
	const key = "PS-262 a presented token whose aud is not the RT's iss gets 400 invalid_presented_token"
	e3, err := t.need(ctx, "person_token_endpoint")
	if err != nil {
		return err
	}
	other := t.AP.Issuer()
	r, err := t.agentSend(ctx, x.a, http.MethodPost, e3, jsonBody(map[string]any{"resource": other, "capabilities": []string{"interaction"}}), nil)
	if err != nil {
		return err
	}
	if r, err = t.resolve(ctx, x.a, r, true, "let "+x.a.ID+" act at "+other); err != nil {
		return err
	}
	pt2, _ := r.Body["person_token"].(string)
	if r.Status != http.StatusOK || pt2 == "" {
		rec(key, Skip("no person token for %s: %s", other, r))
		return nil
	}
	rt, err := x.rs.MintFor(pt2, x.a.Key, conformance.ResourceAPIScope, time.Time{}, nil)
	if err != nil {
		return err
	}
	if r, err = x.send(map[string]any{"resource_token": rt, "presented_token": pt2}); err != nil {
		return err
	}
	rec(key, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidPresentedToken))
	return nil
}
