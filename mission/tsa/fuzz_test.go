package tsa_test

import (
	"errors"
	"testing"

	"github.com/aauth-ps/aauth-ps/internal/tsatest"
	"github.com/aauth-ps/aauth-ps/mission/tsa"
)

// FuzzVerify: whatever bytes a bundle carries as a token, Verify returns
// a Stamp or ErrToken and never panics — the CMS parse and the
// signingCertificate(V2) attribute's (RFC 3161 §2.4.1) included. Seeds:
// tokens with each attribute the test TSA writes.
func FuzzVerify(f *testing.F) {
	a, err := tsatest.New()
	if err != nil {
		f.Fatal(err)
	}
	imprint := tsa.HeadImprint("head")
	for _, e := range []tsatest.ESS{tsatest.ESSv2, tsatest.ESSv2SHA384, tsatest.ESSv1, tsatest.ESSNone, tsatest.ESSOtherCert, tsatest.ESSOtherSerial} {
		a.SetESS(e)
		tok, err := a.Token(imprint)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, token []byte) {
		st, err := tsa.Verify(token, imprint, nil)
		if err != nil && !errors.Is(err, tsa.ErrToken) {
			t.Fatalf("Verify = %v, not ErrToken", err)
		}
		if err == nil && st.TSA == "" {
			t.Fatalf("a verified token without its TSA: %+v", st)
		}
	})
}
