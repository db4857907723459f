package suite

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// The agent's callback (PS-170, P§user-interaction,
// P§interaction-callback-errors): the person opens a new agent's
// interaction with `&callback=`, and the suite looks where the browser
// went. The kit's provider publishes callback_endpoint
// https://HOST/callback and records every visit to it; the test resource
// records visits to its own /callback, an origin the provider never
// registered. Only a browser the suite set up is known to reach both, so
// a callback that saw no visit is "not offered" with any other approver.

// Keys of the callback checks.
const (
	callbackApprovedKey = "PS-170 an approval with the agent's callback sends the browser to it"
	callbackDeniedKey   = "PS-170 a denial with the agent's callback sends the browser to it with error=access_denied"
	callbackForeignKey  = "PS-170 a callback off the origin of the provider's callback_endpoint is not followed"
)

// callbackWait bounds how long a redirect the PS sent may take to reach
// the callback (a page that redirects, on a busy machine).
const callbackWait = 10 * time.Second

// callbackFlow: three never-seen agents ask for their first person token;
// the person approves one and denies one, each with a callback on the
// provider's callback_endpoint, and approves the third with a callback on
// the test resource.
func callbackFlow(ctx context.Context, t *Target, rec recorder) error {
	e3, rs, err := t.e3Resource(ctx)
	if err != nil {
		return err
	}
	if t.Person == nil {
		return errNoPerson
	}
	registered := t.AP.Issuer() + conformance.CallbackPath
	for _, c := range []struct {
		key      string
		approve  bool
		callback string
		// wantError is the error parameter the callback must carry.
		wantError string
		// visits lists the queries the callback's server saw.
		visits  func() []string
		foreign bool
	}{
		{key: callbackApprovedKey, approve: true, callback: registered, visits: t.providerCallbacks},
		{key: callbackDeniedKey, callback: registered, wantError: "access_denied", visits: t.providerCallbacks},
		{key: callbackForeignKey, approve: true, callback: t.Resource.Issuer() + conformance.ResourceCallbackPath,
			visits: t.Resource.CallbackVisits, foreign: true},
	} {
		a, first, err := t.firstRequest(ctx, "cb", e3, rs)
		if err != nil {
			return err
		}
		if first.Status == http.StatusOK {
			rec(c.key, Skip("a new agent got a person token at once (see PS-065): no interaction to bring a callback to"))
			continue
		}
		if err := t.check202(first); err != nil {
			rec(c.key, Skip("the new agent's request: %v", err))
			continue
		}
		link, code, err := checkInteraction(first)
		if err != nil {
			rec(c.key, Skip("the new agent's request: %v", err))
			continue
		}
		nonce := randomHex(8)
		cb := c.callback + "?cf=" + nonce
		shown := false
		decided := t.Person.Decide(ctx, Interaction{URL: link, Code: code, Callback: cb, Approve: c.approve, Shown: func(Page) { shown = true },
			What: callbackWhat(c.approve, c.foreign, a.ID, rs)})
		if c.foreign {
			rec(c.key, foreignCallback(ctx, c.visits, nonce, cb, registered, shown))
			continue
		}
		if decided != nil {
			rec(c.key, Skip("the person step failed: %v", decided))
			continue
		}
		// The decision reached the agent: the person finished here.
		end, err := t.await(ctx, a, first, func(conformance.Requirement) error { return nil })
		if err != nil {
			rec(c.key, err)
			continue
		}
		if want := map[bool]int{true: http.StatusOK, false: http.StatusForbidden}[c.approve]; end.Status != want {
			rec(c.key, Skip("the agent's request ended %s, not as the person decided", end))
			continue
		}
		rec(c.key, followedCallback(ctx, c.visits, nonce, cb, c.wantError, shown))
	}
	return nil
}

// callbackWhat tells a human person what to do.
func callbackWhat(approve, foreign bool, agent, rs string) string {
	switch {
	case foreign:
		return "connect agent " + agent + " and let it act at " + rs + " (the link carries a callback the PS must not follow)"
	case approve:
		return "connect agent " + agent + " and let it act at " + rs + " (the link carries the agent's callback)"
	}
	return "refuse agent " + agent + " (the link carries the agent's callback)"
}

// providerCallbacks are the queries of the visits to the kit provider's
// callback_endpoint.
func (t *Target) providerCallbacks() []string {
	var out []string
	for _, l := range t.AP.RequestLog() {
		if q, ok := strings.CutPrefix(l, "GET "+conformance.CallbackPath+"?"); ok {
			out = append(out, q)
		}
	}
	return out
}

// visitOf waits up to callbackWait for a visit whose cf is nonce and
// returns its query ("" and false when none came).
func visitOf(ctx context.Context, visits func() []string, nonce string, wait time.Duration) (url.Values, bool) {
	deadline := time.Now().Add(wait)
	for {
		for _, raw := range visits() {
			if q, err := url.ParseQuery(raw); err == nil && q.Get("cf") == nonce {
				return q, true
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// followedCallback checks the browser reached cb, with ?error=wantError
// (none when "").
func followedCallback(ctx context.Context, visits func() []string, nonce, cb, wantError string, shown bool) error {
	q, ok := visitOf(ctx, visits, nonce, callbackWait)
	switch {
	case !ok && !shown:
		return NotApplicable("the callback %s saw no visit, and only --approve browser is known to reach it; check by hand that the browser is sent there", cb)
	case !ok:
		return Failf(MUST, "the browser was not sent to the agent's callback %s within %s", cb, callbackWait)
	case q.Get("error") != wantError:
		return Failf(MUST, "the callback was visited with error=%q, want %q", q.Get("error"), wantError)
	}
	return nil
}

// foreignCallback checks no browser reached cb, an origin the agent's
// provider never registered (the IMPL part of PS-170: any PS sending the
// browser there is an open redirector).
func foreignCallback(ctx context.Context, visits func() []string, nonce, cb, registered string, shown bool) error {
	if _, ok := visitOf(ctx, visits, nonce, 3*time.Second); ok {
		return Failf(IMPL, "the browser was sent to %s, off the origin of the provider's callback_endpoint %s", cb, registered)
	}
	if !shown {
		// Nothing says the person's browser could have reached it.
		return errNotShown
	}
	return nil
}

var callbackChecks = func() []Check {
	return keyedSteps("callback", callbackFlow, MUST, callbackApprovedKey, callbackDeniedKey, callbackForeignKey)
}
