package keys

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"fmt"
	"net/http"

	"github.com/yaronf/httpsign"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// SignRequest signs an outbound request as this PS (P§keying-material):
// `Signature-Key: sig=jwks_uri;id="<issuer>";dwk="aauth-person.json";
// kid="<kid>"` with the active key, covering @method, @authority, @path
// and signature-key, `created` now and no `alg`. Requests with a body are
// not signed here yet (they need content-type and content-digest).
func (m *Manager) SignRequest(ctx context.Context, issuer string, req *http.Request) error {
	if req.Body != nil && req.Body != http.NoBody {
		return fmt.Errorf("keys: SignRequest signs requests without a body only")
	}
	k, err := m.Active(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("Signature-Key", `sig=`+aauth.SchemeJWKSURI+`;id="`+issuer+`";dwk="`+aauth.DWKPerson+`";kid="`+k.KID+`"`)
	fields := httpsign.Headers("@method", "@authority", "@path", "signature-key")
	cfg := httpsign.NewSignConfig().SignAlg(false)
	var s *httpsign.Signer
	switch priv := k.Signer.(type) {
	case ed25519.PrivateKey:
		s, err = httpsign.NewEd25519Signer(priv, cfg, fields)
	case *ecdsa.PrivateKey:
		s, err = httpsign.NewP256Signer(*priv, cfg, fields)
	default:
		err = fmt.Errorf("keys: no HTTP signer for %T", k.Signer)
	}
	if err != nil {
		return err
	}
	in, sig, err := httpsign.SignRequest("sig", *s, req)
	if err != nil {
		return err
	}
	req.Header.Set("Signature-Input", in)
	req.Header.Set("Signature", sig)
	return nil
}
