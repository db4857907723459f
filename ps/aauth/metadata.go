package aauth

// CommonMetadata holds the members every AAuth metadata document shares
// (P§metadata-documents).
type CommonMetadata struct {
	Issuer              string   `json:"issuer"`
	JWKSURI             string   `json:"jwks_uri,omitempty"`
	AcceptSignatureAlgs []string `json:"accept_signature_algs,omitempty"`
	Name                string   `json:"name,omitempty"`
	Description         string   `json:"description,omitempty"`
	LogoURI             string   `json:"logo_uri,omitempty"`
	LogoDarkURI         string   `json:"logo_dark_uri,omitempty"`
	DocumentationURI    string   `json:"documentation_uri,omitempty"`
	TOSURI              string   `json:"tos_uri,omitempty"`
	PolicyURI           string   `json:"policy_uri,omitempty"`
}

// AgentProviderMetadata is /.well-known/aauth-agent.json (P§agent-provider-metadata).
type AgentProviderMetadata struct {
	CommonMetadata
	CallbackEndpoint         string `json:"callback_endpoint,omitempty"`
	EventEndpoint            string `json:"event_endpoint,omitempty"`
	LocalhostCallbackAllowed bool   `json:"localhost_callback_allowed,omitempty"`
}

// PersonServerMetadata is /.well-known/aauth-person.json (P§ps-metadata).
// An optional endpoint is present only when it is implemented (PS-005).
type PersonServerMetadata struct {
	CommonMetadata
	AuthTokenEndpoint      string   `json:"auth_token_endpoint,omitempty"`
	PersonTokenEndpoint    string   `json:"person_token_endpoint"`
	MissionEndpoint        string   `json:"mission_endpoint,omitempty"`
	PermissionEndpoint     string   `json:"permission_endpoint,omitempty"`
	AuditEndpoint          string   `json:"audit_endpoint,omitempty"`
	InteractionEndpoint    string   `json:"interaction_endpoint,omitempty"`
	MissionControlEndpoint string   `json:"mission_control_endpoint,omitempty"`
	RevocationEndpoint     string   `json:"revocation_endpoint,omitempty"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	ClaimsSupported        []string `json:"claims_supported,omitempty"`
	// SignatureWindow is an extension: the `created` window in seconds.
	SignatureWindow int `json:"signature_window,omitempty"`
}
