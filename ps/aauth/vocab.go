package aauth

// JWT `typ` values (P§aauth-tokens). The PS emits the short lowercase form.
const (
	TypAgentToken    = "aa-agent+jwt"
	TypPersonToken   = "aa-person+jwt"
	TypAuthToken     = "aa-auth+jwt"
	TypResourceToken = "aa-resource+jwt"
)

// Well-known metadata document names (`dwk`), P§metadata-documents.
const (
	DWKAgent    = "aauth-agent.json"
	DWKPerson   = "aauth-person.json"
	DWKAccess   = "aauth-access.json"
	DWKResource = "aauth-resource.json"
)

// WellKnownPath returns the path of a metadata document: /.well-known/{dwk}.
func WellKnownPath(dwk string) string { return "/.well-known/" + dwk }

// Fully-specified JOSE signature algorithm identifiers (P§signature-algorithms).
const (
	AlgEd25519 = "Ed25519"
	AlgES256   = "ES256"
)

// SupportedAlgs is the exact set this PS's verifier accepts, in preference
// order. It is what metadata `accept_signature_algs` and the
// `Accept-Signature-Alg` header list (PS-007, PS-254).
var SupportedAlgs = []string{AlgEd25519, AlgES256}

// Signature-Key schemes (draft-hardt-httpbis-signature-key registry).
const (
	SchemeJWT     = "jwt"
	SchemeJWKSURI = "jwks_uri"
	SchemeHWK     = "hwk"
	SchemeJKTJWT  = "jkt-jwt"
	SchemeJWKS    = "jwks"
	SchemeX509    = "x509"
	SchemeCached  = "cached"
	SchemeSelfJWT = "self-jwt"
)

// HTTP header field names used by AAuth.
const (
	HeaderSignature             = "Signature"
	HeaderSignatureInput        = "Signature-Input"
	HeaderSignatureKey          = "Signature-Key"
	HeaderSignatureError        = "Signature-Error"
	HeaderAcceptSignatureScheme = "Accept-Signature-Scheme"
	HeaderAcceptSignatureAlg    = "Accept-Signature-Alg"
	HeaderContentDigest         = "Content-Digest"
	HeaderAAuthRequirement      = "AAuth-Requirement"
)

// Covered components (P§covered-components).
var (
	// BaseComponents must be covered on every AAuth request.
	BaseComponents = []string{"@method", "@authority", "@path", "signature-key"}
	// BodyComponents must additionally be covered on a request with a body
	// to a PS or AS endpoint and on every revocation request.
	BodyComponents = []string{"content-type", "content-digest"}
)

// DefaultSignatureWindowSeconds is the `created` validity window (P§verification (3)).
const DefaultSignatureWindowSeconds = 60

// ProblemContentType is the media type of every error body (P§error-response-format).
const ProblemContentType = "application/problem+json"
