package suite

import (
	"fmt"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Fault is a way an agent provider misbehaves, for good. A PS caches
// provider documents (with a refetch floor), so a check cannot make a
// healthy provider misbehave for one request; it uses a provider that
// always misbehaves, under its own host name, instead.
type Fault string

// The faults the refusal checks need.
const (
	// FaultNoIssuer: the metadata has no issuer (PS-035 issuer_missing).
	FaultNoIssuer Fault = "no-issuer"
	// FaultOtherIssuer: the metadata issuer names another host (PS-035
	// issuer_mismatch).
	FaultOtherIssuer Fault = "other-issuer"
	// FaultKeyNoAlg: the signing key is published without alg (PS-045).
	FaultKeyNoAlg Fault = "key-no-alg"
	// FaultKeyOtherAlg: the signing key is published with an alg other than
	// the one its tokens use (PS-045).
	FaultKeyOtherAlg Fault = "key-other-alg"
	// FaultForeignJWKSMembers is no fault but an oddity a PS must live
	// with: the JWKS also publishes members of an unknown kty and of an
	// unknown alg, which selecting the signing key by kid skips (PS-044).
	FaultForeignJWKSMembers Fault = "foreign-jwks-members"
)

// Faults lists every Fault.
func Faults() []Fault {
	return []Fault{FaultNoIssuer, FaultOtherIssuer, FaultKeyNoAlg, FaultKeyOtherAlg, FaultForeignJWKSMembers}
}

// FaultHost is the conventional host of the provider with fault f next to
// a healthy provider at base: "<fault>.<base>", e.g. no-issuer.ap.test.
func FaultHost(base string, f Fault) string { return string(f) + "." + base }

// Break makes ap misbehave as f from now on.
func Break(ap *conformance.AgentProvider, f Fault) error {
	switch f {
	case FaultNoIssuer:
		ap.SetMetadataMutator(func(m map[string]any) { delete(m, "issuer") })
	case FaultOtherIssuer:
		other := "https://ap2.test"
		if ap.Issuer() == other {
			other = "https://ap3.test"
		}
		ap.SetMetadataMutator(func(m map[string]any) { m["issuer"] = other })
	case FaultKeyNoAlg:
		return ap.SetPublishAlg(ap.SigningKID(), "")
	case FaultKeyOtherAlg:
		alg := aauth.AlgES256
		if k := ap.Key(ap.SigningKID()); k != nil && k.Alg() == aauth.AlgES256 {
			alg = aauth.AlgEd25519
		}
		return ap.SetPublishAlg(ap.SigningKID(), alg)
	case FaultForeignJWKSMembers:
		ap.AddJWKSMember(map[string]any{"kty": "XYZ", "kid": "cf-unknown-kty", "use": "sig"})
		ap.AddJWKSMember(map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "cf-unknown-alg", "alg": "FROB-9",
			"x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
	default:
		return fmt.Errorf("suite: unknown fault %q", f)
	}
	return nil
}
