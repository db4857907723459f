package conformance

import (
	"net/http"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Intermediary is a test resource that also acts as an agent (call
// chaining, P§intermediary-agent-identity): one origin serving both
// /.well-known/aauth-resource.json and /.well-known/aauth-agent.json with
// the same issuer, so it can mint itself an agent token whose iss is its
// resource identifier and sign downstream token requests with it.
type Intermediary struct {
	*Resource
	AP *AgentProvider
}

// StartIntermediary starts an intermediary at https://host: an agent
// provider fixture with the test resource's metadata, JWKS and revocation
// endpoint mounted on the same origin (the resource JWKS at /.well-known/jwks.json, the agent
// provider's at /jwks.json).
//
// keys, when given, are the agent provider's signing key and the
// resource's (kept across runs, a PS's cached JWKS stays valid); by
// default both are new.
func StartIntermediary(ca *CA, r *Resolver, host string, keys ...*AgentKey) (*Intermediary, error) {
	opts := []APOption{WithAPName("Test Intermediary")}
	if len(keys) == 2 {
		opts = append(opts, WithAPSigningKey(keys[0]))
	}
	ap, err := StartAgentProvider(ca, r, host, opts...)
	if err != nil {
		return nil, err
	}
	var key *AgentKey
	if len(keys) == 2 {
		key = keys[1]
	} else if key, err = NewAgentKey(aauth.AlgEd25519); err != nil {
		_ = ap.Close()
		return nil, err
	}
	rs := &Resource{host: host, issuer: "https://" + host, addr: ap.Addr(), key: key, resolver: r, client: NewHTTPClient(ca, r)}
	rs.metadata = map[string]any{
		"issuer":             rs.issuer,
		"jwks_uri":           rs.issuer + "/.well-known/jwks.json",
		"name":               "Test Intermediary",
		"description":        "The conformance kit's intermediary resource at " + host + ".",
		"scope_descriptions": cloneMap(ResourceScopes),
		// The PS tells it of revocations down a chain (PS-294).
		"revocation_endpoint": rs.issuer + "/revoke",
	}
	for _, p := range []string{"/.well-known/aauth-resource.json", "/.well-known/jwks.json", "/revoke"} {
		ap.Handle(p, http.HandlerFunc(rs.serveHTTP))
	}
	return &Intermediary{Resource: rs, AP: ap}, nil
}

// Agent mints the intermediary's own agent (its agent token's iss is the
// intermediary's resource identifier), with identifier sub (default
// aauth:mid@<host>).
func (in *Intermediary) Agent(sub string) (*Agent, error) {
	if sub == "" {
		sub = "aauth:mid@" + in.host
	}
	return in.AP.NewAgent(TokenSpec{Sub: sub})
}

// Close stops the intermediary.
func (in *Intermediary) Close() error { return in.AP.Close() }
