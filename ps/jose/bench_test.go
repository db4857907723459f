package jose_test

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// BenchmarkParseCompact parses a realistic agent token (an Ed25519 cnf.jwk,
// the claims of P§agent-token-structure). It feeds `make bench`; no timing
// is asserted.
func BenchmarkParseCompact(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	cnf, _ := jose.PublicJWK(priv.Public(), "")
	cnfJSON, _ := json.Marshal(cnf)
	claims := `{"iss":"https://ap.test","dwk":"aauth-agent.json","sub":"aauth:assistant-v2@ap.test","jti":"3q2-7wXm0c8PZ5qX9Hk1Vg",` +
		`"iat":1730217600,"exp":1730221200,"ps":"https://ps.test","cnf":{"jwk":` + string(cnfJSON) + `}}`
	tok := compact(edHeader, claims, edSigner(priv))
	b.SetBytes(int64(len(tok)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jose.ParseCompact(tok); err != nil {
			b.Fatal(err)
		}
	}
}
