package keys

import (
	"context"

	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// SignJWT signs claims as a JWT of type typ with the active key: the
// signer the token issuers use, so they need not know how keys are kept.
func (m *Manager) SignJWT(ctx context.Context, typ string, claims map[string]any) (string, error) {
	k, err := m.Active(ctx)
	if err != nil {
		return "", err
	}
	tok, err := jose.SignJWT(k.Alg, k.KID, typ, k.Signer, claims)
	if err == nil {
		m.signed.remember(tok)
	}
	return tok, err
}
