package suite

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// r3Doc is the R3 document the test resource publishes (R3 -02): one
// vocabulary, two operations, a display.
const r3Doc = `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"create_calendar_event"},{"tool":"modify_calendar_event"}],` +
	`"display":{"summary":"Create and modify events on your calendar","implications":"Meetings can be moved.","data_accessed":"Event titles"}}`

// r3Flow (PS §3.22, R3): resource tokens naming an R3 document. Broken
// pairs of claims, an http r3_uri and a document that does not match its
// hash are refused; a good one is fetched signed as the PS, consented to,
// and carried into the auth token.
func r3Flow(ctx context.Context, t *Target, rec recorder) error {
	e4, err := t.need(ctx, "auth_token_endpoint")
	if err != nil {
		return err
	}
	if t.Resource == nil {
		return Skip("no test resource the PS can reach")
	}
	b, err := t.bound(ctx)
	if err != nil {
		return err
	}
	a, pt, rs := b.agent, b.pt, t.Resource
	// A fresh path per run: a PS may keep documents it verified.
	path := "/r3/cf-" + randomHex(6)
	uri, s256 := rs.PublishR3(path, []byte(r3Doc))
	mint := func(over map[string]any) (string, error) {
		return rs.MintFor(pt.raw, a.Key, "", time.Time{}, func(s *conformance.ResourceTokenSpec) { s.Overrides = over })
	}
	send := func(rt string) (*Response, error) {
		return t.agentSend(ctx, a, http.MethodPost, e4, jsonBody(map[string]any{"resource_token": rt, "presented_token": pt.raw,
			"capabilities": []string{"interaction"}}), nil)
	}
	refuse := func(v *verdict, level, what string, over map[string]any) error {
		rt, err := mint(over)
		if err != nil {
			return err
		}
		r, err := send(rt)
		if err != nil {
			return err
		}
		v.addErr(level, prefixed(what, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidResourceToken)))
		return nil
	}
	v := verdict{}
	if err := refuse(&v, MUST, "r3_uri without r3_s256", map[string]any{"r3_uri": uri}); err != nil {
		return err
	}
	if err := refuse(&v, MUST, "r3_s256 without r3_uri", map[string]any{"r3_s256": s256}); err != nil {
		return err
	}
	rec("PS-240 a resource token with only one of r3_uri and r3_s256 gets 400 invalid_resource_token", v.err())
	v = verdict{}
	if err := refuse(&v, IMPL, "an http r3_uri", map[string]any{"r3_uri": "http" + uri[len("https"):], "r3_s256": s256}); err != nil {
		return err
	}
	rec("PS-242 an http r3_uri gets 400 invalid_resource_token", v.err())
	// The hash of one document, then other bytes at its URL.
	altered := path + "-altered"
	altURI, altS256 := rs.PublishR3(altered, []byte(r3Doc[:len(r3Doc)-2]+`,"detail":"first"}}`))
	rs.PublishR3(altered, []byte(r3Doc[:len(r3Doc)-2]+`,"detail":"second"}}`))
	v = verdict{}
	if err := refuse(&v, MUST, "a document that does not match r3_s256", map[string]any{"r3_uri": altURI, "r3_s256": altS256}); err != nil {
		return err
	}
	rec("PS-243 a fetched R3 document whose SHA-256 differs from r3_s256 gets 400 invalid_resource_token", v.err())

	rt, err := mint(map[string]any{"r3_uri": uri, "r3_s256": s256})
	if err != nil {
		return err
	}
	r, err := send(rt)
	if err != nil {
		return err
	}
	// The resource serves the document only to a request a PS signed as
	// itself; it lists who.
	if f := rs.R3Fetchers(); !slices.Contains(f, t.Issuer) {
		rec("PS-241 the PS fetches r3_uri signed as itself", Failf(MUST, "the document was fetched by %v, not by a request signed as %s; the agent got %s", f, t.Issuer, r))
	} else {
		rec("PS-241 the PS fetches r3_uri signed as itself", nil)
	}
	if r, err = t.resolve(ctx, a, r, true, "let "+a.ID+" create and modify calendar events (R3)"); err != nil {
		return err
	}
	const granted = "PS-245 the auth token carries r3_uri, r3_s256 and r3_granted within the document, no r3_conditional"
	atStr, _ := r.Body["auth_token"].(string)
	if r.Status != http.StatusOK || atStr == "" {
		return rec(granted, Failf(MUST, "an R3 resource token with consent: %s", r))
	}
	at, err := t.verifyIssued(ctx, atStr, aauth.TypAuthToken, rs.Issuer(), a.Key)
	if err != nil {
		return rec(granted, err)
	}
	gv := verdict{}
	if at.str("r3_uri") != uri || at.str("r3_s256") != s256 {
		gv.add(IMPL, "r3_uri %q and r3_s256 %q, want the resource token's", at.str("r3_uri"), at.str("r3_s256"))
	}
	if _, ok := at.claims["r3_conditional"]; ok {
		gv.add(IMPL, "r3_conditional present")
	}
	var doc, got struct {
		Vocabulary string            `json:"vocabulary"`
		Operations []json.RawMessage `json:"operations"`
	}
	_ = json.Unmarshal([]byte(r3Doc), &doc)
	raw, _ := json.Marshal(at.claims["r3_granted"])
	if err := json.Unmarshal(raw, &got); err != nil || got.Vocabulary != doc.Vocabulary || len(got.Operations) == 0 {
		gv.add(IMPL, "r3_granted %s: want the document's vocabulary and some of its operations", raw)
	}
	for _, op := range got.Operations {
		if !slices.ContainsFunc(doc.Operations, func(d json.RawMessage) bool { return jsonEqual(d, op) }) {
			gv.add(IMPL, "r3_granted operation %s is not in the document", op)
		}
	}
	return rec(granted, gv.err())
}

// jsonEqual compares two JSON values, not their bytes.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	p, _ := json.Marshal(x)
	q, _ := json.Marshal(y)
	return string(p) == string(q)
}

var r3Checks = func() []Check {
	s := stepsOf("r3", r3Flow)
	return []Check{
		s("PS-240", "a resource token with only one of r3_uri and r3_s256 gets 400 invalid_resource_token", MUST),
		s("PS-242", "an http r3_uri gets 400 invalid_resource_token", IMPL),
		s("PS-243", "a fetched R3 document whose SHA-256 differs from r3_s256 gets 400 invalid_resource_token", MUST),
		s("PS-241", "the PS fetches r3_uri signed as itself", MUST),
		s("PS-245", "the auth token carries r3_uri, r3_s256 and r3_granted within the document, no r3_conditional", IMPL),
	}
}
