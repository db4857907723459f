package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// Discovery is the egress-guarded, cached discovery (*fetch.Discovery).
type Discovery interface {
	Keys
	Metadata(ctx context.Context, issuer, dwk string) (map[string]any, error)
}

// HTTP sends a request under the egress policy with timeouts and a bounded
// body (*fetch.Client).
type HTTP interface {
	Do(req *http.Request) (*fetch.Response, error)
}

// Admitter applies the egress policy to a URL without fetching it
// (*fetch.Client), before the PS hands it to a browser or an agent.
type Admitter interface {
	Admit(ctx context.Context, rawURL string) error
}

// Signer signs the PS's own requests as a server (*pssign.Signer).
type Signer interface {
	Sign(ctx context.Context, req *http.Request, body []byte) error
}

// Options configure a Client.
type Options struct {
	Issuer     string
	Discovery  Discovery
	HTTP       HTTP
	Signer     Signer
	Now        func() time.Time
	Window     time.Duration
	AcceptAlgs []string
	Logger     *slog.Logger
	// Budget bounds how long one Start or Resume keeps polling an AS that
	// says approval (or nothing) before it hands a Waiting outcome back.
	// Default 10 s.
	Budget time.Duration
	// Sleep waits d (tests may shorten it); default a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Admit checks an AS's interaction url against the egress policy;
	// default HTTP when it is an Admitter, else the production policy
	// (public https destinations only).
	Admit Admitter
}

// Client talks to access servers for this PS.
type Client struct{ o Options }

// Budget is how long one Start, Resume or Answer may keep polling.
func (c *Client) Budget() time.Duration { return c.o.Budget }

// New returns a Client.
func New(o Options) *Client {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Budget <= 0 {
		o.Budget = 10 * time.Second
	}
	if o.Window == 0 {
		o.Window = aauth.DefaultSignatureWindowSeconds * time.Second
	}
	if o.Admit == nil {
		if a, ok := o.HTTP.(Admitter); ok {
			o.Admit = a
		} else {
			o.Admit, _ = fetch.New(fetch.Config{}) // the zero Config cannot fail
		}
	}
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return &Client{o: o}
}

// Request is one four-party token request: the tokens passed to the AS
// exactly as the agent sent them (PS-121) and what the delivered token
// must say.
type Request struct {
	ResourceToken  string `json:"resource_token"`
	AgentToken     string `json:"agent_token"`
	PresentedToken string `json:"presented_token"`
	SubagentToken  string `json:"subagent_token,omitempty"`
	UpstreamToken  string `json:"upstream_token,omitempty"`
	// Expect: iss (the AS), aud, cnf, sub, scope, exp.
	Expect Expected `json:"-"`
}

// ReleaseFunc answers requirement=claims: the claims of the person this PS
// releases to the AS (never sub, PS-124), out of required.
type ReleaseFunc func(ctx context.Context, as string, required []string) (map[string]any, error)

// Requirements of a Waiting outcome besides the AS's own values.
const (
	// WaitPayment: the AS answered 402 (P§as-response).
	WaitPayment = "payment"
	// WaitPending: the AS is still deciding (approval, or no requirement)
	// and the budget ran out; Resume later.
	WaitPending = "pending"
)

// Outcome is where the loop stopped: a verified token, or a wait.
type Outcome struct {
	Token *Delivered
	// Wait is set when the AS needs what only the caller can give, or
	// more time: interaction (URL, Code), clarification (Question),
	// payment (Payment), or pending.
	Wait *Wait
}

// Wait describes an AS pending state the caller continues with Resume.
type Wait struct {
	Requirement string        `json:"requirement"`
	Location    string        `json:"location"`
	URL         string        `json:"url,omitempty"`
	Code        string        `json:"code,omitempty"`
	Question    string        `json:"question,omitempty"`
	Payment     string        `json:"payment,omitempty"`
	RetryAfter  time.Duration `json:"retry_after,omitempty"`
	// Claims are the AS's required_claims (WaitClaims), sub removed.
	Claims []string `json:"claims,omitempty"`
	// Options and Deadline come with a clarification (WaitClarification
	// requirement): the AS's discrete answers, and when it stops waiting
	// for one (its timeout from when the PS read it; zero when it gave
	// none).
	Options  []string  `json:"options,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"`
}

// Bounds on an AS's clarification, as on the PS's own questions: the
// question is stored and shown like one (pending.MaxMarkdown).
const (
	maxQuestionBytes   = pending.MaxMarkdown
	maxQuestionOptions = 20
	maxOptionBytes     = 256
	// maxQuestionTimeout caps an AS's timeout: beyond it the PS's own
	// request lifetime ends first.
	maxQuestionTimeout = 24 * time.Hour
)

// clarification reads an AS's requirement=clarification body (P§clarification:
// clarification REQUIRED, timeout and options OPTIONAL). Malformed
// optional members fail it too: an AS that cannot say its question
// cleanly is not one the PS relays.
func clarification(body []byte, now time.Time) (*Wait, error) {
	var b struct {
		Clarification string          `json:"clarification"`
		Timeout       json.RawMessage `json:"timeout"`
		Options       json.RawMessage `json:"options"`
	}
	if json.Unmarshal(body, &b) != nil || strings.TrimSpace(b.Clarification) == "" {
		return nil, errors.New("no clarification")
	}
	if len(b.Clarification) > maxQuestionBytes || !storable(b.Clarification) {
		return nil, fmt.Errorf("the clarification is not text of at most %d bytes", maxQuestionBytes)
	}
	w := &Wait{Requirement: aauth.RequirementClarification, Question: b.Clarification}
	if len(b.Timeout) > 0 && string(b.Timeout) != "null" {
		secs, err := strconv.ParseInt(string(b.Timeout), 10, 64)
		if err != nil || secs <= 0 {
			return nil, fmt.Errorf("timeout %.20q is not a positive whole number of seconds", b.Timeout)
		}
		w.Deadline = now.Add(time.Duration(min(secs, int64(maxQuestionTimeout/time.Second))) * time.Second).UTC().Truncate(time.Second)
	}
	if len(b.Options) > 0 && string(b.Options) != "null" {
		if json.Unmarshal(b.Options, &w.Options) != nil || len(w.Options) == 0 || len(w.Options) > maxQuestionOptions {
			return nil, fmt.Errorf("options must be an array of 1 to %d strings", maxQuestionOptions)
		}
		for _, o := range w.Options {
			if strings.TrimSpace(o) == "" || len(o) > maxOptionBytes || !storable(o) {
				return nil, fmt.Errorf("options must be non-empty strings of at most %d bytes", maxOptionBytes)
			}
		}
	}
	return w, nil
}

// storable: valid UTF-8 without NUL, which neither database stores as
// text (and an AS must not turn that into a failed update).
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// Unreachable is `502 as_unreachable` (P§auth-token-delivery).
func Unreachable() *aauth.Problem {
	return aauth.NewProblem(http.StatusBadGateway, aauth.ErrASUnreachable,
		"no verifiable auth token could be obtained from the resource's access server")
}

// Metadata is an AS's metadata document, as far as the PS uses it.
type Metadata struct {
	Issuer             string
	Name               string
	TokenEndpoint      string
	RevocationEndpoint string
}

// Discover reads {as}/.well-known/aauth-access.json through the discovery
// cache (egress policy, bounded, cached): issuer must equal as, and
// auth_token_endpoint must be an https URL the fetcher will admit later
// (PS-117, PS-118).
func (c *Client) Discover(ctx context.Context, as string) (*Metadata, error) {
	md, err := c.o.Discovery.Metadata(ctx, as, aauth.DWKAccess)
	if err != nil {
		return nil, err
	}
	m := &Metadata{}
	m.Issuer, _ = md["issuer"].(string)
	m.Name, _ = md["name"].(string)
	m.TokenEndpoint, _ = md["auth_token_endpoint"].(string)
	m.RevocationEndpoint, _ = md["revocation_endpoint"].(string)
	if m.Issuer != as {
		return nil, fmt.Errorf("federation: %s metadata names issuer %q", as, m.Issuer)
	}
	if u, err := url.Parse(m.TokenEndpoint); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("federation: %s has no usable auth_token_endpoint", as)
	}
	return m, nil
}

// Start discovers the AS and sends the signed token request, then follows
// the loop (see Resume). Errors are *aauth.Problem: a relayed AS error or
// as_unreachable; the reason of the latter is logged.
func (c *Client) Start(ctx context.Context, r *Request, release ReleaseFunc) (*Outcome, error) {
	deadline := c.deadline()
	as := r.Expect.AccessServer
	md, err := c.Discover(ctx, as)
	if err != nil {
		return nil, c.unreachable(ctx, as, "discovery", err)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	res, err := c.send(ctx, http.MethodPost, md.TokenEndpoint, body)
	if err != nil {
		return nil, c.unreachable(ctx, as, "token request", err)
	}
	return c.loopUntil(ctx, r, res, "", release, deadline)
}

// Resume polls the AS at w.Location and follows the loop: claims are
// released and posted, approval and 429 are waited out within the budget
// (Retry-After, 5 s when absent, 5 s more after a 429: PS-127), and the
// loop stops at a token, an error, or a Wait.
func (c *Client) Resume(ctx context.Context, r *Request, location string, release ReleaseFunc) (*Outcome, error) {
	return c.poll(ctx, r, location, release, c.deadline())
}

// Answer posts body (a clarification_response) to the AS's Location and
// follows the loop.
func (c *Client) Answer(ctx context.Context, r *Request, location string, body map[string]any, release ReleaseFunc) (*Outcome, error) {
	deadline := c.deadline()
	as := r.Expect.AccessServer
	if err := sameOrigin(as, location); err != nil {
		return nil, c.unreachable(ctx, as, "location", err)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	res, err := c.send(ctx, http.MethodPost, location, raw)
	if err != nil {
		return nil, c.unreachable(ctx, as, "answer", err)
	}
	return c.loopUntil(ctx, r, res, location, release, deadline)
}

func (c *Client) poll(ctx context.Context, r *Request, location string, release ReleaseFunc, deadline time.Time) (*Outcome, error) {
	as := r.Expect.AccessServer
	res, err := c.send(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, c.unreachable(ctx, as, "poll", err)
	}
	return c.loopUntil(ctx, r, res, location, release, deadline)
}

// deadline ends the budget of a Start, Resume, Answer or Claims that
// begins now: its first exchange counts against it too.
func (c *Client) deadline() time.Time { return c.o.Now().Add(c.o.Budget) }

// maxRounds bounds one loop whatever the AS answers.
const maxRounds = 32

func (c *Client) loopUntil(ctx context.Context, r *Request, res *fetch.Response, location string, release ReleaseFunc, deadline time.Time) (*Outcome, error) {
	as := r.Expect.AccessServer
	extra := time.Duration(0)
	for range maxRounds {
		if loc := res.Header.Get("Location"); loc != "" {
			if err := sameOrigin(as, loc); err != nil {
				return nil, c.unreachable(ctx, as, "location", err)
			}
			location = loc
		}
		wait := retryAfter(res.Header, 5*time.Second)
		switch {
		case res.StatusCode == http.StatusOK:
			return c.deliver(ctx, r, res)
		case res.StatusCode == http.StatusPaymentRequired:
			if location == "" {
				return nil, c.unreachable(ctx, as, "402", errors.New("402 without Location"))
			}
			return &Outcome{Wait: &Wait{Requirement: WaitPayment, Location: location, Payment: res.Header.Get("WWW-Authenticate")}}, nil
		case res.StatusCode == http.StatusTooManyRequests && location != "":
			extra += 5 * time.Second
		case res.StatusCode == http.StatusAccepted:
			if location == "" {
				return nil, c.unreachable(ctx, as, "202", errors.New("202 without Location"))
			}
			req, params, err := requirement(res.Header.Values(aauth.HeaderAAuthRequirement))
			if err != nil {
				return nil, c.unreachable(ctx, as, "202", err)
			}
			switch req {
			case "claims":
				// Each claims round is an exchange like a poll: the budget
				// bounds them too (the next Resume meets the claims again).
				if !c.o.Now().Before(deadline) {
					return &Outcome{Wait: &Wait{Requirement: WaitPending, Location: location, RetryAfter: wait}}, nil
				}
				out, err := c.postClaims(ctx, r, res, location, release)
				var ask *askPerson
				if errors.As(err, &ask) {
					return &Outcome{Wait: &Wait{Requirement: WaitClaims, Location: location, Claims: ask.required}}, nil
				}
				if err != nil {
					return nil, err
				}
				res = out
				continue
			case aauth.RequirementInteraction:
				if err := checkInteraction(params["url"], params["code"]); err != nil {
					return nil, c.unreachable(ctx, as, "interaction", err)
				}
				// Shown to the person or passed to the agent: never a
				// destination the PS itself would refuse.
				if err := c.o.Admit.Admit(ctx, params["url"]); err != nil {
					return nil, c.unreachable(ctx, as, "interaction", err)
				}
				return &Outcome{Wait: &Wait{Requirement: req, Location: location, URL: params["url"], Code: params["code"]}}, nil
			case aauth.RequirementClarification:
				w, err := clarification(res.Body, c.o.Now())
				if err != nil {
					return nil, c.unreachable(ctx, as, "clarification", err)
				}
				w.Location = location
				return &Outcome{Wait: w}, nil
			case "", aauth.RequirementApproval:
			default:
				return nil, c.unreachable(ctx, as, "202", fmt.Errorf("unknown requirement %q", req))
			}
		default:
			return nil, c.terminal(ctx, as, res)
		}
		wait += extra
		if c.o.Now().Add(wait).After(deadline) {
			return &Outcome{Wait: &Wait{Requirement: WaitPending, Location: location, RetryAfter: wait}}, nil
		}
		if err := c.o.Sleep(ctx, wait); err != nil {
			return nil, c.unreachable(ctx, as, "poll", err)
		}
		next, err := c.send(ctx, http.MethodGet, location, nil)
		if err != nil {
			return nil, c.unreachable(ctx, as, "poll", err)
		}
		res = next
	}
	return nil, c.unreachable(ctx, as, "poll", errors.New("too many rounds"))
}

// postClaims releases what the person allows of required_claims, never
// sub (PS-124), and posts it signed to the Location. A release that must
// ask the person first (ErrAskPerson) posts nothing: *askPerson.
func (c *Client) postClaims(ctx context.Context, r *Request, res *fetch.Response, location string, release ReleaseFunc) (*fetch.Response, error) {
	var b struct {
		Required []string `json:"required_claims"`
	}
	if err := json.Unmarshal(res.Body, &b); err != nil || b.Required == nil {
		return nil, c.unreachable(ctx, r.Expect.AccessServer, "claims", errors.New("no required_claims"))
	}
	// sub is never released (PS-124); a name no claim could have is
	// dropped (bounded display).
	required := slices.DeleteFunc(slices.Clone(b.Required), func(s string) bool { return s == "sub" || s == "" || len(s) > 64 })
	if len(required) > maxClaims {
		return nil, c.unreachable(ctx, r.Expect.AccessServer, "claims", errors.New("too many required_claims"))
	}
	return c.sendClaims(ctx, r, location, required, release)
}

// maxClaims bounds an AS's required_claims.
const maxClaims = 32

type askPerson struct{ required []string }

func (a *askPerson) Error() string { return ErrAskPerson.Error() }

func (c *Client) sendClaims(ctx context.Context, r *Request, location string, required []string, release ReleaseFunc) (*fetch.Response, error) {
	as := r.Expect.AccessServer
	claims := map[string]any{}
	if release != nil && len(required) > 0 {
		got, err := release(ctx, as, required)
		if errors.Is(err, ErrAskPerson) {
			return nil, &askPerson{required: required}
		}
		if err != nil {
			return nil, err
		}
		for k, v := range got {
			if k != "sub" && slices.Contains(required, k) {
				claims[k] = v
			}
		}
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	out, err := c.send(ctx, http.MethodPost, location, raw)
	if err != nil {
		return nil, c.unreachable(ctx, as, "claims", err)
	}
	return out, nil
}

// Claims answers a WaitClaims after the person chose: release (which must
// not ask again) gives the claims posted to w.Location, and the loop goes
// on.
func (c *Client) Claims(ctx context.Context, r *Request, w *Wait, release ReleaseFunc) (*Outcome, error) {
	deadline := c.deadline()
	as := r.Expect.AccessServer
	if err := sameOrigin(as, w.Location); err != nil {
		return nil, c.unreachable(ctx, as, "location", err)
	}
	res, err := c.sendClaims(ctx, r, w.Location, w.Claims, release)
	if err != nil {
		var ask *askPerson
		if errors.As(err, &ask) {
			return nil, errors.New("federation: the release asked the person again")
		}
		return nil, err
	}
	return c.loopUntil(ctx, r, res, w.Location, release, deadline)
}

// deliver checks the 200's auth token; a failure is as_unreachable.
func (c *Client) deliver(ctx context.Context, r *Request, res *fetch.Response) (*Outcome, error) {
	as := r.Expect.AccessServer
	var b struct {
		AuthToken string `json:"auth_token"`
	}
	if err := json.Unmarshal(res.Body, &b); err != nil || b.AuthToken == "" {
		return nil, c.unreachable(ctx, as, "grant", errors.New("malformed 200 body"))
	}
	e := r.Expect
	e.Now, e.Window, e.AcceptAlgs = c.o.Now(), c.o.Window, c.o.AcceptAlgs
	d, err := CheckDelivered(ctx, b.AuthToken, c.o.Discovery, e)
	if err != nil {
		return nil, c.unreachable(ctx, as, "delivery check", err)
	}
	return &Outcome{Token: d}, nil
}

// terminal relays a well-formed AS 4xx error with its status and code
// (detail sanitized); anything else is as_unreachable (PS-130).
func (c *Client) terminal(ctx context.Context, as string, res *fetch.Response) error {
	var b struct {
		Error  string `json:"error"`
		Detail string `json:"detail"`
	}
	if res.StatusCode < 400 || res.StatusCode >= 500 || json.Unmarshal(res.Body, &b) != nil || !wellFormedCode(b.Error) {
		return c.unreachable(ctx, as, "answer", fmt.Errorf("status %d", res.StatusCode))
	}
	detail := "the access server answered " + b.Error
	if d := sanitize(b.Detail); d != "" {
		detail += ": " + d
	}
	p := aauth.NewProblem(res.StatusCode, b.Error, detail)
	p.Extra = map[string]any{"access_server": as}
	return p
}

func wellFormedCode(s string) bool {
	return s != "" && len(s) <= 64 && strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r == '_') }) < 0
}

// sanitize keeps printable text, bounded.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}

func (c *Client) unreachable(ctx context.Context, as, stage string, err error) error {
	c.o.Logger.WarnContext(ctx, "federation: as_unreachable", "access_server", as, "stage", stage, "reason", err.Error())
	p := Unreachable()
	p.Cause = err
	return p
}

// send signs and sends a request to the AS (PS-119, PS-120).
func (c *Client) send(ctx context.Context, method, target string, body []byte) (*fetch.Response, error) {
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequestWithContext(ctx, method, target, rd)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, target, nil)
	}
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if err := c.o.Signer.Sign(ctx, req, body); err != nil {
		return nil, err
	}
	return c.o.HTTP.Do(req)
}

// sameOrigin refuses a Location on another origin than the AS (PS-128).
func sameOrigin(as, loc string) error {
	a, err1 := url.Parse(as)
	l, err2 := url.Parse(loc)
	if err1 != nil || err2 != nil || l.Scheme != a.Scheme || !strings.EqualFold(l.Host, a.Host) || l.User != nil {
		return fmt.Errorf("location %q is not on the access server's origin", loc)
	}
	return nil
}

func retryAfter(h http.Header, def time.Duration) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return def
	}
	return min(time.Duration(n)*time.Second, time.Minute)
}

// requirement parses AAuth-Requirement (an SF dictionary whose
// `requirement` member is a token with string parameters).
func requirement(vals []string) (string, map[string]string, error) {
	if len(vals) == 0 {
		return "", nil, nil
	}
	d, err := httpsfv.UnmarshalDictionary(vals)
	if err != nil {
		return "", nil, fmt.Errorf("AAuth-Requirement: %w", err)
	}
	m, ok := d.Get("requirement")
	it, isItem := m.(httpsfv.Item)
	tok, isTok := it.Value.(httpsfv.Token)
	if !ok || !isItem || !isTok {
		return "", nil, errors.New("AAuth-Requirement has no requirement token")
	}
	params := map[string]string{}
	for _, k := range it.Params.Names() {
		v, _ := it.Params.Get(k)
		if s, ok := v.(string); ok {
			params[k] = s
		}
	}
	return string(tok), params, nil
}
