// Package authtoken is the auth token endpoint in three-party mode (issue
// 8): the agent brings a resource token the resource minted for this PS and
// the token it presented there; the PS verifies both, resolves the person,
// decides (the person's remembered scope grants and the mission state,
// asking the person through the pending engine when a scope is not
// granted), issues an aa-auth+jwt through the one issuance service and
// records it. One decision function (Service.Handle → decide) so that
// Mission composition can plug its evaluation in later.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Auth Token Endpoint,
// §Resource Token Verification, §Auth Token Structure, §Consent
// Presentation, §Token Endpoint Error Codes; PS-REQUIREMENTS §3.7–3.11.
package authtoken

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/chain"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/resourcetoken"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
	"github.com/aauth-ps/aauth-ps/ps/telemetry"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// The pending-request kind and stage of an auth-token consent.
const (
	KindAuthToken = aauth.PendingAuthToken
	StageConsent  = "consent"
	// StageResource: the person goes through the resource's own
	// interaction first (P§resource-initiated-interaction).
	StageResource = "resource"
)

// Discovery is the egress-guarded, cached discovery of resource metadata
// and keys (*fetch.Discovery).
type Discovery interface {
	resourcetoken.Keys
	Metadata(ctx context.Context, issuer, dwk string) (map[string]any, error)
}

// R3Fetcher fetches an R3 document (*fetch.Client: https, egress policy,
// timeouts, bounded body).
type R3Fetcher interface {
	Do(req *http.Request) (*fetch.Response, error)
	Admit(ctx context.Context, rawURL string) error
}

// Options configure the Service.
type Options struct {
	Issuer      string
	Interact    *interact.Service
	Missions    *missionflow.Flows
	MissionKind *missionflow.Kinds
	Tokens      *tokens.Service
	Engine      *pending.Engine
	Resources   missionflow.Resources
	Discovery   Discovery
	// R3 fetches R3 documents under the egress policy (*fetch.Client);
	// its Admit checks a resource's interaction URL before a redirect.
	R3 R3Fetcher
	// R3Cache keeps verified R3 documents by r3_s256 (content-addressed,
	// bounded); nil: a default-sized cache of the Service's own.
	R3Cache *resourcetoken.R3Cache
	// SignRequest signs the R3 fetch as this PS (pssign.Signer),
	// so the resource can tell who asks (PS-241).
	SignRequest func(ctx context.Context, issuer string, req *http.Request) error
	// OwnKeys resolves the keys of this PS's published JWKS by kid
	// (keys.Manager): presented tokens are verified against what the PS
	// publishes.
	OwnKeys     resourcetoken.OwnKeys
	DB          *store.Store
	Now         func() time.Time
	Window      time.Duration
	AcceptAlgs  []string
	Identifiers aauth.IdentifierPolicy
	Logger      *slog.Logger
	// Chain verifies upstream_token and subagent_token.
	Chain *chain.Resolver
	// Decisions is the Mission composition decision point: mission-bound
	// requests are decided against the mission's Authority Set. nil: none.
	Decisions *composition.Point
	// Federation, when set, admits resource tokens whose aud is a trusted
	// access server (four-party, federate.go).
	Federation *Federation
	// PollLease is how long a replica's lease on polling an access server
	// for one pending request lasts beyond its next poll (default 30 s):
	// another replica takes over once it lapses (poller.go).
	PollLease time.Duration
	// LegacyPersonTokenJTI is the operator's opt-in August 2026 fallback
	// (--legacy-person-token-jti): a request without presented_token uses
	// the PS's own issuance record of the token the resource token names
	// (recorded). Off, presented_token is required (PS-260).
	LegacyPersonTokenJTI bool
}

// Service handles the auth token endpoint.
type Service struct {
	o     Options
	polls *polls // the background polling of access servers (poller.go)
}

// New builds the Service and registers its pending-request kind.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Window == 0 {
		o.Window = aauth.DefaultSignatureWindowSeconds * time.Second
	}
	if o.R3Cache == nil {
		o.R3Cache = resourcetoken.NewR3Cache(0, 0)
	}
	if o.PollLease <= 0 {
		o.PollLease = defaultPollLease
	}
	s := &Service{o: o, polls: newPolls()}
	o.Interact.RegisterKind(KindAuthToken, kind{s})
	return s
}

// Request is a parsed auth-token request.
type Request struct {
	ResourceToken  string   `json:"-"`
	PresentedToken string   `json:"-"`
	Justification  string   `json:"justification,omitempty"`
	LoginHint      string   `json:"login_hint,omitempty"`
	Tenant         string   `json:"tenant,omitempty"`
	DomainHint     string   `json:"domain_hint,omitempty"`
	Prompt         string   `json:"prompt,omitempty"`
	Platform       string   `json:"platform,omitempty"`
	Device         string   `json:"device,omitempty"`
	Capabilities   []string `json:"capabilities,omitempty"`
	// Chain holds upstream_token and subagent_token; what they resolve to
	// is kept in the Grant's Agent.
	Chain chain.Params `json:"-"`
}

// Grant is what the verified request asks for, resolved: everything the
// decision and the issuance need, stored with a pending consent.
type Grant struct {
	Agent            tokens.Agent `json:"agent"`
	PersonID         string       `json:"person_id"`
	Username         string       `json:"-"` // for the operator log only
	Resource         string       `json:"resource"`
	Sub              string       `json:"sub"`
	Scope            []string     `json:"scope,omitempty"`
	MissionS256      string       `json:"mission_s256,omitempty"`
	Tenant           string       `json:"tenant,omitempty"`
	PresentedJTI     string       `json:"presented_jti"`
	PresentedExp     int64        `json:"presented_exp"`
	ResourceTokenJTI string       `json:"resource_token_jti"`
	Justification    string       `json:"justification,omitempty"`
	Prompt           string       `json:"prompt,omitempty"`
	// RequestedTenant is the request's `tenant` parameter.
	RequestedTenant string `json:"requested_tenant,omitempty"`
	// R3 is the verified R3 document the resource token named.
	R3 *resourcetoken.R3Document `json:"r3,omitempty"`
	// R3Selection is what the token grants of the document: the person's
	// choice, or the one they made before on the same document
	// (remembered); nil until decided.
	R3Selection *resourcetoken.R3Selection `json:"r3_selection,omitempty"`
	// Interaction is the resource's own flow, and ReturnState the
	// per-flow secret in the PS callback URL the resource returns to.
	Interaction *resourcetoken.Interaction `json:"interaction,omitempty"`
	ReturnState string                     `json:"return_state,omitempty"`
	// AccessServer is the resource token's aud when it is not this PS
	// (four-party); Federated what goes to it.
	AccessServer string     `json:"access_server,omitempty"`
	Federated    *Federated `json:"federated,omitempty"`
	// StepWait: the mission's decision deferred the request for
	// checkpoints; recording one decides it again (steps.go).
	StepWait *interact.StepWait `json:"step_wait,omitempty"`
	// PresentedAS is the access server that issued the presented auth
	// token ("": this PS issued the presented token), PresentedVia the
	// person token this PS presented to it that the token was obtained
	// with: either revoked refuses it (presentedKeys).
	PresentedAS  string `json:"presented_as,omitempty"`
	PresentedVia string `json:"presented_via,omitempty"`
}

// checkTenant: the tenant the request names must be the person's (else
// 400 invalid_request), and the tenant the resource and presented tokens
// carry must still be the person's, absence included (else the presented
// token no longer describes the person: invalid_presented_token, and the
// agent gets a fresh person token). The auth token then carries the
// person's tenant exactly when the resource token does (PS-108).
func (g *Grant) checkTenant(p *account.Person) error {
	if err := tokens.CheckTenant(g.RequestedTenant, p.Tenant); err != nil {
		return err
	}
	if g.Tenant != p.Tenant {
		return aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidPresentedToken,
			"the presented token's tenant is not the organisation the person belongs to now")
	}
	return nil
}

// Parse validates the request body (PS-048, PS-051, P§ps-token-endpoint).
func Parse(body []byte) (*Request, error) {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, aauth.BadRequest("the body must be a JSON object: " + err.Error())
	}
	var r Request
	rt, ok := m["resource_token"].(string)
	if !ok || rt == "" {
		return nil, aauth.BadRequest("resource_token is required and must be a string")
	}
	r.ResourceToken = rt
	for _, f := range []struct {
		name string
		dst  *string
		max  int
	}{
		{"presented_token", &r.PresentedToken, jose.MaxJWTLength}, {"justification", &r.Justification, 8 << 10},
		{"login_hint", &r.LoginHint, 256}, {"tenant", &r.Tenant, 256}, {"domain_hint", &r.DomainHint, 256},
		{"prompt", &r.Prompt, 64}, {"platform", &r.Platform, 200}, {"device", &r.Device, 200},
	} {
		if *f.dst, err = interact.RequestString(m, f.name, f.max); err != nil {
			return nil, err
		}
	}
	if err := tokens.CheckAsserted(r.Platform, r.Device); err != nil {
		return nil, err
	}
	switch r.Prompt {
	case "", "none", "login", "consent", "select_account":
	default:
		if strings.Contains(r.Prompt, "none") {
			return nil, aauth.BadRequest("prompt none cannot be combined with other values")
		}
	}
	if r.Capabilities, err = interact.ParseCapabilities(m); err != nil {
		return nil, err
	}
	if r.Chain, err = chain.Parse(m); err != nil {
		return nil, err
	}
	return &r, nil
}

// Handle answers the auth token endpoint for a verified agent: 200 with an
// auth token, 202 while the person is asked, or an error. A refusal issues
// and records nothing.
func (s *Service) Handle(ctx context.Context, a *httpsig.Agent, body []byte) (int, any, *pending.Response, error) {
	r, err := Parse(body)
	if err != nil {
		return 0, nil, nil, err
	}
	if err := s.needPresented(r); err != nil {
		return 0, nil, nil, err // before any token is verified or fetched
	}
	ag := tokens.AgentOf(a).Asserting(r.Platform, r.Device)
	if err := s.o.Chain.Apply(ctx, a, &ag, r.Chain); err != nil {
		return 0, nil, nil, err
	}
	if ag.Upstream == nil {
		// decide reads the person: with the mission, if the resource
		// token names one (finding 67).
		ctx = store.ReadBindingAhead(ctx, a.Provider, a.ID)
	}
	g, ms, err := s.verify(ctx, ag, r)
	if err != nil {
		return 0, nil, nil, err
	}
	if g.AccessServer != "" {
		if err := s.federable(ctx, g, a, r); err != nil {
			return 0, nil, nil, err
		}
	}
	if ms != nil && r.Capabilities == nil {
		r.Capabilities = ms.Capabilities // captured at approval (P§auth-token-request, A-11)
	}
	return s.decide(ctx, a, r, g, ms)
}

// needPresented: presented_token is REQUIRED (PS-260), missing or empty is
// 400 invalid_request, unless the operator keeps the August 2026 record
// fallback (Options.LegacyPersonTokenJTI, recorded). Parse already refuses
// a value that is not a string.
func (s *Service) needPresented(r *Request) error {
	if r.PresentedToken == "" && !s.o.LegacyPersonTokenJTI {
		return aauth.BadRequest("presented_token is required")
	}
	return nil
}

// verify runs the checks of P§resource-token-verification for agent ag (the
// verified signer) and resolves the person and the mission the grant
// belongs to.
func (s *Service) verify(ctx context.Context, ag tokens.Agent, r *Request) (*Grant, *mission.Record, error) {
	if err := s.needPresented(r); err != nil {
		return nil, nil, err
	}
	now := s.o.Now()
	// With a sub-agent the resource token names the sub-agent's key, not
	// the signer's (PS-141).
	exp := resourcetoken.Expect{Issuer: s.o.Issuer, AgentJKT: ag.HolderThumbprint(), Now: now, Window: s.o.Window,
		AcceptAlgs: s.o.AcceptAlgs, CheckServer: s.o.Identifiers.CheckServer, AccessServer: s.accessServerCheck(ctx)}
	rt, err := resourcetoken.VerifyResourceToken(ctx, r.ResourceToken, s.o.Discovery, exp)
	if err != nil {
		return nil, nil, err
	}
	var p *resourcetoken.Presented
	if r.PresentedToken != "" {
		p, err = s.presented(ctx, r.PresentedToken, rt, exp) // a step-up AS token too (stepup.go)
	} else {
		p, err = s.recorded(ctx, rt, now)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := resourcetoken.Match(rt, p); err != nil {
		s.o.Logger.WarnContext(ctx, "security: resource token does not match the presented token",
			"resource", rt.Iss, "agent", ag.Sub, "err", err)
		return nil, nil, err
	}
	var r3 *resourcetoken.R3Document
	if rt.R3URI != "" {
		if r3, err = s.fetchR3(ctx, rt); err != nil {
			return nil, nil, err
		}
	}
	personID, err := s.o.Tokens.PersonBySub(ctx, rt.Iss, rt.Sub)
	if err != nil {
		return nil, nil, err
	}
	if personID == "" {
		return nil, nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidResourceToken, "the resource token's sub is not an identifier this person server issued for the resource")
	}
	var described map[string]any
	if md, err := s.o.Discovery.Metadata(ctx, rt.Iss, aauth.DWKResource); err == nil {
		described, _ = md["scope_descriptions"].(map[string]any)
	}
	g := &Grant{Agent: ag, PersonID: personID, Resource: rt.Iss, Sub: rt.Sub, Scope: tokens.GrantableScopes(dedupe(rt.Scope), described),
		MissionS256: rt.MissionS256.Value, Tenant: rt.Tenant.Value, PresentedJTI: p.JTI, PresentedExp: p.Exp.Unix(),
		PresentedAS: p.AccessServer, PresentedVia: p.Via,
		ResourceTokenJTI: rt.JTI, Justification: r.Justification, Prompt: r.Prompt, RequestedTenant: r.Tenant, R3: r3, Interaction: rt.Interaction}
	if rt.Aud != s.o.Issuer {
		g.AccessServer = rt.Aud
	}
	if len(g.Scope) == 0 && g.R3 == nil {
		// Narrowing left nothing to grant (PS-111): never a token the
		// person was not asked about.
		return nil, nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidResourceToken, "the resource token asks for no scope this person server can grant")
	}
	if rt.Interaction != nil {
		if s.o.R3 == nil || s.o.R3.Admit(ctx, rt.Interaction.URL) != nil {
			return nil, nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidResourceToken, "the resource token's interaction url is not admitted by this person server's egress policy")
		}
		g.ReturnState = rand.Text()
	}
	if ag.Upstream != nil {
		ms, err := s.chained(ctx, g, p)
		if err == nil {
			err = s.notRevoked(ctx, rt, p)
		}
		if err != nil {
			return nil, nil, err
		}
		return g, ms, nil
	}
	var ms *mission.Record
	if g.MissionS256 != "" {
		// Step 4: the mission is this agent's and active now. The
		// revocations notRevoked checks next, and the scopes the person
		// granted that decideInMission reads, are read with it (findings
		// 68, 69).
		store.ReadRevocationsAhead(ctx, s.revocationKeys(rt, p))
		iss, sub := g.Agent.Grantee()
		store.ReadScopesAhead(ctx, g.PersonID, iss, sub, g.Resource)
		ms, err = s.o.Missions.Missions.Owned(ctx, g.MissionS256, ag.Iss, ag.Sub)
		if errors.Is(err, dberr.ErrNotFound) {
			return nil, nil, mission.NotFound()
		}
		if err != nil {
			return nil, nil, err
		}
		if ok, reason := ms.State().Active(now); !ok {
			return nil, nil, mission.Terminated(reason)
		}
	}
	// After the mission: a revoked mission's tokens are revoked too, and
	// its termination is the more useful answer.
	if err := s.notRevoked(ctx, rt, p); err != nil {
		return nil, nil, err
	}
	return g, ms, nil
}

// notRevoked refuses a resource token its resource revoked at this PS
// (PS-269, whether or not the PS had seen it) and a presented token this PS
// revoked (PS-266): P§revocation-cascade, P§presenting-a-revoked-token.
func (s *Service) notRevoked(ctx context.Context, rt *resourcetoken.ResourceToken, p *resourcetoken.Presented) error {
	switch i, err := s.o.DB.FirstRevoked(ctx, s.revocationKeys(rt, p)); {
	case err != nil:
		return err
	case i == 0:
		return aauth.NewProblem(http.StatusBadRequest, aauth.ErrRevokedResourceToken, "the resource revoked this resource token")
	case i > 0:
		return revokedPresented(p.AccessServer, i-1)
	}
	return nil
}

// revocationKeys are the tokens notRevoked looks up, in one statement
// (issue 12): the resource token first, for its answer comes first.
func (s *Service) revocationKeys(rt *resourcetoken.ResourceToken, p *resourcetoken.Presented) [][2]string {
	return append([][2]string{{rt.Iss, rt.JTI}}, s.presentedKeys(p.AccessServer, p.JTI, p.Via)...)
}

// presentedKeys are the revocations that refuse a presented token
// (PS-266, PS-274): this PS's own token by (this PS, jti); an access
// server's auth token by (that AS, jti) and by the person token this PS
// presented to it that the token was obtained with (via): revoking that
// person token revokes what the AS issued on it (P§revocation-cascade).
func (s *Service) presentedKeys(as, jti, via string) [][2]string {
	if as == "" {
		return [][2]string{{s.o.Issuer, jti}}
	}
	return [][2]string{{as, jti}, {s.o.Issuer, via}}
}

// revokedPresented is the answer when key i of presentedKeys(as, …) is
// revoked.
func revokedPresented(as string, i int) *aauth.Problem {
	detail := "this person server revoked the presented token"
	switch {
	case i == 1:
		detail = "this person server revoked the person token the presented auth token was obtained with"
	case as != "":
		detail = "the access server revoked the presented auth token"
	}
	return aauth.NewProblem(http.StatusBadRequest, aauth.ErrRevokedPresentedToken, detail)
}

// UpdatedRequest verifies an `updated_request` on a pending auth-token
// request (pending.Options.OnUpdatedRequest, PS-177): the new resource and
// presented tokens go through every check again, for the agent that
// started the request, and must keep the resource, sub, mission and tenant
// (with ps and agent_jkt checked against this PS and the agent's key by
// verification itself). The answer is the new payload.
func (s *Service) UpdatedRequest(ctx context.Context, pr *pending.Request, body map[string]any) (json.RawMessage, error) {
	if pr.Kind != KindAuthToken {
		return nil, aauth.BadRequest("updated_request applies to auth token requests only")
	}
	old, err := kind{s}.load(pr)
	if err != nil {
		return nil, err
	}
	asked := answeringAS(pr, old)
	if old.AccessServer != "" && !asked && (pr.Stage != StageNarrowed || old.Federated == nil) {
		return nil, aauth.BadRequest("updated_request does not apply to a request federated with an access server")
	}
	if asked && pr.Question == nil {
		return nil, aauth.BadRequest("no question of the access server is outstanding")
	}
	r := &Request{Justification: old.Justification, Prompt: old.Prompt}
	r.ResourceToken, _ = body["resource_token"].(string)
	r.PresentedToken, _ = body["presented_token"].(string)
	if j, ok := body["justification"].(string); ok {
		r.Justification = j
	}
	g, _, err := s.verify(ctx, old.Agent, r)
	if err != nil {
		return nil, err
	}
	if g.Resource != old.Resource || g.Sub != old.Sub || g.MissionS256 != old.MissionS256 || g.Tenant != old.Tenant || g.PersonID != old.PersonID ||
		g.AccessServer != old.AccessServer {
		return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidResourceToken,
			"the updated resource token must keep the resource, sub, mission_s256, tenant and access server of the request")
	}
	if old.AccessServer != "" {
		if err := federableGrant(g); err != nil {
			return nil, err
		}
		fr := old.Federated.Request
		fr.ResourceToken, fr.PresentedToken = r.ResourceToken, r.PresentedToken
		if asked {
			// The AS's question: the new tokens go to the AS (stepAS).
			if g.Federated, err = updatedForAS(old, g, fr); err != nil {
				return nil, err
			}
			return json.Marshal(g)
		}
		// The narrowed request (mission.go): the new tokens go to the AS
		// once the decision is made again.
		g.Federated = &Federated{Request: fr}
	}
	return json.Marshal(g)
}

// fetchR3 fetches and verifies the R3 document of rt (R3§r3-processing):
// through the egress-guarded client, the bytes as received hashed against
// r3_s256. A document that cannot be fetched or does not match is the
// resource token's fault: 400 invalid_resource_token (PS-242, PS-243).
func (s *Service) fetchR3(ctx context.Context, rt *resourcetoken.ResourceToken) (*resourcetoken.R3Document, error) {
	if s.o.R3 == nil {
		return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidResourceToken, "this person server does not fetch R3 documents")
	}
	// The r3_uri passes the egress policy even when the document is
	// cached: the same answer with and without a cache (PS-242).
	if err := s.o.R3.Admit(ctx, rt.R3URI); err != nil {
		s.o.Logger.WarnContext(ctx, "R3 document not admitted", "resource", rt.Iss, "err", err)
		return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidResourceToken, "the R3 document at r3_uri could not be fetched")
	}
	// Content-addressed (R3§content-addressing): bytes that verified
	// against this hash once are the document; keyed by the URI too, so a
	// resource token naming a URI the resource never served that document
	// at still fails (PS-243). VerifyR3 checks the cached bytes again.
	cacheKey := rt.R3URI + " " + rt.R3S256
	if body, ok := s.o.R3Cache.Get(cacheKey); ok {
		return resourcetoken.VerifyR3(rt, body)
	}
	resp, err := s.getR3(ctx, rt.R3URI)
	if err != nil || resp.StatusCode != http.StatusOK {
		s.o.Logger.WarnContext(ctx, "R3 document not fetched", "resource", rt.Iss, "err", err)
		return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidResourceToken, "the R3 document at r3_uri could not be fetched")
	}
	doc, err := resourcetoken.VerifyR3(rt, resp.Body)
	if err != nil {
		return nil, err
	}
	s.o.R3Cache.Put(cacheKey, resp.Body)
	return doc, nil
}

// getR3 is the signed GET of an R3 document (R3§r3-document-access-restriction).
func (s *Service) getR3(ctx context.Context, uri string) (*fetch.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	if s.o.SignRequest != nil {
		if err := s.o.SignRequest(ctx, s.o.Issuer, req); err != nil {
			return nil, err
		}
	}
	return s.o.R3.Do(req)
}

// recorded is the August 2026 reading (issue 8), only with the operator's
// LegacyPersonTokenJTI: without presented_token the PS reads its own
// issuance record of the resource token's presented_jti (or
// person_token_jti): a person or auth token it issued.
func (s *Service) recorded(ctx context.Context, rt *resourcetoken.ResourceToken, now time.Time) (*resourcetoken.Presented, error) {
	p := &resourcetoken.Presented{Iss: s.o.Issuer, JTI: rt.PresentedJTI}
	var mission, tenant string
	if rec, err := s.o.Tokens.PersonTokenRecord(ctx, rt.PresentedJTI); err == nil {
		p.Typ, p.Aud, p.Sub, p.CnfJKT, p.Exp, mission, tenant = aauth.TypPersonToken, rec.Aud, rec.Sub, rec.CnfThumbprint, rec.Exp, rec.MissionS256, rec.Tenant
	} else if !errors.Is(err, dberr.ErrNotFound) {
		return nil, err
	} else if rec, err := s.o.Tokens.AuthTokenRecord(ctx, rt.PresentedJTI); err == nil {
		p.Typ, p.Aud, p.Sub, p.CnfJKT, p.Exp, mission, tenant = aauth.TypAuthToken, rec.Aud, rec.Sub, rec.CnfThumbprint, rec.Exp, rec.MissionS256, rec.Tenant
	} else if errors.Is(err, dberr.ErrNotFound) {
		return nil, aauth.BadRequest("presented_token is required: this person server keeps no record of the token the resource token names")
	} else {
		return nil, err
	}
	p.MissionS256 = resourcetoken.Claim{Value: mission, Present: mission != ""}
	p.Tenant = resourcetoken.Claim{Value: tenant, Present: tenant != ""}
	return p, p.Bound(rt, now)
}

// decide is the one decision point: the person, their remembered grants and
// the mission state; it issues at once or asks the person.
func (s *Service) decide(ctx context.Context, a *httpsig.Agent, r *Request, g *Grant, ms *mission.Record) (int, any, *pending.Response, error) {
	ctx, span := telemetry.Start(ctx, "aauth.decide")
	defer span.End()
	person, res, err := s.person(ctx, a, r, g)
	if err != nil || res != nil {
		return 0, nil, res, err
	}
	if person.ID != g.PersonID || (ms != nil && ms.PersonID != person.ID) {
		// The agent is bound to someone else now than the person the
		// presented token names: it speaks for nobody here.
		return 0, nil, nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidPresentedToken, "the presented token names a person this agent no longer acts for")
	}
	if err := g.checkTenant(person); err != nil {
		return 0, nil, nil, err
	}
	if ms != nil && ms.Hold != nil {
		// Suspended: held until it resumes (then Bound decides) or ends.
		res, err := s.o.Interact.Hold(ctx, a, person, r.Capabilities, KindAuthToken, g, ms.Hold.Until)
		return 0, nil, res, err
	}
	g.Username = person.Username
	if g.MissionS256 != "" && s.o.Decisions != nil && r.Prompt != "consent" && g.Interaction == nil {
		dec, out, err := s.decideInMission(ctx, g, person, r.Capabilities, "", ms)
		switch {
		case err != nil:
			return 0, nil, nil, err
		case dec.Issue() && g.AccessServer != "":
			// Four-party, permitted (effects and evidence committed): the
			// access server issues (federate.go).
			return s.federateNow(ctx, a, r, g, ms, person)
		case dec.Issue():
			return http.StatusOK, out, nil, nil
		case narrowing(dec):
			// Four-party, partly refused: the agent is asked for an
			// updated_request (mission.go).
			res, err := s.askNarrower(ctx, a, r, g, person, dec)
			return 0, nil, res, err
		case dec.Deny():
			return 0, nil, nil, dec.Problem()
		}
		// Deferred: the person is asked below; their answer is decided
		// again, and so is the request when a step it waits for is recorded.
		g.StepWait = stepWait(g, dec, false)
	} else if covered, err := s.covered(ctx, g); err != nil {
		return 0, nil, nil, err
	} else if covered && r.Prompt != "consent" && g.Interaction == nil && g.AccessServer != "" {
		// Four-party: the access server issues (federate.go).
		return s.federateNow(ctx, a, r, g, ms, person)
	} else if covered && r.Prompt != "consent" && g.Interaction == nil {
		var out map[string]any
		pre := s.presign(ctx, g, ms, person) // outside the transaction (tokens.Presigned)
		if err := s.o.DB.InTx(ctx, func(tx *store.Store) error {
			var issueErr error
			out, issueErr = s.issue(ctx, s.o.Tokens.WithStore(tx), s.o.Missions.Missions.WithStore(tx), g, ms, person, pre)
			return issueErr
		}); err != nil {
			return 0, nil, nil, err
		}
		return http.StatusOK, out, nil, nil
	}
	if r.Prompt == "none" {
		return 0, nil, nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrUserUnreachable,
			"the person must be asked, and prompt=none forbids it")
	}
	res, err = s.o.Interact.AskPersonUntil(ctx, a, person, r.Capabilities, KindAuthToken, firstStage(g), g, chain.Deadline(g.Agent))
	return 0, nil, res, err
}

// firstStage is where the person starts: the resource's own interaction
// when it asked for one, else the PS's consent.
func firstStage(g *Grant) string {
	if g.Interaction != nil {
		return StageResource
	}
	return StageConsent
}

// covered: every requested scope was granted to this agent at this
// resource by this person before, and so was the R3 document the resource
// token names (by r3_s256): then g.R3Selection is the person's earlier
// choice on it. A per-call proposal is never covered: each call is asked
// (R3§per-call-proposals).
func (s *Service) covered(ctx context.Context, g *Grant) (bool, error) {
	iss, sub := g.Agent.Grantee()
	if g.R3 != nil {
		if g.R3.Proposal() {
			return false, nil
		}
		rem, err := s.o.Tokens.R3Grant(ctx, g.PersonID, tokens.GrantKey{Kind: tokens.GrantR3, AgentIss: iss, AgentSub: sub,
			Resource: g.Resource, R3S256: g.R3.S256})
		if errors.Is(err, dberr.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		sel, err := rememberedSelection(rem, g.R3)
		if err != nil {
			return false, err
		}
		g.R3Selection = sel
	}
	granted, err := s.o.Tokens.GrantedScopes(ctx, g.PersonID, iss, sub, g.Resource)
	if err != nil {
		return false, err
	}
	for _, sc := range g.Scope {
		if !slices.Contains(granted, sc) {
			return false, nil
		}
	}
	return true, nil
}

// authRequest is the auth token g asks for, under ms.
func authRequest(g *Grant, ms *mission.Record, p *account.Person) (tokens.AuthTokenRequest, error) {
	r3, err := r3Grant(g)
	return tokens.AuthTokenRequest{Agent: g.Agent, PersonID: g.PersonID, Username: g.Username, Tenant: g.Tenant,
		Identity: tokens.IdentityClaims(g.Scope, p),
		Resource: g.Resource, Sub: g.Sub, Scope: g.Scope, Mission: ms, PresentedJTI: g.PresentedJTI,
		PresentedAS: g.PresentedAS, PresentedVia: g.PresentedVia,
		PresentedExp: time.Unix(g.PresentedExp, 0), ResourceTokenJTI: g.ResourceTokenJTI, R3: r3}, err
}

// presign signs g's auth token before the transaction that will issue it
// (tokens.Presigned); nil when it cannot.
func (s *Service) presign(ctx context.Context, g *Grant, ms *mission.Record, p *account.Person) *tokens.Presigned {
	r, err := authRequest(g, ms, p)
	if err != nil {
		return nil
	}
	return s.o.Tokens.PresignAuthToken(ctx, r)
}

// issue signs and records the auth token (or takes pre, signed before the
// transaction, when it is the same token) and logs it in the mission,
// through toks and log (bound to the caller's transaction). The scope is
// the requested one, every value of which the person granted: never
// broader than requested ∩ granted.
func (s *Service) issue(ctx context.Context, toks *tokens.Service, log *missionflow.Service, g *Grant, ms *mission.Record, p *account.Person, pre *tokens.Presigned) (map[string]any, error) {
	r, err := authRequest(g, ms, p)
	if err != nil {
		return nil, err
	}
	r.Presigned = pre
	iss, err := toks.IssueAuthToken(ctx, r)
	switch {
	case errors.Is(err, tokens.ErrTooShort) && g.Agent.Upstream != nil && !g.Agent.Upstream.Exp.After(time.Unix(g.PresentedExp, 0)):
		return nil, chain.TooShort(g.Agent, ms)
	case errors.Is(err, tokens.ErrTooShort):
		return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrExpiredPresentedToken, "the presented token expires too soon to issue an auth token")
	case errors.Is(err, tokens.ErrSubMismatch):
		return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidResourceToken, err.Error())
	case err != nil:
		return nil, err
	}
	if ms != nil {
		if j := strings.TrimSpace(g.Justification); j != "" {
			if err := log.Log(ctx, ms.S256, mission.Entry{Kind: "auth_token", Actor: "agent", Summary: j}); err != nil {
				return nil, err
			}
		}
		summary := "Auth token issued for " + g.Resource + "."
		if len(g.Scope) > 0 {
			summary = "Auth token issued for " + g.Resource + " (scope " + strings.Join(g.Scope, " ") + ")."
		}
		if err := log.Log(ctx, ms.S256, mission.Entry{Kind: "auth_token", Actor: "ps", Summary: summary}); err != nil {
			return nil, err
		}
	}
	return map[string]any{"auth_token": iss.Token, "expires_in": int(iss.Exp.Sub(s.o.Now()).Round(time.Second) / time.Second)}, nil
}

// r3Grant is the R3 part of the token (three-party: this PS is the
// issuer, A-32): the operations the person granted outright and per call,
// every one of them from the document; every operation outright when no
// choice was made (an older consent page).
func r3Grant(g *Grant) (*tokens.R3Grant, error) {
	d := g.R3
	if d == nil {
		return nil, nil
	}
	sel := g.R3Selection
	if sel == nil {
		all := d.Select(nil)
		sel = &all
	}
	granted, err := json.Marshal(sel.Granted)
	if err != nil {
		return nil, err
	}
	out := &tokens.R3Grant{URI: d.URI, S256: d.S256, Vocabulary: d.Vocabulary, Operations: granted}
	if len(sel.PerCall) > 0 {
		if out.PerCall, err = json.Marshal(sel.PerCall); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rememberedSelection reads a remembered R3 grant back, keeping only
// operations of doc (the same document by hash, so all of them: the check
// keeps the token within the document whatever the table holds).
func rememberedSelection(r *tokens.R3Remembered, doc *resourcetoken.R3Document) (*resourcetoken.R3Selection, error) {
	var granted, perCall []json.RawMessage
	if err := json.Unmarshal(r.Granted, &granted); err != nil {
		return nil, err
	}
	if len(r.PerCall) > 0 {
		if err := json.Unmarshal(r.PerCall, &perCall); err != nil {
			return nil, err
		}
	}
	inDoc := func(ops []json.RawMessage) []json.RawMessage {
		out := []json.RawMessage{}
		for _, op := range ops {
			if slices.ContainsFunc(doc.Ops, func(d json.RawMessage) bool { return bytes.Equal(d, op) }) {
				out = append(out, op)
			}
		}
		return out
	}
	sel := &resourcetoken.R3Selection{Granted: inDoc(granted), PerCall: inDoc(perCall)}
	if len(sel.PerCall) == 0 {
		sel.PerCall = nil
	}
	return sel, nil
}

// rememberR3 keeps the person's choice on an R3 document for the agent at
// the resource, so the same document is not asked about again; never a
// per-call proposal (its approval is for one call), never an empty one.
func (s *Service) rememberR3(ctx context.Context, toks *tokens.Service, personID string, g *Grant) error {
	if g.R3 == nil || g.R3.Proposal() || g.R3Selection == nil || g.R3Selection.Empty() {
		// Nothing of the document given: the next request asks again.
		return nil
	}
	granted, err := json.Marshal(g.R3Selection.Granted)
	if err != nil {
		return err
	}
	perCall, err := json.Marshal(g.R3Selection.PerCall)
	if err != nil {
		return err
	}
	iss, sub := g.Agent.Grantee()
	return toks.GrantR3(ctx, personID, tokens.GrantKey{Kind: tokens.GrantR3, AgentIss: iss, AgentSub: sub, Resource: g.Resource, R3S256: g.R3.S256},
		tokens.R3Remembered{URI: g.R3.URI, S256: g.R3.S256, Vocabulary: g.R3.Vocabulary, Summary: g.R3.Display.Summary,
			Granted: granted, PerCall: perCall})
}

func dedupe(scope []string) []string {
	var out []string
	for _, s := range scope {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// kind is the auth-token consent as the person sees it.
type kind struct{ s *Service }

func (k kind) load(r *pending.Request) (*Grant, error) {
	var g Grant
	if err := json.Unmarshal(r.Payload, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

func (k kind) mission(ctx context.Context, g *Grant) (*mission.Record, error) {
	if g.MissionS256 == "" {
		return nil, nil
	}
	return k.s.o.Missions.Missions.Get(ctx, g.MissionS256)
}

// Describe shows the resource's own words (metadata, scope_descriptions)
// apart from the agent's justification (P§consent-presentation).
func (k kind) Describe(ctx context.Context, r *pending.Request, c *interact.Consent) error {
	g, err := k.load(r)
	if err != nil {
		return err
	}
	info := k.s.o.Resources.Describe(ctx, g.Resource)
	c.Resource = &info
	var descriptions map[string]any
	if md, err := k.s.o.Discovery.Metadata(ctx, g.Resource, aauth.DWKResource); err == nil {
		descriptions, _ = md["scope_descriptions"].(map[string]any)
	}
	for _, sc := range g.Scope {
		d, _ := descriptions[sc].(string)
		c.Scopes = append(c.Scopes, interact.ScopeInfo{Name: sc, Description: d})
	}
	if r.Stage == StageResource && g.Interaction != nil {
		c.RelayURL = k.s.resourceLink(r.ID, g)
	}
	if r.Stage == StageASInteraction && g.Federated != nil && g.Federated.Wait != nil {
		c.RelayURL = g.Federated.Wait.URL + "?" + url.Values{"code": {g.Federated.Wait.Code}}.Encode()
	}
	if r.Stage == StageASQuestion {
		c.ASQuestion = k.describeQuestion(g)
	}
	if r.Stage == StageASClaims {
		if c.ASClaims, err = k.describeClaims(ctx, r, g); err != nil {
			return err
		}
	}
	if g.R3 != nil {
		display := g.R3.Display
		c.R3 = &display
		if g.R3.Proposal() {
			var params bytes.Buffer
			if json.Indent(&params, g.R3.Parameters, "", "  ") == nil {
				c.R3Parameters = params.String()
			}
		}
		for _, op := range g.R3.Ops {
			c.R3Operations = append(c.R3Operations, resourcetoken.R3OperationLabel(op))
		}
	}
	if j := strings.TrimSpace(g.Justification); j != "" {
		c.Statements = append(c.Statements, interact.Statement{Kind: interact.StatementJustification, Markdown: j, At: r.CreatedAt})
	}
	if ms, _ := k.mission(ctx, g); ms != nil {
		c.Mission, _ = k.s.o.MissionKind.Info(ctx, ms)
	}
	markNarrowingQuestions(c)
	if g.Federated != nil {
		for _, q := range g.Federated.AgentAsked {
			if c.ASAsked == nil {
				c.ASAsked = map[string]string{}
			}
			c.ASAsked[q] = g.AccessServer
		}
	}
	return nil
}

// Decide remembers the person's grant and issues the token, answering the
// agent, in one transaction.
func (k kind) Decide(ctx context.Context, r *pending.Request, p *account.Person, d interact.Decision) (*interact.Outcome, bool, error) {
	if r.Stage == StageASInteraction || r.Stage == StageASPayment || r.Stage == StageAccessServer || r.Stage == StageASClarification || r.Stage == StageASClaims || r.Stage == StageASQuestion || r.Stage == StageNarrowed {
		return k.decideAS(ctx, r, p, d)
	}
	if r.Stage == StageResource && (d.Action == "open" || d.Action == "approve") {
		// On to the resource's interaction (P§resource-initiated-interaction
		// step 3), admitted by the egress policy again at the redirect.
		g, err := k.load(r)
		if err != nil || g.Interaction == nil {
			return nil, true, err
		}
		if err := k.s.o.R3.Admit(ctx, g.Interaction.URL); err != nil {
			return &interact.Outcome{End: interact.EndLinkRefused}, true, nil
		}
		return &interact.Outcome{Redirect: k.s.resourceLink(r.ID, g)}, true, nil
	}
	if d.Action == "deny" && (r.Stage == StageConsent || r.Stage == interact.StageRoleStep) {
		handled, err := k.refusedInMission(ctx, r, p)
		return nil, handled, err
	}
	if d.Action != "approve" || r.Stage != StageConsent {
		return nil, false, nil
	}
	g, err := k.load(r)
	if err != nil {
		return nil, true, err
	}
	if err := g.checkTenant(p); err != nil {
		return nil, true, k.s.o.Engine.Answer(ctx, r.ID, nil, err)
	}
	// The person may approve some of the scopes (issue 8) and grant each
	// operation of an R3 document outright, per call or not at all: the
	// token and the remembered grants carry those only, never one not
	// asked. With R3 the scopes may all be unticked (the resource token's
	// scope is optional when R3 is present, and each is honoured on its
	// own: R3§resource-token-extensions); something must be given.
	approved := d.Scopes.Of(g.Scope)
	if g.R3 != nil {
		sel := g.R3.Select(d.R3.Of(len(g.R3.Ops)))
		g.R3Selection = &sel
	}
	if len(approved) == 0 && (g.R3Selection == nil || g.R3Selection.Empty()) {
		return nil, true, fmt.Errorf("%w: tick at least one scope or operation, or refuse", interact.ErrStage)
	}
	g.Scope = approved
	ms, err := k.mission(ctx, g)
	if err != nil {
		return nil, true, err
	}
	if err := k.s.o.Chain.Recheck(ctx, g.Agent.Upstream); err != nil {
		return nil, true, k.s.o.Engine.Answer(ctx, r.ID, nil, err)
	}
	g.Username = p.Username
	if g.AccessServer != "" {
		// Four-party: the grant is remembered, then the AS is asked
		// (outside the transaction: it is a network exchange).
		// A mission-bound request is decided again with the person's
		// answer in that transaction; a refusal answers the agent there
		// and nothing is sent to the AS.
		refused := false
		if err := k.s.o.DB.InTx(ctx, func(tx *store.Store) error {
			if err := k.s.o.Engine.WithStore(tx).Claim(ctx, r.ID, r.Digest()); err != nil {
				return err
			}
			iss, sub := g.Agent.Grantee()
			if err := k.s.o.Tokens.WithStore(tx).GrantScopes(ctx, p.ID, iss, sub, g.Resource, g.Scope); err != nil {
				return err
			}
			res, prob, err := k.decidedAgain(ctx, tx, r.ID, g, p)
			if err != nil || prob == nil {
				return err
			}
			refused = true // sent to no AS: refused, or waiting for a role
			return k.notNow(ctx, tx, r.ID, g, res, prob)
		}); err != nil || refused {
			return nil, true, err
		}
		return nil, true, k.approveAS(ctx, r, g, ms)
	}
	return nil, true, k.s.o.DB.InTx(ctx, func(tx *store.Store) error {
		// The grant is of the request as read, which the person was shown
		// (interact checked Decision.Shown): an updated_request that lands
		// meanwhile makes this ErrChanged, never a grant of it unseen.
		if err := k.s.o.Engine.WithStore(tx).Claim(ctx, r.ID, r.Digest()); err != nil {
			return err
		}
		iss, sub := g.Agent.Grantee()
		if err := k.s.o.Tokens.WithStore(tx).GrantScopes(ctx, p.ID, iss, sub, g.Resource, g.Scope); err != nil {
			return err
		}
		if err := k.s.rememberR3(ctx, k.s.o.Tokens.WithStore(tx), p.ID, g); err != nil {
			return err
		}
		return k.complete(ctx, tx, r, g, ms, p)
	})
}

// resourceLink is {interaction.url}?code=…&callback={ps_callback_url}, the
// callback a per-flow URL of this PS (P§resource-initiated-interaction).
func (s *Service) resourceLink(id string, g *Grant) string {
	q := url.Values{"code": {g.Interaction.Code}, "callback": {s.ReturnURL(id, g.ReturnState)}}
	return g.Interaction.URL + "?" + q.Encode()
}

// ReturnURL is the PS callback URL of a resource interaction.
func (s *Service) ReturnURL(id, state string) string {
	return s.o.Issuer + "/interact/" + url.PathEscape(id) + "/resource/" + url.PathEscape(state)
}

// callbackErrors map a resource's callback error to the polling error the
// agent gets (P§interaction-callback-errors).
var callbackErrors = map[string]struct {
	status int
	code   string
}{
	"access_denied":           {http.StatusForbidden, aauth.ErrDenied},
	"user_abandoned":          {http.StatusForbidden, aauth.ErrAbandoned},
	"interaction_expired":     {http.StatusRequestTimeout, aauth.ErrExpired},
	"server_error":            {http.StatusInternalServerError, aauth.ErrServerError},
	"temporarily_unavailable": {http.StatusInternalServerError, aauth.ErrServerError},
}

// Returned continues after the resource sent the person back (step 5):
// with an error the request ends with the mapped polling error, otherwise
// the PS's own consent follows. A wrong state is interact.ErrNotFound.
func (k kind) Returned(ctx context.Context, r *pending.Request, p *account.Person, state, callbackError string) error {
	g, err := k.load(r)
	if err != nil {
		return err
	}
	if r.Stage != StageResource || g.ReturnState == "" || subtle.ConstantTimeCompare([]byte(state), []byte(g.ReturnState)) != 1 {
		return interact.ErrNotFound
	}
	if callbackError != "" {
		m, ok := callbackErrors[callbackError]
		if !ok {
			m = callbackErrors["server_error"]
		}
		return k.s.o.Engine.Fail(ctx, r.ID, m.status, m.code, "the resource's interaction ended with "+m.code)
	}
	_, err = k.s.o.Engine.Update(ctx, r.ID, func(x *pending.Request) error {
		x.Stage = StageConsent
		return nil
	})
	return err
}

// complete issues the token and completes the request, in tx.
func (k kind) complete(ctx context.Context, tx *store.Store, r *pending.Request, g *Grant, ms *mission.Record, p *account.Person) error {
	engine := k.s.o.Engine.WithStore(tx)
	// A mission-bound request is decided again with the person's answer
	// (approve: every item), in this transaction; a refusal now (a
	// checkpoint consumed meanwhile, a budget spent) answers the agent;
	// one that only waits for a role's step keeps the request waiting.
	if res, prob, err := k.decidedAgain(ctx, tx, r.ID, g, p); err != nil || prob != nil {
		if err != nil {
			return err
		}
		return k.notNow(ctx, tx, r.ID, g, res, prob)
	}
	out, err := k.s.issue(ctx, k.s.o.Tokens.WithStore(tx), k.s.o.Missions.Missions.WithStore(tx), g, ms, p, nil)
	return engine.Answer(ctx, r.ID, out, err)
}

// decideInMission decides a mission-bound request at once (resolves: the
// pending request an updated_request answered, else ""): an issue
// decision's token issued in its transaction (three-party; four-party the
// caller federates), or a refusal or deferral, its evidence committed and
// nothing issued. ms, the mission as read before (nil: not read), lets the
// token be signed before the transaction.
func (s *Service) decideInMission(ctx context.Context, g *Grant, p *account.Person, caps []string, resolves string, ms *mission.Record) (*composition.Result, map[string]any, error) {
	iss, sub := g.Agent.Grantee()
	consented, err := s.o.Tokens.GrantedScopes(ctx, g.PersonID, iss, sub, g.Resource)
	if err != nil {
		return nil, nil, err
	}
	q := missionQuery(g, p, caps)
	q.Consented, q.Resolves, q.Seen = consented, resolves, ms
	var out map[string]any
	var pre *tokens.Presigned
	if g.AccessServer == "" && ms != nil {
		// Signed before the decision's transaction from ms as read so
		// far; dropped if the decision does not issue, or narrows the
		// scope, or the mission changed.
		pre = s.presign(ctx, g, ms, p)
	}
	res, err := s.o.Decisions.DecideIn(ctx, s.o.DB, q, false, func(tx *store.Store, res *composition.Result) error {
		narrowTo(g, res)
		if g.AccessServer != "" {
			reserve(g, res) // four-party: settled once the AS answers (compensate.go)
			return nil      // the AS issues once this commits (the caller federates)
		}
		var err error
		out, err = s.issue(ctx, s.o.Tokens.WithStore(tx), s.o.Missions.Missions.WithStore(tx), g, res.Mission, p, pre)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return res, out, nil
}

// Bound continues after the person connected the agent: the grant is
// someone's only if it is this person's; otherwise ask for the scopes.
func (k kind) Bound(ctx context.Context, r *pending.Request, p *account.Person) error {
	g, err := k.load(r)
	if err != nil {
		return err
	}
	if g.PersonID != p.ID {
		prob := aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidPresentedToken, "the presented token names another person")
		return k.s.o.Engine.CompleteProblem(ctx, r.ID, prob)
	}
	if err := g.checkTenant(p); err != nil {
		return k.s.o.Engine.Answer(ctx, r.ID, nil, err)
	}
	ms, _ := k.mission(ctx, g)
	g.Username = p.Username
	if ok, err := k.s.covered(ctx, g); err != nil {
		return err
	} else if ok && g.Prompt != "consent" && g.Interaction == nil && g.AccessServer != "" && (g.MissionS256 == "" || k.s.o.Decisions == nil) {
		return k.approveAS(ctx, r, g, ms)
	} else if ok && g.Prompt != "consent" && g.Interaction == nil && (g.MissionS256 == "" || k.s.o.Decisions == nil) {
		return k.s.o.DB.InTx(ctx, func(tx *store.Store) error { return k.complete(ctx, tx, r, g, ms, p) })
	}
	_, err = k.s.o.Engine.Update(ctx, r.ID, func(x *pending.Request) error {
		x.Stage = firstStage(g)
		return nil
	})
	return err
}

func (k kind) Settle(ctx context.Context, r *pending.Request) error {
	g, err := k.load(r)
	if err != nil {
		return nil
	}
	if err := k.s.settleIfExpired(ctx, r, g); err != nil {
		return err
	}
	return missionflow.SettleMission(ctx, k.s.o.Missions.Missions, k.s.o.Engine, r, g.MissionS256)
}

var _ interact.MissionNamer = kind{}

// Mission implements interact.MissionNamer: the grant's mission_s256.
func (k kind) Mission(r *pending.Request) string {
	g, err := k.load(r)
	if err != nil {
		return ""
	}
	return g.MissionS256
}

func encode(g *Grant) (json.RawMessage, error) { return json.Marshal(g) }
