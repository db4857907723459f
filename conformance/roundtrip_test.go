package conformance

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/dunglas/httpsfv"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/yaronf/httpsign"
)

// startMiniPS starts a deliberately small verifier at https://ps.test that
// checks a kit-signed request end to end with third-party code: the
// Signature-Key jwt member, AP discovery over HTTPS through the Resolver
// (metadata issuer check, jwks_uri), the agent token with jwx, cnf.jwk with
// the AAuth admission rules, the HTTP signature with yaronf/httpsign, and
// the Content-Digest. It answers 200 "ok" or 401 with the reason.
func startMiniPS(t *testing.T, k *kit) {
	t.Helper()
	cert, err := k.ca.Issue("ps.test")
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := miniVerify(k.client, r); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
	t.Cleanup(func() { _ = srv.Close() })
	k.res.Set("ps.test", ln.Addr().String())
}

func miniVerify(c *http.Client, r *http.Request) error {
	in, err := httpsfv.UnmarshalDictionary(r.Header.Values("Signature-Input"))
	if err != nil || len(in.Names()) != 1 {
		return errors.New("invalid_signature: Signature-Input")
	}
	label := in.Names()[0]
	sk, err := httpsfv.UnmarshalDictionary(r.Header.Values("Signature-Key"))
	if err != nil {
		return errors.New("invalid_key: Signature-Key")
	}
	m, ok := sk.Get(label)
	if !ok {
		return errors.New("invalid_signature: no Signature-Key member for " + label)
	}
	item, ok := m.(httpsfv.Item)
	if !ok || item.Value != httpsfv.Token(aauth.SchemeJWT) {
		return errors.New("unsupported_scheme")
	}
	tv, _ := item.Params.Get("jwt")
	token, _ := tv.(string)
	h, claims, err := DecodeJWT(token)
	if err != nil || h["typ"] != aauth.TypAgentToken || claims["dwk"] != aauth.DWKAgent {
		return errors.New("invalid_jwt")
	}
	iss, _ := claims["iss"].(string)
	md, err := fetchObject(c, iss+aauth.WellKnownPath(aauth.DWKAgent))
	if err != nil {
		return err
	}
	if md["issuer"] != iss {
		return errors.New("issuer_mismatch")
	}
	jwksURI, _ := md["jwks_uri"].(string)
	resp, err := c.Get(jwksURI)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	set, err := jwk.Parse(b)
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	if _, err := jwt.ParseString(token, jwt.WithKeySet(set), jwt.WithValidate(true)); err != nil {
		return fmt.Errorf("invalid_jwt: %w", err)
	}
	cnf, _ := claims["cnf"].(map[string]any)
	cj, _ := cnf["jwk"].(map[string]any)
	pk, err := jose.ParsePublicJWK(cj, aauth.SupportedAlgs)
	if err != nil {
		return fmt.Errorf("cnf.jwk: %w", err)
	}
	comps := DefaultComponents(r.ContentLength != 0)
	if err := httpsignVerify(r, pk.Key, label, comps); err != nil {
		return fmt.Errorf("invalid_signature: %w", err)
	}
	if r.ContentLength != 0 {
		if err := httpsign.ValidateContentDigestHeader(r.Header.Values("Content-Digest"), &r.Body, []string{httpsign.DigestSha256, httpsign.DigestSha512}); err != nil {
			return fmt.Errorf("invalid_signature: digest: %w", err)
		}
	}
	return nil
}

func fetchObject(c *http.Client, url string) (map[string]any, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return DecodeObject(b)
}

func TestRoundTripOverHTTPS(t *testing.T) {
	k := newKit(t)
	startMiniPS(t, k)
	es, err := NewAgentKey(aauth.AlgES256)
	must(t, err)
	ed, err := k.ap.NewAgent(TokenSpec{Sub: "aauth:a1@ap.test"})
	must(t, err)
	p256, err := k.ap.NewAgent(TokenSpec{Agent: es, Sub: "aauth:a2@ap.test"})
	must(t, err)
	body := []byte(`{"resource":"https://rs.test"}`)

	send := func(a *Agent, method string, body []byte, opts ...SignOption) (int, string) {
		t.Helper()
		resp, err := a.Do(k.client, method, "https://ps.test/person", body, opts...)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	expect := func(name string, wantOK bool, code int, msg string) {
		t.Helper()
		if (code == http.StatusOK) != wantOK {
			t.Errorf("%s: status %d (%s), want ok=%v", name, code, msg, wantOK)
		}
	}

	k.ap.ResetCounters()
	code, msg := send(ed, http.MethodPost, body)
	expect("Ed25519 POST", true, code, msg)
	eq(t, []int{k.ap.MetadataFetches(), k.ap.JWKSFetches()}, []int{1, 1}, "the verifier discovered the AP")
	code, msg = send(p256, http.MethodPost, body)
	expect("ES256 POST", true, code, msg)
	code, msg = send(ed, http.MethodGet, nil)
	expect("Ed25519 GET", true, code, msg)
	code, msg = send(ed, http.MethodPost, body, WithLabel("aauth"))
	expect("label aauth", true, code, msg)
	code, msg = send(ed, http.MethodPost, body, WithParam("alg", "hmac-sha256"), WithParam("keyid", "x"))
	expect("alg and keyid ignored", true, code, msg)
	eq(t, k.ap.Requests(), 10, "two fetches per verified request")

	code, msg = send(ed, http.MethodPost, body, WithKeyLabel("other"))
	expect("key label other", false, code, msg)
	code, msg = send(ed, http.MethodPost, body, WithSigningKey(es))
	expect("wrong key", false, code, msg)
	code, msg = send(ed, http.MethodPost, body, TamperBody([]byte(`{"resource":"https://evil.test"}`)))
	expect("tampered body", false, code, msg)
	code, msg = send(ed, http.MethodPost, body, TamperPath("/auth"))
	expect("tampered path", false, code, msg)
	code, msg = send(ed, http.MethodPost, body, WithScheme("hwk"))
	expect("hwk", false, code, msg)
	code, msg = send(ed, http.MethodPost, body, WithoutComponent("@path"))
	expect("@path not covered", false, code, msg)

	rogue, err := NewAgentKey(aauth.AlgEd25519)
	must(t, err)
	bad, err := k.ap.MintAgentToken(TokenSpec{Agent: ed.Key, SignWith: rogue.Signer()})
	must(t, err)
	code, msg = send(ed.WithToken(bad), http.MethodPost, body)
	expect("token signed by an unpublished key", false, code, msg)

	// PS-022 shape: a valid signature for a foreign authority, sent to ps.test.
	req := ed.NewRequest(http.MethodPost, "https://ps.test/person", body)
	req.Host = "other.test"
	signed, err := ed.Sign(req, body)
	must(t, err)
	check(t, strings.Contains(signed.Base, "\n\"@authority\": other.test\n"), "signed for other.test")
	resp, err := k.client.Do(req)
	must(t, err)
	resp.Body.Close()
	eq(t, resp.StatusCode, http.StatusOK, "the mini PS does not pin its authority; the signature is valid")

	k.ap.SetMetadataMutator(func(m map[string]any) { m["issuer"] = "https://evil.test" })
	code, msg = send(ed, http.MethodPost, body)
	expect("issuer mismatch", false, code, msg)
	eq(t, msg, "issuer_mismatch\n")
}
