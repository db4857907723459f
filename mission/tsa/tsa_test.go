package tsa_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/internal/tsatest"
	"github.com/aauth-ps/aauth-ps/mission/tsa"
)

func newTSA(t *testing.T) *tsatest.TSA {
	t.Helper()
	a, err := tsatest.New()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ask is a request over imprint and a's response to it.
func ask(t *testing.T, a *tsatest.TSA, imprint []byte) (*tsa.Request, []byte) {
	t.Helper()
	req, err := tsa.NewRequest(imprint)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Respond(req.DER)
	if err != nil {
		t.Fatal(err)
	}
	return req, resp
}

// TestCheckKeepsOnlyATokenOverTheRequest (design §7, Level 4: anchored
// chain heads): a response is kept only when it stamps the request's
// imprint with the request's nonce under a time-stamping certificate (and
// its roots, when given); a token over other bytes, another nonce, a
// rejection or a TSA under other roots is refused.
func TestCheckKeepsOnlyATokenOverTheRequest(t *testing.T) {
	a := newTSA(t)
	imprint := tsa.HeadImprint("eyJhbGciOiJFZERTQSJ9.e30.c2ln")
	req, resp := ask(t, a, imprint)
	token, st, err := req.Check(resp, a.Roots())
	if err != nil || len(token) == 0 || !st.ChainVerified || !strings.Contains(st.TSA, "tsatest TSA") || st.GenTime.IsZero() {
		t.Fatalf("a good response: %v %+v", err, st)
	}
	if st2, err := tsa.Verify(token, imprint, nil); err != nil || st2.ChainVerified || !st2.GenTime.Equal(st.GenTime) {
		t.Fatalf("the kept token without roots: %v %+v", err, st2)
	}
	other := newTSA(t)
	for name, c := range map[string]struct {
		mode  tsatest.Mode
		roots bool
		want  string
	}{
		"other bytes": {tsatest.OtherImprint, false, "stamps other bytes"},
		"other nonce": {tsatest.OtherNonce, false, "nonce"},
		"rejection":   {tsatest.Rejecting, false, "rejected"},
		"other roots": {tsatest.Good, true, "does not chain"},
	} {
		t.Run(name, func(t *testing.T) {
			a.SetMode(c.mode)
			defer a.SetMode(tsatest.Good)
			resp, err := a.Respond(req.DER)
			if err != nil {
				t.Fatal(err)
			}
			roots := a.Roots()
			if c.roots {
				roots = other.Roots()
			}
			token, _, err := req.Check(resp, roots)
			if !errors.Is(err, tsa.ErrToken) || token != nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Check = %x, %v; want ErrToken (%s)", token, err, c.want)
			}
		})
	}
	if _, err := tsa.NewRequest([]byte("short")); err == nil {
		t.Fatal("a request over something not a SHA-256 hash")
	}
}

// TestVerifyNamesWhatIsWrongWithAToken: a token for another head, a
// tampered token, and bytes that are no token (one that panics the CMS
// parser included) fail with ErrToken.
func TestVerifyNamesWhatIsWrongWithAToken(t *testing.T) {
	a := newTSA(t)
	imprint := tsa.HeadImprint("head-1")
	token, err := a.Token(imprint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tsa.Verify(token, imprint, a.Roots()); err != nil {
		t.Fatal(err)
	}
	if _, err := tsa.Verify(token, tsa.HeadImprint("head-2"), a.Roots()); !errors.Is(err, tsa.ErrToken) ||
		!strings.Contains(err.Error(), "other bytes") {
		t.Fatalf("a token for another head: %v", err)
	}
	// Flip a byte of the stamped imprint inside the token: the signature
	// no longer covers it.
	i := bytes.Index(token, imprint)
	if i < 0 {
		t.Fatal("the token does not hold the imprint")
	}
	tampered := bytes.Clone(token)
	tampered[i] ^= 1
	if _, err := tsa.Verify(tampered, tampered[i:i+32], nil); !errors.Is(err, tsa.ErrToken) {
		t.Fatalf("a tampered token: %v", err)
	}
	if _, err := tsa.Verify([]byte("not a token"), imprint, nil); !errors.Is(err, tsa.ErrToken) {
		t.Fatalf("garbage: %v", err)
	}
	// A truncated length makes pkcs7's BER reader panic (FuzzVerify's
	// crasher): a bad token all the same, and the parser is free after.
	if _, err := tsa.Verify([]byte("0\x82"), imprint, nil); !errors.Is(err, tsa.ErrToken) || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("a token that panics pkcs7: %v", err)
	}
	if _, err := tsa.Verify(token, imprint, a.Roots()); err != nil {
		t.Fatalf("after a parser's panic: %v", err)
	}
}

// TestTokenNamesItsSignersCertificate (RFC 3161 §2.4.1, RFC 5035 §3,
// RFC 5816; design §7, Level 4): a token is kept (Check) and verifies
// offline (Verify) only when its signed signingCertificate or
// signingCertificateV2 attribute names the certificate that signed it:
// the hash of its DER with the attribute's hash algorithm, and its
// issuer and serial number. A token without the attribute, or naming
// another certificate or serial, is refused with a reason saying so.
func TestTokenNamesItsSignersCertificate(t *testing.T) {
	a := newTSA(t)
	imprint := tsa.HeadImprint("eyJhbGciOiJFZERTQSJ9.e30.c2ln")
	for name, c := range map[string]struct {
		ess  tsatest.ESS
		want string // "": accepted
	}{
		"v2 (the library's)":  {tsatest.ESSv2, ""},
		"v2 with SHA-384":     {tsatest.ESSv2SHA384, ""},
		"v1 (RFC 2634 SHA-1)": {tsatest.ESSv1, ""},
		"none":                {tsatest.ESSNone, "it carries no signingCertificate(V2) attribute naming its signer's certificate"},
		"v2 naming the root":  {tsatest.ESSOtherCert, "its signingCertificateV2 attribute names another certificate than its signer's (CN=tsatest TSA)"},
		"v2, another serial":  {tsatest.ESSOtherSerial, "its signingCertificateV2 attribute names another issuer and serial number"},
		"v1 naming the root":  {tsatest.ESSv1OtherCert, "its signingCertificate attribute names another certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			a.SetESS(c.ess)
			defer a.SetESS(tsatest.ESSv2)
			req, resp := ask(t, a, imprint)
			token, _, cerr := req.Check(resp, a.Roots())
			alone, err := a.Token(imprint)
			if err != nil {
				t.Fatal(err)
			}
			_, verr := tsa.Verify(alone, imprint, nil)
			for what, err := range map[string]error{"Check": cerr, "Verify": verr} {
				if c.want == "" && err != nil {
					t.Errorf("%s: %v", what, err)
				}
				if c.want != "" && (!errors.Is(err, tsa.ErrToken) || !strings.Contains(err.Error(), c.want)) {
					t.Errorf("%s = %v; want ErrToken (%s)", what, err, c.want)
				}
			}
			if (token == nil) != (c.want != "") {
				t.Errorf("Check kept %d bytes", len(token))
			}
		})
	}
}
