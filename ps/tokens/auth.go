package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/telemetry"
)

// AuthTokenRequest is everything a three-party auth token is made of,
// resolved and checked by the auth token flow: the agent, the person, the
// resource and the directed sub the resource token named, the scope to
// grant, the mission (nil outside one) and the presented token it is
// issued against (its exp caps the auth token's).
type AuthTokenRequest struct {
	Agent    Agent
	PersonID string
	Username string // for the operator log only
	Tenant   string
	Resource string
	// Sub is the resource token's sub: it must be the person's directed
	// identifier at Resource.
	Sub     string
	Scope   []string
	Mission *mission.Record
	// PresentedJTI and PresentedExp are the presented token's (the parent).
	PresentedJTI     string
	PresentedExp     time.Time
	ResourceTokenJTI string
	// Identity are the person's identity claims the granted scope
	// releases (IdentityClaims).
	Identity map[string]any
	// R3, when the resource token named an R3 document, puts r3_uri,
	// r3_s256 and r3_granted in the token (R3§auth-token-extensions).
	R3 *R3Grant
	// Presigned, when set, is this token signed before the transaction
	// (PresignAuthToken): issued if the transaction reads what it was
	// signed from.
	Presigned *Presigned
	// PresentedAS is the access server that issued a presented auth token
	// ("": this PS), PresentedVia the person token this PS presented to it
	// that the token was obtained with; either revoked refuses it.
	PresentedAS, PresentedVia string
}

// R3Grant is what an auth token carries from a verified R3 document: its
// identity, the operations granted outright (r3_granted) and those
// granted per call (r3_per_call, omitted when empty), each a JSON array
// that is a subset of the document's operations.
type R3Grant struct {
	URI, S256, Vocabulary string
	Operations            json.RawMessage
	PerCall               json.RawMessage
}

// AuthRecord is an auth-token issuance record: what revocation and audit
// need (jti, aud, exp, mission, parent).
type AuthRecord struct {
	JTI, Aud, Sub, PersonID, AgentIss, AgentSub, AgentTokenJTI, CnfThumbprint string
	Scope                                                                     []string
	MissionS256, Tenant, ParentJTI, ResourceTokenJTI                          string
	// R3URI and R3S256 are the R3 document the token carried ("" without
	// R3): the audit record of R3§as-processing step 4.
	R3URI, R3S256 string
	IssuedAt, Exp time.Time
	Lineage
}

// ErrSubMismatch means the sub a resource token named is not the person's
// directed identifier at that resource.
var ErrSubMismatch = errors.New("tokens: the resource token's sub is not the person's identifier at the resource")

// IssueAuthToken signs an auth token (aa-auth+jwt) and records it, through
// the same binding as person tokens: cnf, aud, the exp caps (1 h, agent
// token, presented token, mission expires_at) and mission_s256. The
// mission's state and the revocations of every token it stands on are
// checked again in the caller's transaction first (guard).
func (s *Service) IssueAuthToken(ctx context.Context, r AuthTokenRequest) (_ *Issued, err error) {
	ctx, span := telemetry.Start(ctx, "aauth.issue", telemetry.AttrTokenType.String("auth"))
	defer func() { telemetry.End(span, err) }()
	now := s.o.Now()
	presented := revocable{s.o.Issuer, r.PresentedJTI, http.StatusBadRequest, aauth.ErrRevokedPresentedToken, "this person server revoked the presented token"}
	if r.PresentedAS != "" {
		presented.iss, presented.detail = r.PresentedAS, "the access server revoked the presented auth token"
	}
	r.Mission, err = s.guard(ctx, r.Agent, r.Mission,
		revocable{r.Resource, r.ResourceTokenJTI, http.StatusBadRequest, aauth.ErrRevokedResourceToken, "the resource revoked this resource token"},
		presented,
		revocable{s.o.Issuer, r.PresentedVia, http.StatusBadRequest, aauth.ErrRevokedPresentedToken,
			"this person server revoked the person token the presented auth token was obtained with"})
	if err != nil {
		return nil, err
	}
	sub, err := s.DirectedSub(ctx, r.PersonID, r.Resource)
	if err != nil {
		return nil, err
	}
	tok, claims, at, exp, err := s.signed(ctx, aauth.TypAuthToken, now, r.Presigned, s.authClaims(r))
	span.SetAttributes(telemetry.AttrPresigned.Bool(err == nil && r.Presigned != nil && tok == r.Presigned.token))
	if err != nil {
		return nil, err // the exp caps and the mission answer before the sub
	}
	if sub != r.Sub {
		return nil, ErrSubMismatch // the token signed for r.Sub is dropped
	}
	jti := claims["jti"].(string)
	rec := AuthRecord{JTI: jti, Aud: r.Resource, Sub: sub, PersonID: r.PersonID, AgentIss: r.Agent.Iss, AgentSub: r.Agent.Sub,
		AgentTokenJTI: r.Agent.TokenJTI, CnfThumbprint: r.Agent.HolderThumbprint(), Scope: slices.Clone(r.Scope), Tenant: r.Tenant,
		ParentJTI: r.PresentedJTI, ResourceTokenJTI: r.ResourceTokenJTI, IssuedAt: at, Exp: exp, Lineage: r.Agent.lineage()}
	if r.R3 != nil {
		rec.R3URI, rec.R3S256 = r.R3.URI, r.R3.S256
	}
	if r.Mission != nil {
		rec.MissionS256 = r.Mission.S256
	}
	if err := s.o.Store.RecordAuthToken(ctx, rec); err != nil {
		return nil, err
	}
	if err := s.touchGrant(ctx, r.PersonID, GrantKey{Kind: GrantScopes, AgentIss: r.Agent.Iss, AgentSub: r.Agent.Sub, Resource: r.Resource}); err != nil {
		return nil, err
	}
	if r.R3 != nil {
		iss, sub := r.Agent.Grantee()
		if err := s.touchGrant(ctx, r.PersonID, GrantKey{Kind: GrantR3, AgentIss: iss, AgentSub: sub, Resource: r.Resource, R3S256: r.R3.S256}); err != nil {
			return nil, err
		}
	}
	s.logIssued(ctx, "auth", jti, r.PersonID, r.Username, r.Agent, r.Resource, rec.MissionS256, r.Scope, exp.Sub(now))
	return &Issued{Token: tok, JTI: jti, Sub: sub, Exp: exp}, nil
}

// authClaims builds r's auth token; its sub is r.Sub, which the issuance
// checks is the person's directed sub before using it.
func (s *Service) authClaims(r AuthTokenRequest) claimBuilder {
	return func(at time.Time, jti string) (map[string]any, time.Time, error) {
		presentedExp := r.PresentedExp
		claims, exp, err := s.claims(binding{agent: r.Agent, audience: r.Resource, mission: r.Mission,
			caps: []*time.Time{&presentedExp}}, at, jti)
		if err != nil {
			return nil, exp, err
		}
		claims["dwk"], claims["sub"], claims["ps"] = aauth.DWKPerson, r.Sub, s.o.Issuer
		if len(r.Scope) > 0 {
			claims["scope"] = strings.Join(r.Scope, " ")
		}
		if r.Tenant != "" {
			claims["tenant"] = r.Tenant
		}
		for k, v := range r.Identity {
			if slices.Contains(IdentityClaimsSupported, k) && claims[k] == nil {
				claims[k] = v
			}
		}
		if r.R3 != nil {
			claims["r3_uri"], claims["r3_s256"] = r.R3.URI, r.R3.S256
			claims["r3_granted"] = map[string]any{"vocabulary": r.R3.Vocabulary, "operations": r.R3.Operations}
			if len(r.R3.PerCall) > 0 && string(r.R3.PerCall) != "[]" && string(r.R3.PerCall) != "null" {
				claims["r3_per_call"] = map[string]any{"vocabulary": r.R3.Vocabulary, "operations": r.R3.PerCall}
			}
		}
		return claims, exp, nil
	}
}

// PresignAuthToken signs r's auth token before the transaction that will
// issue it (Presigned), with r.Mission as read so far; nil when it
// cannot. Nothing is read or written.
func (s *Service) PresignAuthToken(ctx context.Context, r AuthTokenRequest) *Presigned {
	return s.presign(ctx, aauth.TypAuthToken, r.Sub, s.authClaims(r))
}

// AuthRecords lists the auth-token records of a mission (all when s256 is "").
func (s *Service) AuthRecords(ctx context.Context, missionS256 string) ([]AuthRecord, error) {
	return s.o.Store.AuthTokenRecords(ctx, missionS256)
}

// PersonTokenRecord is the issuance record of one person token
// (dberr.ErrNotFound when the PS keeps none).
func (s *Service) PersonTokenRecord(ctx context.Context, jti string) (*Record, error) {
	return s.o.Store.PersonTokenRecord(ctx, jti)
}

// PresentedPersonTokens lists the records of the person tokens this PS
// presented to access server as for resource aud and directed sub, newest
// first (P§upstream-token-verification (2)).
func (s *Service) PresentedPersonTokens(ctx context.Context, as, aud, sub string) ([]Record, error) {
	return s.o.Store.PresentedPersonTokens(ctx, as, aud, sub)
}

// AuthTokenRecord is the issuance record of one auth token
// (dberr.ErrNotFound when the PS keeps none).
func (s *Service) AuthTokenRecord(ctx context.Context, jti string) (*AuthRecord, error) {
	return s.o.Store.AuthTokenRecord(ctx, jti)
}

// GrantedScopes are the scopes the person granted the agent at resource.
func (s *Service) GrantedScopes(ctx context.Context, personID, agentIss, agentSub, resource string) ([]string, error) {
	return s.o.Store.GrantedScopes(ctx, personID, agentIss, agentSub, resource)
}

// GrantScopes remembers the person's grant of scopes (idempotent).
func (s *Service) GrantScopes(ctx context.Context, personID, agentIss, agentSub, resource string, scopes []string) error {
	return s.o.Store.GrantScopes(ctx, personID, agentIss, agentSub, resource, scopes, s.o.Now())
}
