package keys

import (
	"context"

	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// ChainHeadSigner is the active key as the signer of evidence chain heads
// (Mission composition, design §7 Level 4).
func (m *Manager) ChainHeadSigner(ctx context.Context) (evidence.Signer, error) {
	k, err := m.Active(ctx)
	if err != nil {
		return nil, err
	}
	return evidence.JWSSigner{Alg: k.Alg, Kid: k.KID, Key: k.Signer}, nil
}

// EvidenceJWKS renders the public part of every key the table still holds,
// published or not: an evidence bundle carries it so that a chain head
// signed by a key retired since still verifies offline.
func (m *Manager) EvidenceJWKS(ctx context.Context) ([]byte, error) {
	rows, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	return jwksOf(rows, func(store.SigningKeyRow) bool { return true })
}
