// Package revocation is the PS side of draft-hardt-oauth-aauth-protocol-11
// §Token Revocation: the revocation endpoint's rules (E11: who may revoke
// what, strict `{jti, exp}` parsing, bounds), the cascades the PS runs
// (agent token → everything issued to that agent's sub; a person's removal
// of an agent; a mission), and the downstream revocations it sends to the
// resources that received its tokens. PS-REQUIREMENTS §3.21 (PS-232…PS-239,
// PS-284…PS-294).
//
// A revocation is recorded, with the PS's own revocations of the tokens it
// cascades to and the downstream deliveries still to make, in one
// transaction before anyone is called (PS-286). Deliveries then run; the
// caller gets its answer once each is terminal, or 202 with a pending URL
// while they run.
package revocation

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/inflight"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// Delivery outcomes. Pending is not terminal; the others are (PS-286).
const (
	OutcomePending     = "pending"
	OutcomeRevoked     = "revoked"
	OutcomeUnsupported = aauth.RevocationUnsupported
	OutcomeUnavailable = aauth.RevocationUnavailable
)

// Defaults of PS-289/PS-290 (IMPL).
const (
	DefaultMaxAhead   = 24*time.Hour + 300*time.Second
	DefaultMaxEntries = 10000
	// DefaultMaxUnknownEntries bounds, all together, the live revocations
	// of agent providers the operator's table does not list: each new
	// domain cannot add another 10 000 rows.
	DefaultMaxUnknownEntries = 10000
	DefaultRatePerMinute     = 100
	DefaultHold              = 20 * time.Second
	// maxCascade bounds the tokens one cascade walks (tables are bounded).
	maxCascade = 10000
	// maxConcurrentDeliveries bounds the outgoing revocations of one
	// cascade in flight at once.
	maxConcurrentDeliveries = 8
	// staleDelivery: a delivery pending longer than this (each attempt
	// ends within attemptTimeout) lost its sender, e.g. to a restart.
	staleDelivery = 2 * time.Minute
	// attemptTimeout bounds one downstream revocation.
	attemptTimeout = 30 * time.Second
	// deliveryLease is how long a sender's claim on a delivery holds
	// (Store.ClaimDelivery): its attempt ends within attemptTimeout and
	// its outcome is recorded well before.
	deliveryLease = attemptTimeout + 30*time.Second
	// maxDeliveryWorkers bounds, process-wide, the goroutines sending the
	// deliveries of cascades (drain): however many revocations, repeats
	// and polls arrive, no more are started.
	maxDeliveryWorkers = 8 * maxConcurrentDeliveries
)

// Caller is a verified server at the revocation endpoint.
type Caller struct {
	ID  string // the verified jwks_uri id: the issuer of the revoked token
	DWK string // aauth-agent.json (an agent provider) or aauth-resource.json
}

// Request is a parsed revocation body.
type Request struct {
	JTI string
	Exp time.Time
}

// Issued is a token the PS issued that a cascade revokes.
type Issued struct {
	JTI string
	Aud string // the resource it went to: where its revocation is sent
	Exp time.Time
}

// AgentFilter selects the tokens issued to an agent: all of them, or for one
// person, at one resource, auth tokens only.
type AgentFilter struct {
	AgentIss, AgentSub string
	PersonID           string // "" for every person
	Resource           string // "" for every resource
	AuthOnly           bool   // auth tokens only (a removed scope grant)
	// SubAgent selects the tokens issued to AgentSub as a sub-agent (a
	// parent presented its subagent_token) rather than as the signer.
	SubAgent bool
}

// Cascade is one revocation that started downstream revocations.
type Cascade struct {
	ID, Iss, JTI string
	Exp, Created time.Time
	// Mission is the mission whose lifecycle transition started it
	// (CascadeMission), "" for the others: the terminal outcomes of a
	// mission's deliveries are evidenced on its chain (Evidencer).
	Mission string
}

// Delivery is one downstream revocation: a token at a recipient.
type Delivery struct {
	CascadeID, Recipient, TokenJTI string
	TokenExp                       time.Time
	Outcome                        string
	Attempts                       int
	// UpdatedAt is when the outcome was last written.
	UpdatedAt time.Time
	// NextAttempt is when a delivery of a cascade the PS started that
	// ended revocation_unavailable is attempted again (zero: never); on a
	// claimed retry, the claim's end (Store.ClaimRetries).
	NextAttempt time.Time
	// Lease is when the claim of the sender attempting it ends
	// (Store.ClaimDelivery); zero when none was taken.
	Lease time.Time
}

// Downstream is one entry of an access server's report of the
// revocations it made (P§revocation-response "Body", PS-292): a resource
// it revoked at and, when that did not succeed, why.
type Downstream struct {
	Recipient string `json:"recipient"`
	// Error is OutcomeUnavailable or OutcomeUnsupported; "" when revoked.
	Error string `json:"error,omitempty"`
}

// Outcome is the outcome an entry reports.
func (d Downstream) Outcome() string {
	if d.Error == "" {
		return OutcomeRevoked
	}
	return d.Error
}

// Result is one delivery's answer: its terminal outcome and, from an
// access server, its downstream report.
type Result struct {
	Outcome    string
	Downstream []Downstream
}

// Store is what revocation needs from storage (*store.Store).
type Store interface {
	// LockRevocations holds, until the transaction ends, the lock that
	// issuing transactions share while they check revocations (issue 8):
	// a token is either seen revoked by its issuance or issued before
	// the cascade reads what was issued.
	LockRevocations(ctx context.Context) error
	RecordRevocation(ctx context.Context, iss, jti string, exp, revokedAt time.Time) error
	IsRevoked(ctx context.Context, iss, jti string) (bool, error)
	LiveRevocations(ctx context.Context, iss string, now time.Time) (int64, error)
	// KnownProvider: the operator decided on iss (allowed or blocked), or
	// a person bound one of its agents (a binding that holds the agent:
	// active or revoked). A provider merely seen is not known: any request
	// answered below 400 marks it seen (docs/decisions.md).
	KnownProvider(ctx context.Context, iss string) (bool, error)
	// LiveRevocationsFromUnknown counts the live revocations whose issuer
	// is neither a known provider, nor a resource, nor except (this PS).
	LiveRevocationsFromUnknown(ctx context.Context, except string, now time.Time) (int64, error)
	// AcceptsRevocationsFrom: an agent provider the operator did not block,
	// or a resource this PS issued person tokens for.
	AcceptsRevocationsFrom(ctx context.Context, id, dwk string) (bool, error)
	AgentTokenSub(ctx context.Context, iss, jti string) (string, error)
	IssuedToAgent(ctx context.Context, f AgentFilter, now time.Time, limit int) ([]Issued, error)
	IssuedFrom(ctx context.Context, parentJTI string, now time.Time, limit int) ([]Issued, error)
	IssuedUnderMission(ctx context.Context, s256 string, now time.Time, limit int) ([]Issued, error)
	CreateCascade(ctx context.Context, c Cascade) error
	CascadeByToken(ctx context.Context, iss, jti string) (*Cascade, error)
	CascadeByID(ctx context.Context, id string) (*Cascade, error)
	AddDeliveries(ctx context.Context, ds []Delivery, at time.Time) error
	Deliveries(ctx context.Context, cascadeID string) ([]Delivery, error)
	SetDeliveryOutcome(ctx context.Context, d Delivery, outcome string, at time.Time) error
	// ClaimDelivery claims d for one attempt until until unless it was
	// recorded revoked or another sender's lease holds at now (false):
	// one attempt of a delivery is in flight at a time (PS-291). d.Lease,
	// when set, is the caller's own unrecorded lease, taken again. A
	// terminal outcome is set pending again. It returns the row claimed.
	ClaimDelivery(ctx context.Context, d Delivery, now, until time.Time) (Delivery, bool, error)
	// SetDownstream stores, with the outcome just stored for delivery d,
	// the access server's report ds (each outcome stored drops the
	// previous one's report).
	SetDownstream(ctx context.Context, d Delivery, ds []Downstream) error
	// Downstream lists the reports stored with a cascade's deliveries.
	Downstream(ctx context.Context, cascadeID string) ([]Downstream, error)
	// SettleDelivery records a terminal outcome (counting an attempt) of a
	// delivery still pending, and its retry at retryAt (none when zero);
	// false when it was not pending.
	SettleDelivery(ctx context.Context, d Delivery, outcome string, at, retryAt time.Time) (bool, error)
	// ClaimRetries claims at most limit deliveries whose retry is due at
	// now until until (one replica claims each), those of expired tokens
	// included (their claimant ends them: EndRetries).
	ClaimRetries(ctx context.Context, now, until time.Time, limit int) ([]Delivery, error)
	// RetriedDelivery records the outcome of a claimed retry (counting an
	// attempt) and the next retry at retryAt (none when zero) while the
	// claim holds; false when it did not.
	RetriedDelivery(ctx context.Context, d Delivery, outcome string, at, retryAt time.Time) (bool, error)
	// EndRetries ends the retries of a claimed delivery without an
	// attempt (revocation_unavailable, nothing scheduled) while the claim
	// holds; false when it did not.
	EndRetries(ctx context.Context, d Delivery, at time.Time) (bool, error)
	// OpenPendingNaming lists open pending requests of kind whose payload
	// names value in member (candidates, checked exactly by the caller).
	OpenPendingNaming(ctx context.Context, kind, member, value string, limit int) ([]PendingRef, error)
	// OpenChainedPending lists open pending requests of kinds that carry
	// an upstream token (candidates, checked exactly by the caller).
	OpenChainedPending(ctx context.Context, kinds []string, limit int) ([]PendingRef, error)
	// Presentations lists the access servers this PS presented person
	// token jti to (four-party): they are told of its revocation too.
	Presentations(ctx context.Context, jti string) ([]string, error)
}

// PendingRef is an open pending request and its stored payload.
type PendingRef struct {
	ID      string
	Payload json.RawMessage
}

// Sender delivers one revocation to a recipient and returns its terminal
// outcome (OutcomeRevoked, OutcomeUnsupported or OutcomeUnavailable) and
// what an access server reported downstream.
type Sender interface {
	Send(ctx context.Context, recipient, jti string, exp time.Time) Result
}

// Evidencer records, in the transaction st that stores it, the terminal
// outcome of a delivery of a mission's cascade on that mission's evidence
// chain (design §5 "outcomes are evidenced", §7 revocation_result;
// ps/lifecycle's Service). Iss is the revoked token's issuer (this PS);
// d carries the outcome just stored, its attempts and its next attempt
// (a revocation_unavailable with none is one the PS attempts no more: its
// retries ended), downstream what an access server reported with it.
type Evidencer interface {
	RevocationResult(ctx context.Context, st Store, mission, iss string, d Delivery, downstream []Downstream) error
}

// Pending is the deferred-response engine (*pending.Engine): requests an
// agent started with a token that is revoked while they wait end with
// `403 revoked` (PS-280).
type Pending interface {
	ForRequester(ctx context.Context, who pending.Requester) ([]pending.Request, error)
	Fail(ctx context.Context, id string, status int, code, detail string) error
}

// Options configure a Service.
type Options struct {
	Issuer string
	Store  Store
	// Pending, when set, ends the pending requests of a revoked agent token.
	Pending Pending
	// InTx runs f in one transaction with a Store bound to it.
	InTx   func(ctx context.Context, f func(Store) error) error
	Sender Sender
	Now    func() time.Time
	// MaxAhead, MaxEntries, RatePerMinute, Hold default to the constants.
	MaxAhead   time.Duration
	MaxEntries int64
	// MaxUnknownEntries: DefaultMaxUnknownEntries when 0.
	MaxUnknownEntries int64
	RatePerMinute     int
	Hold              time.Duration
	Logger            *slog.Logger
}

// Service runs revocations.
type Service struct {
	o    Options
	rate *limiter

	// The deliveries this process has in flight, so that a short-lived
	// process (the command line) can wait for them before it exits.
	work    inflight.Group
	mu      sync.Mutex
	started []string // recent cascades given to Deliver, for Settle

	// ev evidences the outcomes of mission cascades (UseEvidence).
	ev Evidencer

	// workers holds one token per goroutine sending cascades' deliveries
	// (drain), process-wide; draining counts this process's drains of
	// each cascade, so that a poll adds none beside one.
	workers  chan struct{}
	dmu      sync.Mutex
	draining map[string]int
	// unrecorded: this process's leases whose outcome it could not store
	// (at most maxUnrecorded; the others lapse): its next drain of the
	// cascade takes them again rather than wait for them to lapse.
	unrecorded map[deliveryKey]time.Time
}

// deliveryKey names a delivery.
type deliveryKey struct{ cascade, recipient, jti string }

func keyOf(d Delivery) deliveryKey { return deliveryKey{d.CascadeID, d.Recipient, d.TokenJTI} }

const maxUnrecorded = 1024

// UseEvidence has the terminal outcome of every delivery of a mission's
// cascade evidenced by ev, in the transaction that stores it (the
// lifecycle, which evidences the mission's chain, is built after this
// service).
func (s *Service) UseEvidence(ev Evidencer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ev = ev
}

func (s *Service) evidencer() Evidencer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ev
}

// maxStarted bounds the cascades Settle can report (a server never
// calls Settle; the list stays small).
const maxStarted = 256

// track counts one delivery in flight; the returned func ends it.
func (s *Service) track() func() {
	s.work.Add()
	return s.work.Done
}

// Settle waits until every delivery this process started has an outcome,
// or ctx ends (settled false). It returns the cascades given to Deliver
// since the last Settle, for Report.
func (s *Service) Settle(ctx context.Context) (cascades []string, settled bool) {
	s.mu.Lock()
	cascades, s.started = s.started, nil
	s.mu.Unlock()
	return cascades, s.WaitIdle(ctx)
}

// WaitIdle waits until no delivery is in flight (false when ctx ends
// first). Unlike Settle it leaves the started cascades to Settle's caller:
// a test counting rows waits here so the outcomes and evidence a
// background delivery writes are not taken for a request's writes.
func (s *Service) WaitIdle(ctx context.Context) bool {
	return s.work.Wait(ctx)
}

// New builds a Service.
func New(o Options) (*Service, error) {
	if o.Issuer == "" || o.Store == nil || o.InTx == nil || o.Sender == nil {
		return nil, errors.New("revocation: Issuer, Store, InTx and Sender are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAhead == 0 {
		o.MaxAhead = DefaultMaxAhead
	}
	if o.MaxUnknownEntries == 0 {
		o.MaxUnknownEntries = DefaultMaxUnknownEntries
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.RatePerMinute == 0 {
		o.RatePerMinute = DefaultRatePerMinute
	}
	if o.Hold == 0 {
		o.Hold = DefaultHold
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o, rate: newLimiter(o.RatePerMinute), workers: make(chan struct{}, maxDeliveryWorkers),
		draining: map[string]int{}, unrecorded: map[deliveryKey]time.Time{}}, nil
}

// Parse reads a revocation body strictly: a JSON object with a string
// `jti` and an integer `exp` (PS-232), exp no further ahead than maxAhead
// (PS-290). Unknown members, `iss` included, are ignored: the issuer is
// the verified signer.
func Parse(body []byte, now time.Time, maxAhead time.Duration) (Request, error) {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return Request{}, aauth.BadRequest("the body must be a JSON object: " + err.Error())
	}
	jti, ok := m["jti"].(string)
	if !ok || jti == "" || len(jti) > 256 {
		return Request{}, aauth.BadRequest("jti is required and must be a non-empty string of at most 256 bytes")
	}
	exp, err := intMember(m["exp"])
	if err != nil {
		return Request{}, aauth.BadRequest("exp is required and must be an integer NumericDate")
	}
	t := time.Unix(exp, 0)
	if t.After(now.Add(maxAhead)) {
		return Request{}, aauth.BadRequest("exp is further ahead than any token this person server accepts lives")
	}
	return Request{JTI: jti, Exp: t}, nil
}

// intMember accepts a JSON integer (strictjson numbers are json.Number or
// float64), nothing else.
func intMember(v any) (int64, error) {
	switch n := v.(type) {
	case interface{ Int64() (int64, error) }:
		return n.Int64()
	case float64:
		if n != float64(int64(n)) {
			return 0, errors.New("not an integer")
		}
		return int64(n), nil
	}
	return 0, errors.New("not a number")
}

// Answer is the endpoint's success: Status 200 (empty body) or 202 with
// the pending URL's cascade id.
type Answer struct {
	Status    int
	CascadeID string
}

// Revoke handles a verified server's revocation (E11). wait is how long the
// caller will hold the connection (0: the default hold).
func (s *Service) Revoke(ctx context.Context, c Caller, body []byte, wait time.Duration) (Answer, error) {
	now := s.o.Now()
	if c.DWK != aauth.DWKAgent && c.DWK != aauth.DWKResource {
		return Answer{}, unsupportedIss()
	}
	// A malformed body is refused the same for every caller; only then is
	// the caller's standing looked up.
	req, err := Parse(body, now, s.o.MaxAhead)
	if err != nil {
		return Answer{}, err
	}
	ok, err := s.o.Store.AcceptsRevocationsFrom(ctx, c.ID, c.DWK)
	if err != nil {
		return Answer{}, err
	}
	if !ok {
		return Answer{}, unsupportedIss()
	}
	// A resource is accepted only when the PS issued for it: known.
	known := c.DWK == aauth.DWKResource
	if !known {
		if known, err = s.o.Store.KnownProvider(ctx, c.ID); err != nil {
			return Answer{}, err
		}
	}
	allow := s.rate.allow
	if known {
		allow = s.rate.allowKnown
	}
	if retry, ok := allow(c.ID, now); !ok {
		return Answer{}, rateLimited(retry, "too many revocations from this issuer; retry later")
	}
	var cascadeID, agentSub string
	err = s.o.InTx(ctx, func(st Store) error {
		if err := st.LockRevocations(ctx); err != nil {
			return err
		}
		if prior, err := st.CascadeByToken(ctx, c.ID, req.JTI); err == nil {
			// Idempotent (PS-291): nothing new is recorded; the deliveries
			// that did not succeed are attempted again below.
			cascadeID = prior.ID
			return nil
		} else if !errors.Is(err, dberr.ErrNotFound) {
			return err
		}
		known, err := st.IsRevoked(ctx, c.ID, req.JTI)
		if err != nil || known {
			// A repeat whose first revocation had nothing downstream: it
			// records nothing new, and cascading again would revoke what
			// the agent obtained since with another agent token.
			return err
		}
		n, err := st.LiveRevocations(ctx, c.ID, now)
		if err != nil {
			return err
		}
		if n >= s.o.MaxEntries {
			return rateLimited(60, "this issuer holds as many live revocations as this person server keeps")
		}
		if !known {
			if err := s.boundUnknown(ctx, st, now); err != nil {
				return err
			}
		}
		if err := st.RecordRevocation(ctx, c.ID, req.JTI, req.Exp, now); err != nil {
			return err
		}
		if c.DWK != aauth.DWKAgent {
			return nil // a resource token: nothing downstream (PS-288)
		}
		sub, err := st.AgentTokenSub(ctx, c.ID, req.JTI)
		if err != nil || sub == "" {
			return err
		}
		agentSub = sub
		// By identity (PS-239): what was issued to the agent as the
		// signer, and as a sub-agent (its token accepted as a
		// subagent_token, whichever parent presented it).
		var targets []Issued
		for _, asSub := range []bool{false, true} {
			ts, err := st.IssuedToAgent(ctx, AgentFilter{AgentIss: c.ID, AgentSub: sub, SubAgent: asSub}, now, maxCascade)
			if err != nil {
				return err
			}
			targets = append(targets, ts...)
		}
		cascadeID, err = s.cascade(ctx, st, Cascade{Iss: c.ID, JTI: req.JTI, Exp: req.Exp}, targets, now)
		return err
	})
	if err != nil {
		return Answer{}, err
	}
	if agentSub != "" {
		s.endPending(ctx, c.ID, agentSub, req.JTI)
	}
	if c.DWK == aauth.DWKResource {
		s.endResourceTokenPending(ctx, c.ID, req.JTI)
	}
	if cascadeID == "" {
		return Answer{Status: http.StatusOK}, nil
	}
	s.endChainedPending(ctx, cascadeID)
	if wait <= 0 || wait > s.o.Hold {
		wait = s.o.Hold
	}
	done, err := s.deliver(ctx, cascadeID, wait)
	if err != nil {
		return Answer{}, err
	}
	if !done {
		return Answer{Status: http.StatusAccepted, CascadeID: cascadeID}, nil
	}
	return Answer{Status: http.StatusOK}, nil
}

// endPending ends, 403 revoked, the open requests the agent started with
// the revoked agent token, and those a parent made carrying it as its
// sub-agent's subagent_token; those made with another token go on
// (PS-280, A-59). Failures are logged: the revocation itself stands.
func (s *Service) endPending(ctx context.Context, agentIss, agentSub, tokenJTI string) {
	if s.o.Pending == nil {
		return
	}
	const detail = "the agent token that started this request was revoked"
	reqs, err := s.o.Pending.ForRequester(ctx, pending.Requester{Scheme: aauth.SchemeJWT, Issuer: agentIss, Subject: agentSub})
	if err != nil {
		s.o.Logger.WarnContext(ctx, "revocation: list the agent's pending requests", "err", err)
	}
	for _, r := range reqs {
		var p struct {
			Agent struct {
				TokenJTI string `json:"token_jti"`
			} `json:"agent"`
		}
		if json.Unmarshal(r.Payload, &p) != nil || p.Agent.TokenJTI != tokenJTI {
			continue
		}
		s.failPending(ctx, r.ID, detail)
	}
	// The requester of a sub-agent's request is its parent: the
	// candidates name the token's jti (the two kinds that take a
	// subagent_token), checked exactly.
	for _, kind := range []string{aauth.PendingPersonToken, aauth.PendingAuthToken} {
		refs, err := s.o.Store.OpenPendingNaming(ctx, kind, "token_jti", tokenJTI, maxCascade)
		if err != nil {
			s.o.Logger.WarnContext(ctx, "revocation: list the pending requests of a sub-agent token", "err", err)
			continue
		}
		for _, r := range refs {
			var p struct {
				Agent struct {
					Iss      string `json:"iss"`
					SubAgent *struct {
						Sub      string `json:"sub"`
						TokenJTI string `json:"token_jti"`
					} `json:"subagent"`
				} `json:"agent"`
			}
			if json.Unmarshal(r.Payload, &p) != nil || p.Agent.Iss != agentIss || p.Agent.SubAgent == nil ||
				p.Agent.SubAgent.Sub != agentSub || p.Agent.SubAgent.TokenJTI != tokenJTI {
				continue
			}
			s.failPending(ctx, r.ID, detail)
		}
	}
}

// failPending ends pending request id 403 revoked (PS-280); one already
// closed or expired is left as it is.
func (s *Service) failPending(ctx context.Context, id, detail string) {
	err := s.o.Pending.Fail(ctx, id, http.StatusForbidden, aauth.ErrRevoked, detail)
	if err != nil && !errors.Is(err, pending.ErrClosed) && !errors.Is(err, pending.ErrExpired) {
		s.o.Logger.WarnContext(ctx, "revocation: end a pending request", "err", err)
	}
}

// endResourceTokenPending ends, 403 revoked, the open auth-token requests
// started for the resource token (resource, jti) its resource revoked
// (PS-280, PS-288): they could only ever be refused. Failures are
// logged: the revocation itself stands, and issuance checks it again.
func (s *Service) endResourceTokenPending(ctx context.Context, resource, jti string) {
	if s.o.Pending == nil {
		return
	}
	refs, err := s.o.Store.OpenPendingNaming(ctx, aauth.PendingAuthToken, "resource_token_jti", jti, maxCascade)
	if err != nil {
		s.o.Logger.WarnContext(ctx, "revocation: list the pending requests of a resource token", "err", err)
		return
	}
	for _, r := range refs {
		var p struct {
			Resource         string `json:"resource"`
			ResourceTokenJTI string `json:"resource_token_jti"`
		}
		if json.Unmarshal(r.Payload, &p) != nil || p.Resource != resource || p.ResourceTokenJTI != jti {
			continue
		}
		err := s.o.Pending.Fail(ctx, r.ID, http.StatusForbidden, aauth.ErrRevoked, "the resource revoked the resource token this request was started for")
		if err != nil && !errors.Is(err, pending.ErrClosed) && !errors.Is(err, pending.ErrExpired) {
			s.o.Logger.WarnContext(ctx, "revocation: end a pending request", "err", err)
		}
	}
}

// endChainedPending ends, 403 revoked, the open chained requests whose
// upstream token the committed cascade revoked (PS-280): the person could
// only refuse them. Failures are logged: issuance checks it again.
func (s *Service) endChainedPending(ctx context.Context, cascadeID string) {
	if s.o.Pending == nil {
		return
	}
	ds, err := s.o.Store.Deliveries(ctx, cascadeID)
	if err != nil || len(ds) == 0 {
		return
	}
	revoked := make(map[string]bool, len(ds))
	for _, d := range ds {
		revoked[d.TokenJTI] = true
	}
	refs, err := s.o.Store.OpenChainedPending(ctx, []string{aauth.PendingPersonToken, aauth.PendingAuthToken}, maxCascade)
	if err != nil {
		s.o.Logger.WarnContext(ctx, "revocation: list chained pending requests", "err", err)
		return
	}
	for _, r := range refs {
		var p struct {
			Agent struct {
				Upstream *struct {
					JTI string `json:"jti"`
					// Via: the person token an AS's upstream auth token
					// was obtained with.
					Via string `json:"via"`
				} `json:"upstream"`
			} `json:"agent"`
		}
		if json.Unmarshal(r.Payload, &p) != nil || p.Agent.Upstream == nil ||
			(!revoked[p.Agent.Upstream.JTI] && (p.Agent.Upstream.Via == "" || !revoked[p.Agent.Upstream.Via])) {
			continue
		}
		err := s.o.Pending.Fail(ctx, r.ID, http.StatusForbidden, aauth.ErrRevoked, "the upstream token this request was made with was revoked")
		if err != nil && !errors.Is(err, pending.ErrClosed) && !errors.Is(err, pending.ErrExpired) {
			s.o.Logger.WarnContext(ctx, "revocation: end a pending request", "err", err)
		}
	}
}

// Poll answers a poll of a revocation's pending URL by caller id: 200 once
// every delivery is terminal, 202 before, 404 for another caller or an
// unknown id (PS-286).
func (s *Service) Poll(ctx context.Context, callerID, cascadeID string) (Answer, error) {
	c, err := s.o.Store.CascadeByID(ctx, cascadeID)
	if errors.Is(err, dberr.ErrNotFound) || (err == nil && c.Iss != callerID) {
		return Answer{}, aauth.NewProblem(http.StatusNotFound, aauth.ErrNotFound, "no such pending revocation")
	}
	if err != nil {
		return Answer{}, err
	}
	ds, err := s.o.Store.Deliveries(ctx, cascadeID)
	if err != nil {
		return Answer{}, err
	}
	now := s.o.Now()
	for _, d := range ds {
		if d.Outcome != OutcomePending {
			continue
		}
		if !s.leased(d, now) && !s.drains(cascadeID) {
			// Nobody is sending it: its sender stopped (a restart) or
			// found no free worker. A sender's claim keeps a poll from
			// sending it again.
			s.Deliver(ctx, cascadeID)
		}
		return Answer{Status: http.StatusAccepted, CascadeID: cascadeID}, nil
	}
	return Answer{Status: http.StatusOK}, nil
}

// cascade revokes targets at the PS (iss = the PS) and everything issued
// from them — auth tokens whose presented token was one of them, and
// person and auth tokens issued on one as an upstream token (call
// chaining, PS-294) — walked breadth-first (a chain is at most
// tokens.MaxChainDepth hops, and maxCascade bounds the walk), and queues
// one delivery per token at its resource. It
// returns the cascade's id, or "" when nothing is downstream.
func (s *Service) cascade(ctx context.Context, st Store, c Cascade, targets []Issued, now time.Time) (string, error) {
	seen := map[string]bool{}
	var ds []Delivery
	c.ID = newID()
	for len(targets) > 0 && len(seen) < maxCascade {
		t := targets[0]
		targets = targets[1:]
		if seen[t.JTI] {
			continue
		}
		seen[t.JTI] = true
		revoked, err := st.IsRevoked(ctx, s.o.Issuer, t.JTI)
		if err != nil {
			return "", err
		}
		if !revoked {
			if err := st.RecordRevocation(ctx, s.o.Issuer, t.JTI, t.Exp, now); err != nil {
				return "", err
			}
			ds = append(ds, Delivery{CascadeID: c.ID, Recipient: t.Aud, TokenJTI: t.JTI, TokenExp: t.Exp, Outcome: OutcomePending})
			ases, err := st.Presentations(ctx, t.JTI)
			if err != nil {
				return "", err
			}
			for _, as := range ases {
				ds = append(ds, Delivery{CascadeID: c.ID, Recipient: as, TokenJTI: t.JTI, TokenExp: t.Exp, Outcome: OutcomePending})
			}
		}
		children, err := st.IssuedFrom(ctx, t.JTI, now, maxCascade)
		if err != nil {
			return "", err
		}
		targets = append(targets, children...)
	}
	if len(ds) == 0 {
		return "", nil
	}
	if c.Retried() {
		// Should this process not finish them (it stops first), the retry
		// loop of any replica sends them once this has passed.
		for i := range ds {
			ds[i].NextAttempt = now.Add(staleDelivery)
		}
	}
	if c.Exp.IsZero() {
		for _, d := range ds {
			if d.TokenExp.After(c.Exp) {
				c.Exp = d.TokenExp
			}
		}
	}
	c.Created = now
	if err := st.CreateCascade(ctx, c); err != nil {
		return "", err
	}
	return c.ID, st.AddDeliveries(ctx, ds, now)
}

// deliver attempts every delivery of the cascade that has not succeeded
// and that no other sender is attempting (PS-291: a repeat or a poll
// sends nothing already in flight), concurrently and detached from the
// caller (they finish even when the caller gets 202), and waits up to
// wait for all to be terminal.
func (s *Service) deliver(ctx context.Context, cascadeID string, wait time.Duration) (bool, error) {
	ds, err := s.o.Store.Deliveries(ctx, cascadeID)
	if err != nil {
		return false, err
	}
	// The cascade says whether its outcomes are evidenced (a mission's)
	// and retried (one the PS started).
	var c *Cascade
	if len(ds) > 0 {
		if c, err = s.o.Store.CascadeByID(ctx, cascadeID); err != nil && !errors.Is(err, dberr.ErrNotFound) {
			return false, err
		}
	}
	bg := context.WithoutCancel(ctx)
	now := s.o.Now()
	var todo []Delivery
	for _, d := range ds {
		if d.Outcome != OutcomeRevoked && !s.leased(d, now) {
			todo = append(todo, d)
		}
	}
	finished := s.drain(bg, cascadeID, todo, func(d Delivery, r Result) error {
		outcome := r.Outcome
		retryAt, err := s.settle(bg, c, d, r)
		if err != nil {
			s.o.Logger.WarnContext(bg, "revocation: record a delivery outcome", "recipient", d.Recipient, "err", err)
		}
		if outcome != OutcomeRevoked {
			s.o.Logger.InfoContext(bg, "revocation: downstream revocation not recorded", "recipient", d.Recipient, "outcome", outcome,
				"retry_at", retryAt)
		}
		return err
	})
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-finished:
		// Another sender may still hold some: what is stored answers.
		return s.terminal(ctx, cascadeID)
	case <-timer.C:
		return false, nil
	case <-ctx.Done():
		return false, nil
	}
}

// terminal reports whether every delivery of the cascade is terminal.
func (s *Service) terminal(ctx context.Context, cascadeID string) (bool, error) {
	ds, err := s.o.Store.Deliveries(ctx, cascadeID)
	if err != nil {
		return false, err
	}
	for _, d := range ds {
		if d.Outcome == OutcomePending {
			return false, nil
		}
	}
	return true, nil
}

// drain sends those of todo, deliveries of the cascade, that it claims
// (Store.ClaimDelivery, one at a time just before its attempt: the lease
// covers the attempt, not a wait), each within attemptTimeout of ctx, by
// at most maxConcurrentDeliveries goroutines, each counted in flight
// (WaitIdle) and holding one of the process's maxDeliveryWorkers; when
// none is free, what it did not claim stays for a repeat, a poll or the
// retry loop. record stores each outcome; a claim whose outcome it could
// not store is remembered (unrecorded), so that a repeat re-attempts it at
// once. The channel closes once every goroutine ended.
func (s *Service) drain(ctx context.Context, cascadeID string, todo []Delivery, record func(d Delivery, r Result) error) <-chan struct{} {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
	)
	take := func() (Delivery, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next == len(todo) {
			return Delivery{}, false
		}
		next++
		return todo[next-1], true
	}
	s.dmu.Lock()
	s.draining[cascadeID]++
	s.dmu.Unlock()
workers:
	for range min(len(todo), maxConcurrentDeliveries) {
		select {
		case s.workers <- struct{}{}:
		default:
			break workers
		}
		wg.Add(1)
		done := s.track()
		go func() {
			defer done()
			defer wg.Done()
			defer func() { <-s.workers }()
			for d, ok := take(); ok; d, ok = take() {
				now := s.o.Now()
				d.Lease = s.ownLease(d)
				claimed, ok, err := s.o.Store.ClaimDelivery(ctx, d, now, now.Add(deliveryLease))
				if err != nil {
					s.o.Logger.WarnContext(ctx, "revocation: claim a delivery", "recipient", d.Recipient, "err", err)
				}
				if !ok {
					continue
				}
				s.dmu.Lock()
				delete(s.unrecorded, keyOf(d))
				s.dmu.Unlock()
				sctx, cancel := context.WithTimeout(ctx, attemptTimeout)
				r := s.o.Sender.Send(sctx, claimed.Recipient, claimed.TokenJTI, claimed.TokenExp)
				cancel()
				if record(claimed, r) != nil {
					s.remember(claimed, now)
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		s.dmu.Lock()
		if s.draining[cascadeID]--; s.draining[cascadeID] == 0 {
			delete(s.draining, cascadeID)
		}
		s.dmu.Unlock()
		close(finished)
	}()
	return finished
}

// leased reports whether another sender's lease on d holds at now.
func (s *Service) leased(d Delivery, now time.Time) bool {
	return d.Lease.After(now) && !d.Lease.Equal(s.ownLease(d))
}

// ownLease is this process's unrecorded lease on d (zero: none).
func (s *Service) ownLease(d Delivery) time.Time {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return s.unrecorded[keyOf(d)]
}

// remember keeps claimed's lease, whose outcome could not be stored,
// dropping the lapsed ones when the table is full.
func (s *Service) remember(claimed Delivery, now time.Time) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if len(s.unrecorded) >= maxUnrecorded {
		for k, l := range s.unrecorded {
			if !l.After(now) {
				delete(s.unrecorded, k)
			}
		}
	}
	if len(s.unrecorded) < maxUnrecorded {
		s.unrecorded[keyOf(claimed)] = claimed.Lease
	}
}

// drains reports whether this process is draining the cascade.
func (s *Service) drains(cascadeID string) bool {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return s.draining[cascadeID] > 0
}

// sendEach sends each of ds — at most maxConcurrentDeliveries at once,
// each within attemptTimeout of ctx, counted in flight (WaitIdle) — and
// hands each outcome to record; the channel closes once every record
// returned.
func (s *Service) sendEach(ctx context.Context, ds []Delivery, record func(d Delivery, r Result)) <-chan struct{} {
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxConcurrentDeliveries)
	for _, d := range ds {
		wg.Add(1)
		done := s.track()
		go func(d Delivery) {
			defer done()
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			sctx, cancel := context.WithTimeout(ctx, attemptTimeout)
			defer cancel()
			record(d, s.o.Sender.Send(sctx, d.Recipient, d.TokenJTI, d.TokenExp))
		}(d)
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	return finished
}

// settle stores a delivery's terminal outcome of cascade c (nil when it
// is gone), and returns the retry it scheduled (zero: none). For a
// mission's cascade (an Evidencer set) or one the PS started (retried,
// retry.go) it is stored, if the delivery is still pending, in one
// transaction with its retry and the revocation_result record the
// Evidencer appends to the mission's chain: the outcome, its schedule
// and its evidence commit together, and a delivery another sender
// settled first is neither evidenced twice nor scheduled again. An
// access server's report is stored (and evidenced) with the outcome.
func (s *Service) settle(ctx context.Context, c *Cascade, d Delivery, r Result) (time.Time, error) {
	outcome := r.Outcome
	ev := s.evidencer()
	missionID := ""
	if c != nil && ev != nil {
		missionID = c.Mission
	}
	if missionID == "" && !c.Retried() {
		set := func(st Store) error {
			if err := st.SetDeliveryOutcome(ctx, d, outcome, s.o.Now()); err != nil {
				return err
			}
			return setDownstream(ctx, st, d, r)
		}
		if len(r.Downstream) == 0 {
			return time.Time{}, set(s.o.Store) // one statement
		}
		return time.Time{}, s.o.InTx(ctx, set)
	}
	var retryAt time.Time
	err := s.o.InTx(ctx, func(st Store) error {
		now := s.o.Now()
		retryAt = retryAfter(c, d.Attempts+1, outcome, now, d.TokenExp)
		ok, err := st.SettleDelivery(ctx, d, outcome, now, retryAt)
		if !ok {
			retryAt = time.Time{}
		}
		if err == nil && ok {
			err = setDownstream(ctx, st, d, r)
		}
		if err != nil || !ok || missionID == "" {
			return err
		}
		settled := d
		settled.Outcome, settled.Attempts, settled.UpdatedAt, settled.NextAttempt = outcome, d.Attempts+1, now, retryAt
		return ev.RevocationResult(ctx, st, missionID, s.o.Issuer, settled, r.Downstream)
	})
	if err != nil {
		return time.Time{}, err
	}
	return retryAt, nil
}

// setDownstream stores, with the outcome of delivery d just stored through
// st, the report r carries, if any.
func setDownstream(ctx context.Context, st Store, d Delivery, r Result) error {
	if len(r.Downstream) == 0 {
		return nil
	}
	return st.SetDownstream(ctx, d, r.Downstream)
}

// CascadeAgent revokes, in the caller's transaction st, every live token
// the PS issued that f selects, when the person revokes or unbinds the
// agent or removes a grant (f.PersonID is then the person's): the decision
// and its revocations commit together. It returns the cascade whose
// deliveries Deliver sends once the transaction committed ("" when nothing
// is downstream).
func (s *Service) CascadeAgent(ctx context.Context, st Store, f AgentFilter) (string, error) {
	if err := st.LockRevocations(ctx); err != nil {
		return "", err
	}
	now := s.o.Now()
	ts, err := st.IssuedToAgent(ctx, f, now, maxCascade)
	if err != nil {
		return "", err
	}
	return s.cascade(ctx, st, Cascade{Iss: personIss + f.PersonID, JTI: newID()}, ts, now)
}

// CascadeMission revokes, in the caller's transaction st, the live tokens
// issued under a mission the person revoked (P§revocation-cascade "PS
// revokes a mission"). As CascadeAgentForPerson.
func (s *Service) CascadeMission(ctx context.Context, st Store, personID, s256 string) (string, error) {
	if err := st.LockRevocations(ctx); err != nil {
		return "", err
	}
	now := s.o.Now()
	ts, err := st.IssuedUnderMission(ctx, s256, now, maxCascade)
	if err != nil {
		return "", err
	}
	return s.cascade(ctx, st, Cascade{Iss: personIss + personID, JTI: newID(), Mission: s256}, ts, now)
}

// Deliver sends a committed cascade's downstream revocations in the
// background (detached from ctx's cancellation).
func (s *Service) Deliver(ctx context.Context, cascadeID string) {
	bg := context.WithoutCancel(ctx)
	s.mu.Lock()
	if s.started = append(s.started, cascadeID); len(s.started) > maxStarted {
		s.started = s.started[len(s.started)-maxStarted:]
	}
	s.mu.Unlock()
	done := s.track()
	go func() {
		defer done()
		s.endChainedPending(bg, cascadeID)
		if _, err := s.deliver(bg, cascadeID, 0); err != nil {
			s.o.Logger.WarnContext(bg, "revocation: deliver a cascade", "err", err)
		}
	}()
}

// Report lists the per-recipient outcomes of a cascade the person started
// (PS-287: the person may see them; an agent provider never does): the
// worst outcome per recipient, the resources an access server reported
// on included (PS-292).
func (s *Service) Report(ctx context.Context, cascadeID string) (map[string]string, error) {
	ds, err := s.o.Store.Deliveries(ctx, cascadeID)
	if err != nil {
		return nil, err
	}
	reported, err := s.o.Store.Downstream(ctx, cascadeID)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	add := func(recipient, outcome string) {
		if prev, ok := out[recipient]; !ok || prev == OutcomeRevoked {
			out[recipient] = outcome
		}
	}
	for _, d := range ds {
		add(d.Recipient, d.Outcome)
	}
	for _, e := range reported {
		add(e.Recipient, e.Outcome())
	}
	return out, nil
}

func unsupportedIss() error {
	return aauth.NewProblem(http.StatusForbidden, aauth.ErrUnsupportedIss, "this person server does not accept revocations from this caller")
}

func rateLimited(retry int, detail string) error {
	p := aauth.NewProblem(http.StatusTooManyRequests, aauth.ErrRateLimited, detail)
	p.RetryAfter = retry
	return p
}

func newID() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("revocation: random id: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// limiter bounds revocations per issuer per minute (PS-289), per replica.
// Callers the PS's tables list (a resource it issued for, a provider the
// operator decided on or one of whose agents a person bound: KnownProvider)
// each have their own window, whatever others send: their table is bounded
// by those tables, and ended windows are swept from it. Other agent
// providers (strangers, any number of domains) have their own window while
// fewer than maxLimiterEntries are open, then share one overflow window:
// strangers never crowd out a known caller, and memory stays bounded.
type limiter struct {
	mu        sync.Mutex
	perMin    int
	known     map[string]*window
	strangers map[string]*window
	overflow  window
	sweptAt   time.Time
}

type window struct {
	start time.Time
	n     int
}

const maxLimiterEntries = 10000

func newLimiter(perMin int) *limiter {
	return &limiter{perMin: perMin, known: map[string]*window{}, strangers: map[string]*window{}}
}

// allow counts a revocation of stranger iss.
func (l *limiter) allow(iss string, now time.Time) (retryAfter int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windowOf(l.strangers, iss, now)
	if w == nil {
		w = &l.overflow
	}
	return l.take(w, now)
}

// allowKnown counts a revocation of known caller iss: never refused for
// other issuers' traffic.
func (l *limiter) allowKnown(iss string, now time.Time) (retryAfter int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windowOf(l.known, iss, now)
	if w == nil {
		w = &window{start: now}
		l.known[iss] = w
	}
	return l.take(w, now)
}

// windowOf is iss's window in table, added when there is room (after a
// sweep of ended windows, at most once a second); nil when there is none.
func (l *limiter) windowOf(table map[string]*window, iss string, now time.Time) *window {
	if w := table[iss]; w != nil {
		return w
	}
	if len(table) >= maxLimiterEntries && now.Sub(l.sweptAt) >= time.Second {
		l.sweptAt = now
		for _, t := range []map[string]*window{l.known, l.strangers} {
			for k, x := range t {
				if now.Sub(x.start) >= time.Minute {
					delete(t, k)
				}
			}
		}
	}
	if len(table) >= maxLimiterEntries {
		return nil
	}
	w := &window{start: now}
	table[iss] = w
	return w
}

// take counts one revocation in w, starting its next minute when the last
// ended.
func (l *limiter) take(w *window, now time.Time) (retryAfter int, ok bool) {
	if now.Sub(w.start) >= time.Minute {
		*w = window{start: now}
	}
	if w.n >= l.perMin {
		return max(1, int(time.Minute-now.Sub(w.start))/int(time.Second)), false
	}
	w.n++
	return 0, true
}

// boundUnknown refuses a revocation from an agent provider that is not
// known (KnownProvider) once such providers together hold
// MaxUnknownEntries live revocations, so that unknown domains cannot grow
// the table without bound (PS-290).
func (s *Service) boundUnknown(ctx context.Context, st Store, now time.Time) error {
	n, err := st.LiveRevocationsFromUnknown(ctx, s.o.Issuer, now)
	if err != nil {
		return err
	}
	if n >= s.o.MaxUnknownEntries {
		return rateLimited(60, "this person server keeps no more revocations from agent providers it does not know")
	}
	return nil
}
