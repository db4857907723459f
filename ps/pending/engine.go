package pending

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Errors returned by Engine methods (besides database failures, which wrap
// dberr.ErrDatabase and which callers answer with 500 server_error).
var (
	// ErrNotFound: no pending request has this id (or it was purged).
	// At the interaction URL, render it like ErrInvalidCode.
	ErrNotFound = errors.New("pending: no such pending request")
	// ErrClosed: the request is terminal; it cannot be changed any more.
	ErrClosed = errors.New("pending: the pending request is no longer open")
	// ErrInvalidCode: the interaction code is wrong, already used, or the
	// request failed or ended (answer `invalid_code`, PS-162, PS-163).
	ErrInvalidCode = errors.New("pending: " + aauth.ErrInvalidCode)
	// ErrExpired: the request (and so its code) expired (answer `expired`).
	ErrExpired = errors.New("pending: " + aauth.ErrExpired)
	// ErrNoClarificationCapability: the agent did not declare
	// `clarification`; tell the person the question cannot be relayed (PS-173).
	ErrNoClarificationCapability = errors.New("pending: the agent did not declare the clarification capability")
	// ErrQuestionOutstanding: Ask while the previous question is unanswered.
	ErrQuestionOutstanding = errors.New("pending: a clarification question is already outstanding")
	// ErrClarificationLimit: Ask beyond MaxClarificationRounds; the request
	// has just ended with 403 denied (A-38, PS-178).
	ErrClarificationLimit = errors.New("pending: clarification round limit reached; the request was denied")
	// ErrConflict: the request kept changing under a read-modify-write
	// (retries exhausted). Rare; callers may retry or answer 503.
	ErrConflict = errors.New("pending: the pending request changed concurrently")
)

// Refusal is a problem answer with the caller's own reason for it: the
// requester gets Problem; Reason, a caller-defined code, is stored with
// the result (Request.ResultReason) for the caller's own pages and never
// sent. It unwraps to Problem, so it answers wherever a problem does.
type Refusal struct {
	Problem *aauth.Problem
	Reason  string
}

func (r *Refusal) Error() string { return r.Problem.Error() }

func (r *Refusal) Unwrap() error { return r.Problem }

// RefusedError is a success that Options.Deliverable refused: the request
// was ended with the Refusal instead, in the engine's store. Outside a
// transaction that stands. Inside one, the caller's error rolls it back
// together with what the caller wrote for the answer (a token, a grant),
// and the caller ends the request with the Refusal afterwards (Refuse;
// ps/interact does, for every decision of the person). It unwraps to the
// Problem, so a caller that answers the agent with a problem answers with
// this one.
type RefusedError struct{ Refusal }

func (e *RefusedError) Error() string {
	return "pending: the answer may not be delivered: " + e.Problem.Error()
}

func (e *RefusedError) Unwrap() error { return e.Problem }

// MaxMarkdown caps the Markdown strings this package stores: clarification
// questions and answers and updated_request justifications (A-46: 8 KiB).
const MaxMarkdown = 8 << 10

// Limits on a clarification question's options.
const (
	maxOptions      = 20
	maxOptionLength = 1 << 10
)

// Options configures an Engine. Zero values take the documented defaults.
type Options struct {
	// Issuer is the PS's issuer URL (https, no trailing slash); pending URLs
	// are Issuer + "/pending/" + id and interaction URLs Issuer +
	// "/interact/" + id. Required.
	Issuer string
	// Lifetime bounds a pending request (PS-155). Default 10 min.
	Lifetime time.Duration
	// InteractionRetryAfter is Retry-After, in seconds, for interaction and
	// clarification. Default 2.
	InteractionRetryAfter int
	// ApprovalRetryAfter is Retry-After, in seconds, for approval and for a
	// request without a requirement. Default 5.
	ApprovalRetryAfter int
	// MaxWait caps Prefer: wait. Default 30 s.
	MaxWait time.Duration
	// MaxClarificationRounds caps the questions per request. Default 5.
	MaxClarificationRounds int
	// ClarificationTimeout is the default deadline of a question. Default 5 min.
	ClarificationTimeout time.Duration
	// MaxCodeAttempts is the number of wrong interaction codes after which
	// the request fails with 410 invalid_code (A-15, PS-163). Default 5.
	MaxCodeAttempts int
	// Retention is how long a request is kept after its ExpiresAt, so that
	// its pending URL answers 410 rather than 404, before Purge deletes it.
	// Default 24 h.
	Retention time.Duration
	// OnUpdatedRequest verifies an `updated_request` POST (PS-177) on a
	// token request. It gets the request and the POST body (already checked
	// to be a JSON object with string `resource_token` and
	// `presented_token` members) and returns the payload that replaces
	// Request.Payload. Returning an *aauth.Problem answers the POST with it
	// (for example 400 invalid_resource_token); any other error is returned
	// by Post (answer 500). The hook runs outside any transaction and may
	// do network I/O. When nil, updated_request gets 400 invalid_request.
	OnUpdatedRequest func(ctx context.Context, r *Request, body map[string]any) (json.RawMessage, error)
	// Members, when set, returns extension members for the 202 body of
	// open request r (Respond): a caller's namespaced extension that an
	// AAuth-only agent ignores, such as Mission composition's
	// mission_decision while a narrowing's question is outstanding. The
	// draft's members (status, clarification, timeout, options) are never
	// replaced. It must not do I/O (Respond reads no database).
	Members func(r *Request) map[string]any
	// PassedInteraction, when set, names another party's interaction the
	// requester is to send the person to (its https url and code; "" when
	// none): a four-party request whose access server's interaction the
	// PS passed to the agent. Every 202 for r then carries it as
	// requirement=interaction instead of the PS's own requirement. It
	// reads r only (no I/O).
	PassedInteraction func(r *Request) (url, code string)
	// Deliverable, when set, is asked inside the write that would end an
	// open request with a success (Complete or Answer with a status below
	// 400) whether that answer may still go to its requester; st is the
	// engine's store, so under WithStore it reads in the deciding
	// transaction. A *aauth.Problem (or a *Refusal, with its reason)
	// refuses: the request ends with that problem instead and the call
	// returns a *RefusedError (see there);
	// any other error is returned with nothing written. The PS refuses
	// the answers of an agent whose person revoked or unbound it since the
	// request was made (ps/interact, A-40 (c)).
	Deliverable func(ctx context.Context, st Store, r *Request) error
	// Limits bound what requesters can make the PS store (issue 15 item 2).
	Limits Limits
	// Log receives notifier failures and, as security events, refused
	// creations. Default: discard.
	Log *slog.Logger
}

// Limits bound the pending requests one party can make the PS keep, at
// every level an attacker controls: its agents, its agent provider (under
// allow-any anyone can run one and mint agents) and its network address.
// A creation beyond a bound is refused with 429 rate_limited and a
// Retry-After (P§revocation-response defines the shape; PS-289 uses it
// for the same purpose) and writes nothing. Zero takes the default; a
// negative value disables the bound.
type Limits struct {
	// PerAgent bounds the open requests of one agent. Default 20.
	PerAgent int
	// PerProvider bounds the open requests of the agents of one agent
	// provider (or of one server, for revocations). Default 200.
	PerProvider int
	// PerClient bounds the open requests created from one client network
	// (an IPv4 address or an IPv6 /64). Default 200.
	PerClient int
	// FirstContactsPerMinute bounds, per agent provider, how many distinct
	// agents the PS did not know yet (NewRequest.FirstContact) created a
	// request in the last minute: minting fresh agents is what the other
	// bounds cannot see. Default 30.
	FirstContactsPerMinute int
	// MaxBytes bounds the bytes one request stores (payload, callback,
	// capabilities and identifiers); beyond it Create answers 413. Default
	// 256 KiB, the largest body the PS accepts (the mission endpoint's).
	MaxBytes int
}

// Default limits.
const (
	DefaultMaxPerAgent            = 20
	DefaultMaxPerProvider         = 200
	DefaultMaxPerClient           = 200
	DefaultFirstContactsPerMinute = 30
	DefaultMaxBytes               = 256 << 10
)

func (l *Limits) defaults() {
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&l.PerAgent, DefaultMaxPerAgent}, {&l.PerProvider, DefaultMaxPerProvider},
		{&l.PerClient, DefaultMaxPerClient}, {&l.FirstContactsPerMinute, DefaultFirstContactsPerMinute},
		{&l.MaxBytes, DefaultMaxBytes},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
}

// firstContactWindow is the window of Limits.FirstContactsPerMinute.
const firstContactWindow = time.Minute

func (o *Options) defaults() {
	if o.Lifetime <= 0 {
		o.Lifetime = 10 * time.Minute
	}
	if o.InteractionRetryAfter <= 0 {
		o.InteractionRetryAfter = 2
	}
	if o.ApprovalRetryAfter <= 0 {
		o.ApprovalRetryAfter = 5
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Second
	}
	if o.MaxClarificationRounds <= 0 {
		o.MaxClarificationRounds = 5
	}
	if o.ClarificationTimeout <= 0 {
		o.ClarificationTimeout = 5 * time.Minute
	}
	if o.MaxCodeAttempts <= 0 {
		o.MaxCodeAttempts = 5
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Limits.defaults()
	o.Issuer = strings.TrimRight(o.Issuer, "/")
}

// Engine is the deferred-response engine. It is safe for concurrent use;
// every replica runs its own Engine on the shared database, with a
// Notifier that reaches the others.
type Engine struct {
	st  Store
	n   Notifier
	now func() time.Time
	o   Options
	// newCode issues interaction codes (NewCode; tests substitute it).
	newCode func() string
}

// New returns an Engine over st (in production the *store.Store of a
// database migrated to 00008_pending_limits), waking long polls through n
// (nil: a private MemoryNotifier, enough for a single process), telling
// time with now (nil: time.Now).
func New(st Store, n Notifier, now func() time.Time, o Options) *Engine {
	o.defaults()
	if n == nil {
		n = NewMemoryNotifier()
	}
	if now == nil {
		now = time.Now
	}
	return &Engine{st: st, n: n, now: now, o: o, newCode: NewCode}
}

// WithStore returns an Engine that reads and writes through st, typically
// the *store.Store of a store.InTx callback, so that a decision and its
// effects on pending requests commit together. Its wake-ups are published
// only after that transaction commits (st.AfterCommit): a long poll never
// wakes to a change that may still roll back.
func (e *Engine) WithStore(st Store) *Engine {
	c := *e
	c.st = st
	return &c
}

// Options returns the effective options (defaults applied).
func (e *Engine) Options() Options { return e.o }

// PendingURL is the Location of request id.
func (e *Engine) PendingURL(id string) string { return e.o.Issuer + "/pending/" + id }

// InteractionURL is the per-request interaction URL of id (A-15 (a)).
func (e *Engine) InteractionURL(id string) string { return e.o.Issuer + "/interact/" + id }

// retryAfter is the advised polling interval for a requirement.
func (e *Engine) retryAfter(q Requirement) int {
	switch q {
	case RequirementInteraction, RequirementClarification:
		return e.o.InteractionRetryAfter
	}
	return e.o.ApprovalRetryAfter
}

// NewRequest describes a pending request to create.
type NewRequest struct {
	Kind         string // required
	Stage        string
	Requester    Requester // required: Scheme and Issuer, and Subject for "jwt"
	PersonID     string
	Capabilities []string
	Payload      json.RawMessage // optional; valid UTF-8 JSON
	Requirement  Requirement
	Callback     string
	// Lifetime shortens Options.Lifetime when positive (never lengthens it).
	Lifetime time.Duration
	// Until, when set, is the request's own deadline in place of
	// Options.Lifetime (and Lifetime), longer or shorter: a request held
	// while its mission is suspended lives until the hold's end, which the
	// hold timeout (up to 24 h) sets, not the engine's default. It is
	// capped at MaxUntil from now; one not in the future is refused.
	Until time.Time
	// ClientAddr is the address the creating request came from, as the
	// HTTP layer determined it (trusted-proxy aware); the zero Addr when
	// there is none (a request the PS makes itself), which the per-client
	// bound then skips.
	ClientAddr netip.Addr
	// FirstContact marks the request of an agent the PS does not know yet
	// (its binding): those are bounded per provider and minute.
	FirstContact bool
}

// MaxUntil bounds NewRequest.Until: a mission's hold (at most 24 h) and
// the minute after it in which the poll learns how it ended.
const MaxUntil = 24*time.Hour + time.Minute

// size is what n makes the PS store, for Limits.MaxBytes.
func (n *NewRequest) size() int {
	total := len(n.Kind) + len(n.Stage) + len(n.Requester.Scheme) + len(n.Requester.Issuer) +
		len(n.Requester.Subject) + len(n.PersonID) + len(n.Payload) + len(n.Callback)
	for _, c := range n.Capabilities {
		total += len(c)
	}
	return total
}

// size is what r makes the PS store, counted as for a NewRequest.
func (r *Request) size() int {
	return (&NewRequest{Kind: r.Kind, Stage: r.Stage, Requester: r.Requester, PersonID: r.PersonID,
		Payload: r.Payload, Callback: r.Callback, Capabilities: r.Capabilities}).size()
}

// tooLarge is the answer beyond Limits.MaxBytes.
func tooLarge() error {
	return aauth.NewProblem(http.StatusRequestEntityTooLarge, aauth.ErrInvalidRequest,
		"the request is too large to be kept pending")
}

// clientNet is the network a per-client bound counts: an IPv4 address, or
// the /64 of an IPv6 address (one subscriber's usual allocation, so that
// rotating through it gains nothing); "" for none.
func clientNet(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// quota is what Create asks the store to check at now.
func (e *Engine) quota(now time.Time) Quota {
	bound := func(v int) int { return max(v, 0) } // negative: disabled
	l := e.o.Limits
	return Quota{Now: now, PerAgent: bound(l.PerAgent), PerProvider: bound(l.PerProvider), PerClient: bound(l.PerClient),
		FirstContacts: bound(l.FirstContactsPerMinute), FirstContactWindow: firstContactWindow}
}

// Create stores a new pending request in state pending. When Requirement
// is interaction it also issues an interaction code and returns its
// display form (XXXXX-XXXXX); only a hash is stored, so the code can be
// sent only in the 202 built from the returned Request (Respond). The
// code is "" for every other requirement.
//
// Create enforces Options.Limits: beyond a count bound it returns an
// *aauth.Problem 429 rate_limited with RetryAfter (wrapping the
// *QuotaError), beyond MaxBytes a 413 invalid_request; both are logged as
// security events and store nothing.
func (e *Engine) Create(ctx context.Context, n NewRequest) (*Request, string, error) {
	switch {
	case n.Kind == "":
		return nil, "", errors.New("pending: create: Kind is required")
	case !n.Requester.valid():
		return nil, "", errors.New("pending: create: the requester is incomplete")
	case !n.Requirement.Valid():
		return nil, "", fmt.Errorf("pending: create: unknown requirement %q", n.Requirement)
	case n.Requirement == RequirementClarification:
		return nil, "", errors.New("pending: create: use Ask for clarification")
	case n.Payload != nil && (!json.Valid(n.Payload) || !utf8.Valid(n.Payload)):
		return nil, "", errors.New("pending: create: Payload is not valid UTF-8 JSON")
	case !storable(n.Kind, n.Stage, n.Requester.Scheme, n.Requester.Issuer, n.Requester.Subject, n.PersonID, n.Callback),
		!storable(n.Capabilities...):
		return nil, "", errors.New("pending: create: strings must be valid UTF-8 without NUL")
	}
	if limit := e.o.Limits.MaxBytes; limit > 0 && n.size() > limit {
		e.refused(ctx, n, "stored bytes per request")
		return nil, "", tooLarge()
	}
	now := e.now()
	life := e.o.Lifetime
	if n.Lifetime > 0 && n.Lifetime < life {
		life = n.Lifetime
	}
	if !n.Until.IsZero() {
		if !n.Until.After(now) {
			return nil, "", errors.New("pending: create: Until is not in the future")
		}
		life = min(n.Until.Sub(now), MaxUntil)
	}
	caps := make([]string, 0, len(n.Capabilities))
	for _, c := range n.Capabilities {
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	r := &Request{
		ID:           newID(),
		Kind:         n.Kind,
		Stage:        n.Stage,
		Requester:    n.Requester,
		PersonID:     n.PersonID,
		State:        StatePending,
		Requirement:  n.Requirement,
		Capabilities: caps,
		Payload:      slices.Clone(n.Payload),
		Callback:     n.Callback,
		Answers:      []Exchange{},
		RetryAfter:   e.retryAfter(n.Requirement),
		CreatedAt:    time.Unix(now.Unix(), 0).UTC(),
		UpdatedAt:    time.Unix(now.Unix(), 0).UTC(),
		ExpiresAt:    time.Unix(now.Add(life).Unix(), 0).UTC(),
		Version:      1,
	}
	var hash []byte
	if n.Requirement == RequirementInteraction {
		r.code = e.newCode()
		norm, _ := NormalizeCode(r.code)
		hash = codeHash(r.ID, norm)
		r.HasCode = true
	}
	rec := &Record{Request: r, CodeHash: hash, CodeDisplay: r.code, DeliveredView: view(r),
		ClientNet: clientNet(n.ClientAddr), FirstContact: n.FirstContact}
	if err := e.st.InsertPendingRequest(ctx, rec, e.quota(now)); err != nil {
		var qe *QuotaError
		if errors.As(err, &qe) {
			e.refused(ctx, n, string(qe.Bound))
			p := aauth.NewProblem(http.StatusTooManyRequests, aauth.ErrRateLimited,
				"too many pending requests ("+string(qe.Bound)+"); retry later")
			p.RetryAfter = max(int(math.Ceil(qe.RetryAt.Sub(now).Seconds())), 1)
			p.Cause = qe
			return nil, "", p
		}
		return nil, "", err
	}
	return r, r.code, nil
}

// refused logs a creation refused by a limit as a security event: who and
// from where, never the payload.
func (e *Engine) refused(ctx context.Context, n NewRequest, bound string) {
	e.o.Log.WarnContext(ctx, "security: pending request refused", "bound", bound, "kind", n.Kind,
		"provider", n.Requester.Issuer, "agent", n.Requester.Subject, "client", clientNet(n.ClientAddr),
		"first_contact", n.FirstContact)
}

// Get returns the request with id, or ErrNotFound. It does no access
// control: it is for the PS's own flows and web UI, never for a
// requester-facing answer.
func (e *Engine) Get(ctx context.Context, id string) (*Request, error) {
	l, err := e.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, ErrNotFound
	}
	return l.Request, nil
}

// maxAttempts bounds the optimistic read-modify-write retries.
const maxAttempts = 20

// errUnchanged, returned by a mutate callback, ends the mutation without a
// write (and without an error).
var errUnchanged = errors.New("pending: unchanged")

// mutate is the one read-modify-write loop: it loads id, calls fn on a
// copy, and saves the copy if the row's version did not move meanwhile;
// on a conflict it re-reads and calls fn again (so fn must depend only on
// its argument). After a write it publishes a wake-up. It returns the
// request as saved (or as read, when fn returned errUnchanged).
func (e *Engine) mutate(ctx context.Context, id string, fn func(l *Record, now time.Time) error) (*Request, error) {
	for attempt := range maxAttempts {
		l, err := e.load(ctx, id)
		if err != nil {
			return nil, err
		}
		if l == nil {
			return nil, ErrNotFound
		}
		now := e.now()
		if err := fn(l, now); err != nil {
			if errors.Is(err, errUnchanged) {
				return l.Request, nil
			}
			return l.Request, err
		}
		err = e.save(ctx, l, now)
		if err == nil {
			e.publish(ctx, id)
			return l.Request, nil
		}
		if !errors.Is(err, errVersion) {
			return nil, err
		}
		// Jittered, growing back-off so that competing writers spread out.
		d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
	return nil, ErrConflict
}

func (e *Engine) publish(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	e.st.AfterCommit(func() {
		if err := e.n.Publish(ctx, id); err != nil {
			e.o.Log.Warn("pending: publish wake-up failed", "err", err)
		}
	})
}

// Update changes an open request with fn, retrying on a concurrent change
// (optimistic concurrency on Version; fn may therefore run more than once
// and must only change its argument), then wakes its long polls. Only
// these fields are written: Stage, PersonID, Requirement, Capabilities,
// Payload and Callback; State may move between pending and interacting.
// Changes to anything else are ignored. Terminal transitions go through
// Complete or Fail; clarification through Ask. Update returns ErrClosed on
// a terminal request; an error from fn is returned unchanged (nothing is
// written); beyond Limits.MaxBytes it is Create's 413 (nothing written).
func (e *Engine) Update(ctx context.Context, id string, fn func(r *Request) error) (*Request, error) {
	var outcome error
	r, err := e.mutate(ctx, id, func(l *Record, now time.Time) error {
		outcome = nil
		if expireIfDue(l.Request, now) {
			outcome = ErrExpired // record the expiry, then report it
			return nil
		}
		if !l.State.Open() {
			return ErrClosed
		}
		c := l.Request.clone()
		if err := fn(c); err != nil {
			return err
		}
		switch {
		case !c.State.Open():
			return errors.New("pending: update: use Complete or Fail to end a request")
		case !c.Requirement.Valid() || c.Requirement == RequirementClarification:
			return fmt.Errorf("pending: update: invalid requirement %q", c.Requirement)
		case c.Requirement == RequirementInteraction && !l.HasCode:
			return errors.New("pending: update: a request created without an interaction code cannot require interaction")
		case c.Payload != nil && (!json.Valid(c.Payload) || !utf8.Valid(c.Payload)):
			return errors.New("pending: update: Payload is not valid UTF-8 JSON")
		case !storable(c.Stage, c.PersonID, c.Callback), !storable(c.Capabilities...):
			return errors.New("pending: update: strings must be valid UTF-8 without NUL")
		case e.o.Limits.MaxBytes > 0 && c.size() > e.o.Limits.MaxBytes:
			// Create's bound holds for the request's whole life: a payload
			// grown by what others said (an AS's question, say) too.
			return tooLarge()
		}
		r := l.Request
		r.Stage, r.PersonID, r.Requirement = c.Stage, c.PersonID, c.Requirement
		r.Capabilities, r.Payload, r.Callback, r.State = c.Capabilities, c.Payload, c.Callback, c.State
		r.RetryAfter = e.retryAfter(r.EffectiveRequirement())
		return nil
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// stateForCode maps a terminal error code to the state it ends in.
func stateForCode(code string) State {
	switch code {
	case aauth.ErrDenied:
		return StateDenied
	case aauth.ErrAbandoned:
		return StateAbandoned
	case aauth.ErrExpired:
		return StateExpired
	}
	return StateFailed
}

// validResultStatus refuses statuses that would not read as a terminal
// answer: 1xx, 202 (still pending), 3xx and 404 (the no-oracle answer).
func validResultStatus(s int) bool {
	return s >= 200 && s <= 599 && s != http.StatusAccepted && (s < 300 || s >= 400) && s != http.StatusNotFound
}

// Complete ends an open request with the answer the originating endpoint
// would have given at once (PS-151): status and body. body may be nil (no
// body, no Content-Type: the revocation 200), json.RawMessage or []byte
// (sent as is; must be valid JSON) or any value json.Marshal accepts. A
// status ≥ 400 is sent as application/problem+json and ends the request
// in the state its `error` member names (denied, abandoned, expired, else
// failed); below 400 the state is completed. A consumed-but-unused
// interaction code stays consumed (PS-281: out-of-band completion).
// Complete returns ErrClosed if the request already ended, and ErrExpired
// (recording the expiry: the poll gets 408) if it is past its lifetime or
// its question's deadline. A success that Options.Deliverable refuses
// ends the request with the refusal and returns a *RefusedError.
func (e *Engine) Complete(ctx context.Context, id string, status int, body any) error {
	if !validResultStatus(status) {
		return fmt.Errorf("pending: complete: status %d is not a terminal answer", status)
	}
	raw, err := encodeBody(body)
	if err != nil {
		return err
	}
	state := StateCompleted
	if status >= 400 {
		var p struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &p)
		state = stateForCode(p.Error)
	}
	return e.end(ctx, id, state, status, raw, "")
}

// CompleteProblem ends request id with the protocol error p (its status
// and problem+json body).
func (e *Engine) CompleteProblem(ctx context.Context, id string, p *aauth.Problem) error {
	return e.Complete(ctx, id, p.Status, p.Body())
}

// Refuse is CompleteProblem with r.Problem that also stores r.Reason with
// the result (Request.ResultReason).
func (e *Engine) Refuse(ctx context.Context, id string, r *Refusal) error {
	p := r.Problem
	if !validResultStatus(p.Status) || p.Status < 400 || p.Code == "" {
		return fmt.Errorf("pending: refuse: want a 4xx/5xx status and a code, got %d %q", p.Status, p.Code)
	}
	return e.end(ctx, id, stateForCode(p.Code), p.Status, problemBody(p), r.Reason)
}

// Answer ends request id with the outcome of a decision that produced body
// or err: a *aauth.Problem is the agent's answer (its status and body), any
// other error is returned with nothing written, and no error is 200 with
// body.
func (e *Engine) Answer(ctx context.Context, id string, body any, err error) error {
	if p, ok := aauth.AsProblem(err); ok {
		return e.CompleteProblem(ctx, id, p)
	}
	if err != nil {
		return err
	}
	return e.Complete(ctx, id, http.StatusOK, body)
}

// end is Complete, Refuse and Fail: it ends an open request, unless it is
// due, in which case it records the expiry and returns ErrExpired.
func (e *Engine) end(ctx context.Context, id string, state State, status int, body json.RawMessage, reason string) error {
	var outcome error
	_, err := e.mutate(ctx, id, func(l *Record, now time.Time) error {
		outcome = nil
		if expireIfDue(l.Request, now) {
			outcome = ErrExpired
			return nil
		}
		if !l.State.Open() {
			return ErrClosed
		}
		if state == StateCompleted && e.o.Deliverable != nil {
			if err := e.o.Deliverable(ctx, e.st, l.Request); err != nil {
				p, ok := aauth.AsProblem(err)
				if !ok {
					return err
				}
				re := &RefusedError{Refusal{Problem: p}}
				if r := (*Refusal)(nil); errors.As(err, &r) {
					re.Reason = r.Reason
				}
				outcome = re
				finish(l.Request, now, stateForCode(p.Code), p.Status, problemBody(p))
				l.ResultReason = re.Reason
				return nil
			}
		}
		finish(l.Request, now, state, status, body)
		l.ResultReason = reason
		return nil
	})
	if err != nil {
		return err
	}
	return outcome
}

func encodeBody(body any) (json.RawMessage, error) {
	var raw []byte
	switch b := body.(type) {
	case nil:
		return json.RawMessage{}, nil
	case json.RawMessage:
		raw = b
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("pending: complete: encode body: %w", err)
		}
	}
	if len(raw) > 0 && (!json.Valid(raw) || !utf8.Valid(raw)) {
		return nil, errors.New("pending: complete: body is not valid UTF-8 JSON")
	}
	return slices.Clone(raw), nil
}

// Fail ends an open request with a problem: 403 denied, 403 abandoned,
// 408 expired, 403 revoked (detail says which token, PS-280), 403
// mission_terminated (PS-158), 502 as_unreachable, … The body is the
// problem+json document the poll delivers. ErrClosed if already ended,
// ErrExpired (recorded) if past its lifetime.
func (e *Engine) Fail(ctx context.Context, id string, status int, code, detail string) error {
	if !validResultStatus(status) || status < 400 || code == "" {
		return fmt.Errorf("pending: fail: want a 4xx/5xx status and a code, got %d %q", status, code)
	}
	return e.end(ctx, id, stateForCode(code), status, problemBody(aauth.NewProblem(status, code, detail)), "")
}

// finish moves r to a terminal state. An outstanding question ends with it.
func finish(r *Request, now time.Time, state State, status int, body json.RawMessage) {
	r.State, r.ResultStatus, r.ResultBody = state, status, body
	if r.Question != nil && state == StateExpired && !now.Before(r.Question.Deadline) {
		r.Answers = append(r.Answers, Exchange{
			Question: r.Question.Text, Options: r.Question.Options, AskedAt: r.Question.AskedAt,
			Action: "timeout", AnsweredAt: time.Unix(now.Unix(), 0).UTC(),
		})
	}
	r.Question = nil
}

// expireIfDue ends an open request whose lifetime or outstanding question
// deadline has passed with 408 expired. It reports whether it did.
func expireIfDue(r *Request, now time.Time) bool {
	if !r.State.Open() {
		return false
	}
	switch {
	case !now.Before(r.ExpiresAt):
		finish(r, now, StateExpired, http.StatusRequestTimeout,
			problemBody(aauth.NewProblem(http.StatusRequestTimeout, aauth.ErrExpired, "the pending request expired")))
	case r.Question != nil && !now.Before(r.Question.Deadline):
		finish(r, now, StateExpired, http.StatusRequestTimeout,
			problemBody(aauth.NewProblem(http.StatusRequestTimeout, aauth.ErrExpired, "the clarification question was not answered in time")))
	default:
		return false
	}
	return true
}

// MarkInteracting records that the person has arrived (status
// "interacting", PS-150) by a route other than ConsumeCode, for example an
// out-of-band channel (PS-281); an unconsumed code is consumed with it.
// It is a no-op on a request already interacting; ErrClosed when ended,
// ErrExpired when past its lifetime.
func (e *Engine) MarkInteracting(ctx context.Context, id string) error {
	var outcome error
	_, err := e.mutate(ctx, id, func(l *Record, now time.Time) error {
		outcome = nil
		if expireIfDue(l.Request, now) {
			outcome = ErrExpired // save the expiry, then report it
			return nil
		}
		switch {
		case l.State == StateExpired:
			return ErrExpired
		case !l.State.Open():
			return ErrClosed
		}
		if l.State == StateInteracting {
			return errUnchanged
		}
		l.State = StateInteracting
		if l.HasCode && l.CodeConsumedAt == nil {
			t := time.Unix(now.Unix(), 0).UTC()
			l.CodeConsumedAt = &t
		}
		return nil
	})
	if err != nil {
		return err
	}
	return outcome
}

// ConsumeOutOfBand uses up the interaction code of request id without the
// person presenting it, because the person decides over a channel the PS
// already has (PS-281): a later visit with the code fails with
// invalid_code. The state is unchanged (see MarkInteracting for the
// status). It is a no-op when there is no code or it is already used;
// ErrClosed when the request ended, ErrExpired (recorded) when it is due.
func (e *Engine) ConsumeOutOfBand(ctx context.Context, id string) error {
	var outcome error
	_, err := e.mutate(ctx, id, func(l *Record, now time.Time) error {
		outcome = nil
		if expireIfDue(l.Request, now) {
			outcome = ErrExpired
			return nil
		}
		switch {
		case l.State == StateExpired:
			return ErrExpired
		case !l.State.Open():
			return ErrClosed
		case !l.HasCode || l.CodeConsumedAt != nil:
			return errUnchanged
		}
		t := time.Unix(now.Unix(), 0).UTC()
		l.CodeConsumedAt = &t
		return nil
	})
	if err != nil {
		return err
	}
	return outcome
}

// ConsumeCode checks the code the person entered at the interaction URL of
// request id (P§interaction-code-format): hyphens stripped,
// case-insensitive, I/L → 1 and O → 0, compared in constant time against
// the stored hash. On success the code is used up and the request becomes
// "interacting". Errors:
//   - ErrInvalidCode: wrong code (counted: the MaxCodeAttempts-th wrong
//     code ends the request with 410 invalid_code, after which even the
//     right code fails), a code already used, a request that has no code or
//     has ended otherwise (PS-162, PS-163);
//   - ErrExpired: the request has expired (its poll then gets 408);
//   - ErrNotFound: no such request (render as invalid_code).
//
// The code only correlates the browser with the request; approving still
// needs an authenticated person session (PS-164).
func (e *Engine) ConsumeCode(ctx context.Context, id, entered string) (*Request, error) {
	var outcome error
	r, err := e.mutate(ctx, id, func(l *Record, now time.Time) error {
		outcome = nil
		if expireIfDue(l.Request, now) {
			outcome = ErrExpired
			return nil
		}
		switch {
		case l.State == StateExpired:
			return ErrExpired
		case !l.State.Open(), !l.HasCode, l.CodeConsumedAt != nil:
			return ErrInvalidCode
		}
		if codeMatches(l.ID, entered, l.CodeHash) {
			t := time.Unix(now.Unix(), 0).UTC()
			l.CodeConsumedAt, l.State = &t, StateInteracting
			return nil
		}
		outcome = ErrInvalidCode
		l.CodeAttempts++
		if l.CodeAttempts >= e.o.MaxCodeAttempts {
			finish(l.Request, now, StateFailed, http.StatusGone,
				problemBody(aauth.NewProblem(http.StatusGone, aauth.ErrInvalidCode, "too many wrong interaction codes")))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if outcome != nil {
		return nil, outcome
	}
	return r, nil
}

// Ask poses the person's question to the agent (P§clarification-chat): the
// next polls answer 202 requirement=clarification with the question,
// options and remaining timeout, until the agent POSTs a
// clarification_response or the deadline (now + timeout, default
// Options.ClarificationTimeout) passes, which ends the request 408 expired
// (PS-179). question is Markdown (≤ 8 KiB, stored raw); options are
// optional discrete answers. Errors: ErrNoClarificationCapability (PS-173),
// ErrQuestionOutstanding, ErrClarificationLimit (the request has just
// ended 403 denied, PS-178), ErrClosed, ErrExpired.
func (e *Engine) Ask(ctx context.Context, id, question string, options []string, timeout time.Duration) error {
	if err := checkMarkdown("question", question); err != nil {
		return err
	}
	if len(options) > maxOptions {
		return fmt.Errorf("pending: ask: at most %d options", maxOptions)
	}
	for _, o := range options {
		if o == "" || len(o) > maxOptionLength || !storable(o) {
			return fmt.Errorf("pending: ask: options must be non-empty UTF-8 strings of at most %d bytes", maxOptionLength)
		}
	}
	if timeout <= 0 {
		timeout = e.o.ClarificationTimeout
	}
	var outcome error
	_, err := e.mutate(ctx, id, func(l *Record, now time.Time) error {
		outcome = nil
		if expireIfDue(l.Request, now) {
			outcome = ErrExpired
			return nil
		}
		switch {
		case !l.State.Open():
			return ErrClosed
		case !l.HasCapability(aauth.CapabilityClarification):
			return ErrNoClarificationCapability
		case l.Question != nil:
			return ErrQuestionOutstanding
		case l.Rounds >= e.o.MaxClarificationRounds:
			outcome = ErrClarificationLimit
			finish(l.Request, now, StateDenied, http.StatusForbidden,
				problemBody(aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the clarification round limit was reached")))
			return nil
		}
		asked := time.Unix(now.Unix(), 0).UTC()
		l.Question = &Question{
			Text: question, Options: slices.Clone(options), AskedAt: asked,
			Deadline: time.Unix(now.Add(timeout).Unix(), 0).UTC(),
		}
		l.Rounds++
		l.RetryAfter = e.retryAfter(RequirementClarification)
		return nil
	})
	if err != nil {
		return err
	}
	return outcome
}

func checkMarkdown(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("pending: the %s is empty", what)
	case len(s) > MaxMarkdown:
		return fmt.Errorf("pending: the %s exceeds %d bytes", what, MaxMarkdown)
	case !storable(s):
		return fmt.Errorf("pending: the %s is not valid UTF-8 without NUL", what)
	}
	return nil
}

// storable reports whether s can be stored in a TEXT column of both
// databases: valid UTF-8 without NUL (PostgreSQL refuses both, and an
// agent must not be able to turn that into a 500).
func storable(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// ForPerson returns the open, unexpired requests of a person (the inbox),
// oldest first.
func (e *Engine) ForPerson(ctx context.Context, personID string) ([]Request, error) {
	if personID == "" {
		return nil, nil
	}
	return requests(e.st.OpenPendingRequestsOfPerson(ctx, personID, e.now()))
}

// ForRequester returns the open requests created by who, oldest first (for
// example to end them 403 revoked when its agent token is revoked, A-59).
func (e *Engine) ForRequester(ctx context.Context, who Requester) ([]Request, error) {
	return requests(e.st.OpenPendingRequestsOf(ctx, who))
}

// OpenOfKind lists the open requests of kind, including those past their
// expiry that nothing has ended yet, oldest first (at most limit).
func (e *Engine) OpenOfKind(ctx context.Context, kind string, limit int) ([]Request, error) {
	return requests(e.st.OpenPendingRequestsOfKind(ctx, kind, limit))
}

// ExpireDue ends, with 408 expired, every open request past its lifetime
// or whose outstanding question passed its deadline, waking their polls.
// Run it periodically on any replica (polls also expire requests lazily).
// It returns how many requests it ended.
func (e *Engine) ExpireDue(ctx context.Context) (int, error) {
	ids, err := e.st.DuePendingRequests(ctx, e.now())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		expired := false
		_, err := e.mutate(ctx, id, func(l *Record, now time.Time) error {
			expired = expireIfDue(l.Request, now)
			if !expired {
				return errUnchanged
			}
			return nil
		})
		switch {
		case err == nil && expired:
			n++
		case err != nil && !errors.Is(err, ErrNotFound):
			return n, err
		}
	}
	return n, nil
}

// Purge deletes requests whose ExpiresAt is more than Options.Retention in
// the past (their pending URLs then answer 404 instead of 410), and drops
// at once the payload of every ended request that no person holds: only
// its requester can still ask about it, and the 410 it gets needs no
// payload (issue 15: what an unknown agent stored must not outlive its
// request). It returns how many requests it deleted.
func (e *Engine) Purge(ctx context.Context) (int, error) {
	return e.st.PurgePendingRequests(ctx, e.now().Add(-e.o.Retention))
}
