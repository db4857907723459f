package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// fetchJWKS fetches the AP's served JWKS over HTTPS through the Resolver.
func fetchJWKS(t *testing.T, k *kit) jwk.Set {
	t.Helper()
	resp, b := getBytes(t, k.client, k.ap.JWKSURL())
	eq(t, resp.StatusCode, http.StatusOK)
	set, err := jwk.Parse(b)
	must(t, err, "parse JWKS %s", b)
	return set
}

// verifyToken verifies tok with jwx against the served JWKS.
func verifyToken(t *testing.T, k *kit, tok string) (jwt.Token, error) {
	t.Helper()
	return jwt.ParseString(tok, jwt.WithKeySet(fetchJWKS(t, k)), jwt.WithValidate(true))
}

func TestAPServesMetadataAndJWKS(t *testing.T) {
	k := newKit(t)
	ap := k.ap
	eq(t, ap.Issuer(), "https://ap.test")
	eq(t, ap.Host(), "ap.test")
	addr, _ := k.res.Lookup("ap.test")
	eq(t, addr, ap.Addr(), "registered in the Resolver")

	resp, md := getJSON(t, k.client, "https://ap.test/.well-known/aauth-agent.json")
	eq(t, resp.StatusCode, http.StatusOK)
	eq(t, resp.Header.Get("Content-Type"), "application/json")
	eq(t, resp.Header.Get("Cache-Control"), "max-age=300")
	eq(t, md["issuer"], "https://ap.test")
	eq(t, md["jwks_uri"], "https://ap.test/jwks.json")
	eq(t, md["callback_endpoint"], "https://ap.test/callback")
	eq(t, md["localhost_callback_allowed"], false)
	check(t, md["name"] != "" && md["description"] != "", "name and description")
	var typed aauth.AgentProviderMetadata
	b, _ := json.Marshal(md)
	must(t, json.Unmarshal(b, &typed))
	eq(t, typed.Issuer, ap.Issuer())

	resp, js := getJSON(t, k.client, md["jwks_uri"].(string))
	eq(t, resp.Header.Get("Cache-Control"), "max-age=300")
	eq(t, resp.Header.Get("Content-Type"), "application/json")
	keys := js["keys"].([]any)
	eq(t, len(keys), 1)
	key := keys[0].(map[string]any)
	eq(t, key["alg"], "Ed25519")
	eq(t, key["kty"], "OKP")
	eq(t, key["kid"], ap.SigningKID())
	_, hasD := key["d"]
	check(t, !hasD, "no private member")
	pk, err := jose.ParsePublicJWK(key, aauth.SupportedAlgs)
	must(t, err, "AAuth admission of the published key")
	eq(t, pk.Thumbprint, ap.SigningKID(), "kid is the RFC 7638 thumbprint")

	resp, _ = getBytes(t, k.client, "https://ap.test/callback")
	eq(t, resp.StatusCode, http.StatusOK)
	resp, _ = getBytes(t, k.client, "https://ap.test/nope")
	eq(t, resp.StatusCode, http.StatusNotFound)

	eq(t, ap.MetadataFetches(), 1)
	eq(t, ap.JWKSFetches(), 1)
	eq(t, ap.Requests(), 4)
	eq(t, ap.RequestLog(), []string{"GET /.well-known/aauth-agent.json", "GET /jwks.json", "GET /callback", "GET /nope"})
	ap.ResetCounters()
	eq(t, []int{ap.MetadataFetches(), ap.JWKSFetches(), ap.Requests(), len(ap.RequestLog())}, []int{0, 0, 0, 0})

	must(t, ap.Close())
	_, ok := k.res.Lookup("ap.test")
	check(t, !ok, "Close unregisters")
}

func TestAPOptions(t *testing.T) {
	k := newKit(t, WithAPKeyAlg(aauth.AlgES256), WithAPName("N"), WithAPDescription("D"), WithAPLocalhostCallbackAllowed(true))
	md := k.ap.Metadata()
	eq(t, []any{md["name"], md["description"], md["localhost_callback_allowed"]}, []any{"N", "D", true})
	key := k.ap.JWKS()["keys"].([]any)[0].(map[string]any)
	eq(t, []any{key["kty"], key["crv"], key["alg"]}, []any{"EC", "P-256", "ES256"})
	eq(t, k.ap.RotateKey() != "", true)
	eq(t, k.ap.Key(k.ap.SigningKID()).Alg(), aauth.AlgES256, "rotated keys keep the algorithm")

	_, err := StartAgentProvider(k.ca, nil, "x.test", WithAPKeyAlg("EdDSA"))
	mustErr(t, err, "EdDSA is not a key algorithm")
	ap2, err := StartAgentProvider(k.ca, nil, "ap2.test", WithAPListenAddr("127.0.0.1:0"))
	must(t, err)
	defer ap2.Close()
	check(t, ap2.Addr() != k.ap.Addr(), "second AP")
	_, ok := k.res.Lookup("ap2.test")
	check(t, !ok, "nil Resolver: nothing registered")
}

func TestMintedTokenVerifiesAgainstServedJWKS(t *testing.T) {
	for _, alg := range []string{aauth.AlgEd25519, aauth.AlgES256} {
		t.Run(alg, func(t *testing.T) {
			k := newKit(t, WithAPKeyAlg(alg))
			agentKey, err := NewAgentKey(aauth.AlgES256)
			must(t, err)
			now := time.Now().Truncate(time.Second)
			tok, err := k.ap.MintAgentToken(TokenSpec{Agent: agentKey, PS: "https://ps.test", ParentAgent: "aauth:p@ap.test", IssuedAt: now})
			must(t, err)

			parsed, err := verifyToken(t, k, tok)
			must(t, err, "jwx verifies the token against the served JWKS")
			iss, _ := parsed.Issuer()
			eq(t, iss, "https://ap.test")
			sub, _ := parsed.Subject()
			id, err := aauth.Strict.ParseAgentID(sub)
			must(t, err, "default sub %q is a valid agent identifier", sub)
			eq(t, id.Domain, "ap.test")
			iat, _ := parsed.IssuedAt()
			exp, _ := parsed.Expiration()
			eq(t, iat.Unix(), now.Unix())
			eq(t, exp.Sub(iat), time.Hour)
			jti, _ := parsed.JwtID()
			check(t, len(jti) >= 16, "jti")

			msg, err := jws.ParseString(tok)
			must(t, err)
			h := msg.Signatures()[0].ProtectedHeaders()
			typ, _ := h.Type()
			kid, _ := h.KeyID()
			a, _ := h.Algorithm()
			eq(t, typ, aauth.TypAgentToken)
			eq(t, kid, k.ap.SigningKID())
			eq(t, a.String(), alg, "fully-specified alg, never EdDSA")

			_, claims, err := DecodeJWT(tok)
			must(t, err)
			eq(t, claims["dwk"], aauth.DWKAgent)
			eq(t, claims["ps"], "https://ps.test")
			eq(t, claims["parent_agent"], "aauth:p@ap.test")
			cnf := claims["cnf"].(map[string]any)["jwk"].(map[string]any)
			pk, err := jose.ParsePublicJWK(cnf, aauth.SupportedAlgs)
			must(t, err, "cnf.jwk passes AAuth admission")
			eq(t, pk.Thumbprint, agentKey.Thumbprint())
			eq(t, cnf["alg"], "ES256")
		})
	}
}

func TestAPKnobMetadataMutatorAndStatus(t *testing.T) {
	k := newKit(t)
	k.ap.SetMetadataMutator(func(m map[string]any) { delete(m, "issuer") })
	_, md := getJSON(t, k.client, k.ap.MetadataURL())
	_, has := md["issuer"]
	check(t, !has, "issuer deleted")
	k.ap.SetMetadataMutator(func(m map[string]any) {
		m["issuer"] = "https://evil.test"
		m["jwks_uri"] = "https://elsewhere.test/jwks.json"
	})
	_, md = getJSON(t, k.client, k.ap.MetadataURL())
	eq(t, []any{md["issuer"], md["jwks_uri"]}, []any{"https://evil.test", "https://elsewhere.test/jwks.json"})
	k.ap.SetMetadataMutator(nil)
	_, md = getJSON(t, k.client, k.ap.MetadataURL())
	eq(t, md["issuer"], "https://ap.test")

	k.ap.SetMetadataStatus(http.StatusServiceUnavailable)
	resp, _ := getBytes(t, k.client, k.ap.MetadataURL())
	eq(t, resp.StatusCode, http.StatusServiceUnavailable)
	k.ap.SetMetadataStatus(0)
	eq(t, k.ap.MetadataFetches(), 4, "failed fetches count too")

	k.ap.SetCacheControl("no-store")
	resp, _ = getBytes(t, k.client, k.ap.JWKSURL())
	eq(t, resp.Header.Get("Cache-Control"), "no-store")
	k.ap.SetCacheControl("")
	resp, _ = getBytes(t, k.client, k.ap.JWKSURL())
	eq(t, resp.Header.Get("Cache-Control"), "")
}

func TestAPKnobJWKSStatusAndDelay(t *testing.T) {
	k := newKit(t)
	k.ap.SetJWKSStatus(http.StatusInternalServerError)
	resp, _ := getBytes(t, k.client, k.ap.JWKSURL())
	eq(t, resp.StatusCode, http.StatusInternalServerError)
	k.ap.SetJWKSStatus(0)
	resp, _ = getBytes(t, k.client, k.ap.JWKSURL())
	eq(t, resp.StatusCode, http.StatusOK)

	k.ap.SetJWKSDelay(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, k.ap.JWKSURL(), nil)
	start := time.Now()
	_, err := k.client.Do(req)
	mustErr(t, err, "the delayed JWKS times out the client")
	// Before the 5 s answer (with room for a loaded machine: the point is
	// that the client gave up at its deadline, not that it did so fast).
	check(t, time.Since(start) < 4*time.Second, "returned at the client deadline, before the delayed answer")

	k.ap.SetJWKSDelay(100 * time.Millisecond)
	start = time.Now()
	resp, _ = getBytes(t, k.client, k.ap.JWKSURL())
	eq(t, resp.StatusCode, http.StatusOK)
	check(t, time.Since(start) >= 100*time.Millisecond, "delayed")

	k.ap.SetMetadataDelay(100 * time.Millisecond)
	start = time.Now()
	getBytes(t, k.client, k.ap.MetadataURL())
	check(t, time.Since(start) >= 100*time.Millisecond, "metadata delayed")
	eq(t, k.ap.JWKSFetches(), 4)
}

func TestAPKnobExtraMembers(t *testing.T) {
	k := newKit(t)
	k.ap.AddJWKSMember(map[string]any{"kty": "XYZ", "kid": "weird"})
	_, js := getJSON(t, k.client, k.ap.JWKSURL())
	keys := js["keys"].([]any)
	eq(t, len(keys), 2)
	eq(t, keys[1], map[string]any{"kty": "XYZ", "kid": "weird"})
	k.ap.ClearJWKSMembers()
	eq(t, len(k.ap.JWKS()["keys"].([]any)), 1)
}

func TestAPKnobRotateAndRemove(t *testing.T) {
	k := newKit(t)
	agent, err := k.ap.NewAgent(TokenSpec{})
	must(t, err)
	oldKID := k.ap.SigningKID()
	newKID := k.ap.RotateKey()
	check(t, newKID != oldKID, "new kid")
	eq(t, k.ap.SigningKID(), newKID)
	eq(t, k.ap.KIDs(), []string{oldKID, newKID}, "old key stays published")
	eq(t, newKID, k.ap.Key(newKID).Thumbprint())

	_, err = verifyToken(t, k, agent.Token)
	must(t, err, "a token from the old key still verifies")
	tok, err := k.ap.MintAgentToken(TokenSpec{Agent: agent.Key})
	must(t, err)
	h, _, _ := DecodeJWT(tok)
	eq(t, h["kid"], newKID, "new tokens use the new key")
	_, err = verifyToken(t, k, tok)
	must(t, err)
	tokOld, err := k.ap.MintAgentToken(TokenSpec{Agent: agent.Key, KID: oldKID})
	must(t, err)
	_, err = verifyToken(t, k, tokOld)
	must(t, err, "KID selects the old key for signing")

	check(t, k.ap.RemoveKey(oldKID), "removed")
	check(t, !k.ap.RemoveKey(oldKID), "already removed")
	eq(t, k.ap.KIDs(), []string{newKID})
	_, err = verifyToken(t, k, agent.Token)
	mustErr(t, err, "old kid gone from the JWKS")
	tokGone, err := k.ap.MintAgentToken(TokenSpec{Agent: agent.Key, KID: oldKID})
	must(t, err, "a removed key can still mint (unknown_key cases)")
	_, err = verifyToken(t, k, tokGone)
	mustErr(t, err)
	check(t, k.ap.Key(oldKID) == nil, "Key only returns published keys")
}

func TestAPKnobReplaceKeyMaterial(t *testing.T) {
	k := newKit(t)
	agent, err := k.ap.NewAgent(TokenSpec{})
	must(t, err)
	kid := k.ap.SigningKID()
	before := k.ap.JWKS()["keys"].([]any)[0].(map[string]any)["x"]
	must(t, k.ap.ReplaceKeyMaterial(kid))
	after := k.ap.JWKS()["keys"].([]any)[0].(map[string]any)
	eq(t, after["kid"], kid, "same kid")
	ne(t, after["x"], before, "new material")
	_, err = verifyToken(t, k, agent.Token)
	mustErr(t, err, "tokens signed before the re-keying no longer verify")
	tok, err := k.ap.MintAgentToken(TokenSpec{Agent: agent.Key})
	must(t, err)
	_, err = verifyToken(t, k, tok)
	must(t, err, "tokens signed after it do")
	mustErr(t, k.ap.ReplaceKeyMaterial("nope"))
}

func TestAPKnobPublishAlg(t *testing.T) {
	k := newKit(t)
	kid := k.ap.SigningKID()
	must(t, k.ap.SetPublishAlg(kid, ""))
	key := k.ap.JWKS()["keys"].([]any)[0].(map[string]any)
	_, has := key["alg"]
	check(t, !has, "alg stripped")
	must(t, k.ap.SetPublishAlg(kid, "ES256"))
	_, js := getJSON(t, k.client, k.ap.JWKSURL())
	eq(t, js["keys"].([]any)[0].(map[string]any)["alg"], "ES256", "served with the wrong alg")
	must(t, k.ap.PatchPublishedKey(kid, map[string]any{"d": "AAAA"}))
	key = k.ap.JWKS()["keys"].([]any)[0].(map[string]any)
	eq(t, []any{key["alg"], key["d"]}, []any{"ES256", "AAAA"}, "patches accumulate")
	must(t, k.ap.PatchPublishedKey(kid, nil))
	key = k.ap.JWKS()["keys"].([]any)[0].(map[string]any)
	eq(t, key["alg"], "Ed25519", "nil patch restores")
	mustErr(t, k.ap.SetPublishAlg("nope", "x"))
}

func TestAPHandleExtraRoute(t *testing.T) {
	k := newKit(t)
	k.ap.Handle("/extra", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	resp, _ := getBytes(t, k.client, "https://ap.test/extra")
	eq(t, resp.StatusCode, http.StatusTeapot)
	eq(t, k.ap.Requests(), 1)
}

// TestAPConcurrentKnobs exercises every knob while clients fetch; run with
// -race it proves the AP is safe for concurrent use.
func TestAPConcurrentKnobs(t *testing.T) {
	k := newKit(t)
	agentKey, err := NewAgentKey(aauth.AlgEd25519)
	must(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 10 {
				getBytes(t, k.client, k.ap.MetadataURL())
				getBytes(t, k.client, k.ap.JWKSURL())
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 10 {
				kid := k.ap.RotateKey()
				_ = k.ap.SetPublishAlg(kid, "")
				_ = k.ap.ReplaceKeyMaterial(kid)
				k.ap.AddJWKSMember(map[string]any{"kty": "XYZ"})
				k.ap.SetMetadataMutator(func(m map[string]any) { m["n"] = i })
				k.ap.SetJWKSStatus(0)
				k.ap.SetJWKSDelay(0)
				_, err := k.ap.MintAgentToken(TokenSpec{Agent: agentKey})
				if err != nil {
					t.Error(err)
				}
				_ = k.ap.MetadataFetches() + k.ap.JWKSFetches() + k.ap.Requests()
				k.ap.RemoveKey(kid)
			}
		}()
	}
	wg.Wait()
	check(t, k.ap.Requests() == 80, "all fetches counted, got %d", k.ap.Requests())
	eq(t, len(k.ap.KIDs()), 1, "every rotated key was removed again")
}
