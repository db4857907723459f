package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// documentMaxAge is the Cache-Control max-age of metadata and JWKS (PS-010).
// Short enough that a rotated key spreads quickly even to verifiers that do
// not refetch on an unknown kid.
const documentMaxAge = "public, max-age=300"

// buildMetadata renders the PS metadata once: it changes only with
// configuration. Only implemented endpoints are advertised (PS-005).
func (s *Server) buildMetadata() ([]byte, error) {
	iss := s.opt.Issuer
	md := aauth.PersonServerMetadata{
		CommonMetadata: aauth.CommonMetadata{
			Issuer:              iss,
			JWKSURI:             iss + PathJWKS,
			AcceptSignatureAlgs: slices.Clone(s.opt.Verifier.AcceptAlgs()),
			Name:                s.opt.Name,
			Description:         s.opt.Description,
		},
		PersonTokenEndpoint: iss + PathPersonToken,
		InteractionEndpoint: iss + PathInteraction,
		// Identity the PS can assert about a person: sub is directed
		// per resource; the rest only with consent, when the person has it.
		ScopesSupported:        slices.Clone(tokens.IdentityScopesSupported),
		ClaimsSupported:        slices.Clone(tokens.IdentityClaimsSupported),
		MissionEndpoint:        iss + PathMission,
		MissionControlEndpoint: iss + PathMissionControl,
		AuditEndpoint:          iss + PathAudit,
	}
	if s.opt.AuthToken != nil {
		md.AuthTokenEndpoint = iss + PathAuthToken
	}
	if s.opt.Revocation != nil {
		md.RevocationEndpoint = iss + PathRevocation
	}
	if s.opt.Permission != nil {
		md.PermissionEndpoint = iss + PathPermission
	}
	if w := s.opt.SignatureWindow; w != 0 && w != aauth.DefaultSignatureWindowSeconds*time.Second {
		md.SignatureWindow = int(w / time.Second)
	}
	return json.Marshal(md)
}

func (s *Server) handleMetadata(c *gin.Context) {
	c.Header("Cache-Control", documentMaxAge)
	c.Data(http.StatusOK, "application/json", s.metadata)
}

func (s *Server) handleJWKS(c *gin.Context) {
	b, err := s.opt.Keys.JWKS(c.Request.Context())
	if err != nil {
		s.renderError(c, err)
		return
	}
	c.Header("Cache-Control", documentMaxAge)
	c.Data(http.StatusOK, "application/json", b)
}
