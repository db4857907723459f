package conformance

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/dunglas/httpsfv"
	"github.com/yaronf/httpsign"
)

// The PS-REQUIREMENTS §2.5 vector: RFC 8037 key, created=1730217600.
const (
	vectorSeed  = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	vectorX     = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	vectorToken = "eyJhbGciOiJFZDI1NTE5Iiwia2lkIjoiYXAta2V5LTEiLCJ0eXAiOiJhYS1hZ2VudCtqd3QifQ.e30.AAAA"
	vectorBody  = `{"resource":"https://resource.example"}`
	vectorBase  = `"@method": POST
"@authority": ps.example
"@path": /person
"content-type": application/json
"content-digest": sha-256=:nJxjM/eJDL6/sWg44NobfMWuVck7ev1KSiJopPVqF8I=:
"signature-key": sig=jwt;jwt="eyJhbGciOiJFZDI1NTE5Iiwia2lkIjoiYXAta2V5LTEiLCJ0eXAiOiJhYS1hZ2VudCtqd3QifQ.e30.AAAA"
"@signature-params": ("@method" "@authority" "@path" "content-type" "content-digest" "signature-key");created=1730217600`
	vectorSignature = `sig=:kMRLaG0NhcKIEOTgoqDyg4IOgAjFs+Bp88xUJ+pP2GEypzu6I084UsGvb6ONt7U/CSMLCZW/SfjV58473x4lDg==:`
)

func vectorKey(t *testing.T) *AgentKey {
	t.Helper()
	seed, err := base64.RawURLEncoding.DecodeString(vectorSeed)
	must(t, err)
	k, err := NewAgentKeyFromSigner(ed25519.NewKeyFromSeed(seed))
	must(t, err)
	eq(t, k.PublicJWK()["x"], vectorX, "RFC 8037 public key")
	return k
}

func TestSignatureBaseVector(t *testing.T) {
	k := vectorKey(t)
	s := &Signer{Key: k, Token: vectorToken}
	req := NewRequest(http.MethodPost, "https://ps.example/person", []byte(vectorBody))
	signed, err := s.Sign(req, []byte(vectorBody), WithCreated(time.Unix(1730217600, 0)))
	must(t, err)
	if signed.Base != vectorBase {
		t.Fatalf("signature base differs:\n got: %q\nwant: %q", signed.Base, vectorBase)
	}
	eq(t, req.Header.Get("Signature"), vectorSignature, "Signature header byte for byte")
	eq(t, req.Header.Get("Signature-Input"), `sig=("@method" "@authority" "@path" "content-type" "content-digest" "signature-key");created=1730217600`)
	eq(t, req.Header.Get("Signature-Key"), `sig=jwt;jwt="`+vectorToken+`"`)
	eq(t, req.Header.Get("Content-Digest"), "sha-256=:nJxjM/eJDL6/sWg44NobfMWuVck7ev1KSiJopPVqF8I=:")
	eq(t, len(signed.Signature), 64)

	// And httpsign agrees the vector request verifies.
	verifyWithHTTPSign(t, req, k, "sig", signed.Components, true)
}

// verifyWithHTTPSign verifies req's signature `label` with yaronf/httpsign,
// its own created/expires checks disabled, requiring components.
func verifyWithHTTPSign(t *testing.T, req *http.Request, k *AgentKey, label string, components []string, wantOK bool) {
	t.Helper()
	err := httpsignVerify(req, k.Public(), label, components)
	if wantOK {
		must(t, err, "httpsign verification")
	} else {
		mustErr(t, err, "httpsign verification")
	}
}

func httpsignVerify(req *http.Request, pubKey crypto.PublicKey, label string, components []string) error {
	cfg := httpsign.NewVerifyConfig().SetVerifyCreated(false).SetRejectExpired(false)
	fields := httpsign.Headers(components...)
	var v *httpsign.Verifier
	var err error
	switch pub := pubKey.(type) {
	case ed25519.PublicKey:
		v, err = httpsign.NewEd25519Verifier(pub, cfg, fields)
	case *ecdsa.PublicKey:
		v, err = httpsign.NewP256Verifier(*pub, cfg, fields)
	default:
		return fmt.Errorf("no verifier for %T", pubKey)
	}
	if err != nil {
		return err
	}
	return httpsign.VerifyRequest(label, *v, req)
}

func TestSignVerifiesWithHTTPSign(t *testing.T) {
	for _, alg := range []string{aauth.AlgEd25519, aauth.AlgES256} {
		for _, tc := range []struct {
			name, method, url string
			body              []byte
			path              string
		}{
			{"GET", http.MethodGet, "https://ps.test/pending/abc?x=1&y=2", nil, "/pending/abc"},
			{"POST", http.MethodPost, "https://ps.test/person", []byte(`{"resource":"https://rs.test"}`), "/person"},
			{"encoded path", http.MethodPost, "https://ps.test/a%2Fb/c%20d?q", []byte(`{}`), "/a%2Fb/c%20d"},
		} {
			t.Run(alg+"/"+tc.name, func(t *testing.T) {
				k, err := NewAgentKey(alg)
				must(t, err)
				s := &Signer{Key: k, Token: "h.p.s"}
				req := NewRequest(tc.method, tc.url, tc.body)
				before := time.Now().Unix()
				signed, err := s.Sign(req, tc.body)
				must(t, err)
				eq(t, signed.Components, DefaultComponents(tc.body != nil))
				eq(t, len(signed.Signature), 64, "raw signature")
				check(t, verifyRaw(k, []byte(signed.Base), signed.Signature), "raw signature verifies over the base")
				verifyWithHTTPSign(t, req, k, "sig", signed.Components, true)

				lines := strings.Split(signed.Base, "\n")
				eq(t, lines[1], `"@authority": ps.test`, "lowercased, default port dropped")
				eq(t, lines[2], `"@path": `+tc.path, "raw path without query")

				// Signature-Input: exactly the covered list and created, no alg, no keyid.
				in, err := httpsfv.UnmarshalDictionary([]string{req.Header.Get("Signature-Input")})
				must(t, err, "Signature-Input is an SF Dictionary")
				eq(t, in.Names(), []string{"sig"})
				m, _ := in.Get("sig")
				il := m.(httpsfv.InnerList)
				var got []string
				for _, it := range il.Items {
					got = append(got, it.Value.(string))
				}
				eq(t, got, signed.Components)
				eq(t, il.Params.Names(), []string{"created"})
				created, _ := il.Params.Get("created")
				check(t, created.(int64) >= before && created.(int64) <= time.Now().Unix(), "created is now")

				sigDict, err := httpsfv.UnmarshalDictionary([]string{req.Header.Get("Signature")})
				must(t, err)
				sm, _ := sigDict.Get("sig")
				eq(t, sm.(httpsfv.Item).Value, signed.Signature, "Signature is the byte sequence")

				sk, err := httpsfv.UnmarshalDictionary([]string{req.Header.Get("Signature-Key")})
				must(t, err, "Signature-Key is an SF Dictionary")
				km, _ := sk.Get("sig")
				eq(t, km.(httpsfv.Item).Value, httpsfv.Token("jwt"))
				jv, _ := km.(httpsfv.Item).Params.Get("jwt")
				eq(t, jv, "h.p.s")

				if tc.body != nil {
					eq(t, req.Header.Get("Content-Digest"), signed.ContentDigest)
					must(t, httpsign.ValidateContentDigestHeader(req.Header.Values("Content-Digest"), &req.Body, []string{httpsign.DigestSha256}), "digest")
					b, _ := io.ReadAll(req.Body)
					eq(t, b, tc.body, "body intact after digest validation")
				} else {
					eq(t, req.Header.Get("Content-Digest"), "")
					eq(t, strings.Count(signed.Base, "\n"), 4)
				}
			})
		}
	}
}

func TestAuthorityAndPath(t *testing.T) {
	cases := []struct{ url, host, authority, path string }{
		{"https://PS.Test/x", "", "ps.test", "/x"},
		{"https://ps.test:443/", "", "ps.test", "/"},
		{"https://ps.test:8443/a", "", "ps.test:8443", "/a"},
		{"http://ps.test:80/a", "", "ps.test", "/a"},
		{"http://ps.test:443/a", "", "ps.test:443", "/a"},
		{"https://[::1]:443/a", "", "[::1]", "/a"},
		{"https://[::1]:8443/a", "", "[::1]:8443", "/a"},
		{"https://ps.test", "", "ps.test", "/"},
		{"https://ps.test/a%2Fb%20c?x=%2F", "", "ps.test", "/a%2Fb%20c"},
		{"https://ps.test/x", "Other.Test", "other.test", "/x"},
	}
	for _, tc := range cases {
		req := NewRequest(http.MethodGet, tc.url, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		eq(t, Authority(req), tc.authority, tc.url)
		eq(t, requestPath(req), tc.path, tc.url)
	}
	// Server side: no URL scheme or host, TLS set.
	req := &http.Request{Method: "GET", Host: "ps.test:443", URL: &url.URL{Path: "/x"}, TLS: nil}
	eq(t, Authority(req), "ps.test:443", "plain http: 443 is not the default")

	req = NewRequest(http.MethodGet, "https://ps.test/p?a=1", nil)
	req.Header.Add("X-Multi", " a ")
	req.Header.Add("X-Multi", "b\t")
	base, err := SignatureBase(req, []string{"@method", "@target-uri", "@scheme", "@request-target", "@query", "x-multi"}, "()")
	must(t, err)
	eq(t, base, "\"@method\": GET\n\"@target-uri\": https://ps.test/p?a=1\n\"@scheme\": https\n\"@request-target\": /p?a=1\n\"@query\": ?a=1\n\"x-multi\": a, b\n\"@signature-params\": ()")
	eq(t, req.Header.Values("X-Multi"), []string{" a ", "b\t"}, "header values are not modified")
	_, err = SignatureBase(req, []string{"x-missing"}, "()")
	mustErr(t, err, "covered header missing")
	_, err = SignatureBase(req, []string{"@status"}, "()")
	mustErr(t, err, "unsupported derived component")
}

func TestContentDigest(t *testing.T) {
	eq(t, ContentDigest([]byte(vectorBody)), "sha-256=:nJxjM/eJDL6/sWg44NobfMWuVck7ev1KSiJopPVqF8I=:")
	body := []byte(`{"action":"update","description":"# Hotel unavailable"}`)
	eq(t, ContentDigest(body), "sha-256=:F8ZH5d3bpEfdMxZj8lnJ4mg+PbaQH0z39bThwx+bpBA=:", "PS-REQUIREMENTS mission update example")
	two := ContentDigest(body, "sha-256", "sha-512")
	rc := io.NopCloser(bytes.NewReader(body))
	must(t, httpsign.ValidateContentDigestHeader([]string{two}, &rc, []string{httpsign.DigestSha512}), "sha-512 member valid")
	check(t, strings.HasPrefix(ContentDigest(body, "md5"), "md5=:"), "unknown algorithm name")
}

// snapshot captures everything a request puts on the wire.
func snapshot(t *testing.T, req *http.Request) map[string]string {
	t.Helper()
	s := map[string]string{"method": req.Method, "url": req.URL.String(), "host": req.Host}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		must(t, err)
		b, _ := io.ReadAll(rc)
		s["body"] = string(b)
	}
	for n, v := range req.Header {
		s[n] = strings.Join(v, "\n")
	}
	return s
}

func diffKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

type sigCheck int

const (
	sigValid   sigCheck = iota // httpsign verifies it with the agent key
	sigInvalid                 // httpsign refuses it
	sigSkip                    // httpsign cannot judge; checked otherwise
)

// TestBadRequestSwitches checks that every switch changes exactly what it
// says: the wire differences against a baseline signed at the same instant,
// the signature base, and whether the signature still verifies.
func TestBadRequestSwitches(t *testing.T) {
	k := newKit(t)
	agent, err := k.ap.NewAgent(TokenSpec{Sub: "aauth:a1@ap.test"})
	must(t, err)
	k2, err := NewAgentKey(aauth.AlgEd25519)
	must(t, err)
	clock := time.Unix(1_760_000_000, 0)
	now := withNow(func() time.Time { return clock })
	body := []byte(`{"resource":"https://rs.test"}`)
	other := []byte(`{"resource":"https://evil.test"}`)
	const url = "https://ps.test/person"
	c := strconv.FormatInt(clock.Unix(), 10)
	fullList := `("@method" "@authority" "@path" "content-type" "content-digest" "signature-key")`

	sign := func(opts ...SignOption) (*http.Request, *Signed) {
		req := agent.NewRequest(http.MethodPost, url, body)
		signed, err := agent.Sign(req, body, append([]SignOption{now}, opts...)...)
		must(t, err)
		return req, signed
	}
	baseReq, baseSigned := sign()
	baseSnap := snapshot(t, baseReq)
	eq(t, baseReq.Header.Get("Signature-Input"), "sig="+fullList+";created="+c)

	const (
		hSig = "Signature"
		hIn  = "Signature-Input"
		hKey = "Signature-Key"
		hCD  = "Content-Digest"
		hCT  = "Content-Type"
	)
	cases := []struct {
		name     string
		opts     []SignOption
		diff     []string // wire elements that differ from the baseline
		sig      sigCheck
		label    string // label to verify (default sig)
		digestOK bool   // Content-Digest still matches the body
		sameBase bool   // the signature base is the baseline's (post-signing switches)
		check    func(t *testing.T, req *http.Request, s *Signed)
	}{
		// PS-012: missing headers.
		{name: "no Signature", sameBase: true, opts: []SignOption{WithoutHeader(hSig)}, diff: []string{hSig}, sig: sigInvalid, digestOK: true},
		{name: "no Signature-Input", sameBase: true, opts: []SignOption{WithoutHeader(hIn)}, diff: []string{hIn}, sig: sigInvalid, digestOK: true},
		{name: "no Signature-Key", sameBase: true, opts: []SignOption{WithoutHeader(hKey)}, diff: []string{hKey}, sig: sigInvalid, digestOK: true},
		// PS-014/015: each required component omitted.
		{name: "omit @method", opts: []SignOption{WithoutComponent("@method")}, diff: []string{hSig, hIn}, digestOK: true},
		{name: "omit @authority", opts: []SignOption{WithoutComponent("@authority")}, diff: []string{hSig, hIn}, digestOK: true},
		{name: "omit @path", opts: []SignOption{WithoutComponent("@path")}, diff: []string{hSig, hIn}, digestOK: true},
		{name: "omit signature-key", opts: []SignOption{WithoutComponent("signature-key")}, diff: []string{hSig, hIn}, digestOK: true},
		{name: "omit content-type", opts: []SignOption{WithoutComponent("content-type")}, diff: []string{hSig, hIn}, digestOK: true},
		{name: "omit content-digest", opts: []SignOption{WithoutComponent("content-digest")}, diff: []string{hSig, hIn}, digestOK: true},
		{name: "custom list", opts: []SignOption{WithComponents("@path", "@method")}, diff: []string{hSig, hIn}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hIn), `sig=("@path" "@method");created=`+c)
				eq(t, s.Base, "\"@path\": /person\n\"@method\": POST\n\"@signature-params\": (\"@path\" \"@method\");created="+c)
			}},
		{name: "extra component", opts: []SignOption{WithExtraComponents("@target-uri")}, diff: []string{hSig, hIn}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				check(t, strings.Contains(s.Base, "\n\"@target-uri\": https://ps.test/person\n"), "target-uri line")
			}},
		// PS-019: labels.
		{name: "label aauth", opts: []SignOption{WithLabel("aauth")}, diff: []string{hSig, hIn, hKey}, label: "aauth", digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				for _, h := range []string{hSig, hIn, hKey} {
					check(t, strings.HasPrefix(req.Header.Get(h), "aauth="), "%s label", h)
				}
			}},
		{name: "key label other", opts: []SignOption{WithKeyLabel("other")}, diff: []string{hSig, hKey}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hKey), "other="+JWTMember(agent.Token))
				check(t, strings.HasPrefix(req.Header.Get(hIn), "sig="), "signature label unchanged")
			}},
		// PS-016: created and expires.
		{name: "created stale", opts: []SignOption{WithCreatedOffset(-120 * time.Second)}, diff: []string{hSig, hIn}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hIn), "sig="+fullList+";created="+strconv.FormatInt(clock.Unix()-120, 10))
			}},
		{name: "created ahead", opts: []SignOption{WithCreatedOffset(120 * time.Second)}, diff: []string{hSig, hIn}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hIn), "sig="+fullList+";created="+strconv.FormatInt(clock.Unix()+120, 10))
			}},
		{name: "created absolute", opts: []SignOption{WithCreated(time.Unix(42, 0))}, diff: []string{hSig, hIn}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hIn), "sig="+fullList+";created=42")
			}},
		{name: "no created", opts: []SignOption{WithoutCreated()}, diff: []string{hSig, hIn}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hIn), "sig="+fullList)
			}},
		{name: "created string", opts: []SignOption{WithCreatedRaw(`"x"`)}, diff: []string{hSig, hIn}, sig: sigSkip, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hIn), "sig="+fullList+`;created="x"`)
				check(t, strings.HasSuffix(s.Base, `;created="x"`), "base carries it")
				check(t, verifyRaw(agent.Key, []byte(s.Base), s.Signature), "valid signature over it")
				_, err := httpsfv.UnmarshalDictionary([]string{req.Header.Get(hIn)})
				must(t, err, "still a well-formed SF Dictionary")
			}},
		{name: "expired", opts: []SignOption{WithExpiresOffset(-time.Second)}, diff: []string{hSig, hIn}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hIn), "sig="+fullList+";created="+c+";expires="+strconv.FormatInt(clock.Unix()-1, 10))
			}},
		{name: "expires future", opts: []SignOption{WithExpiresOffset(30 * time.Second)}, diff: []string{hSig, hIn}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hIn), "sig="+fullList+";created="+c+";expires="+strconv.FormatInt(clock.Unix()+30, 10))
			}},
		{name: "expires absolute", opts: []SignOption{WithExpires(time.Unix(clock.Unix()+5, 0))}, diff: []string{hSig, hIn}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				check(t, strings.HasSuffix(req.Header.Get(hIn), ";expires="+strconv.FormatInt(clock.Unix()+5, 10)), "expires")
			}},
		// PS-017: alg and keyid present.
		{name: "alg and keyid", opts: []SignOption{WithParam("alg", "hmac-sha256"), WithParam("keyid", "x")}, diff: []string{hSig, hIn}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hIn), "sig="+fullList+";created="+c+`;alg="hmac-sha256";keyid="x"`)
			}},
		{name: "param types", opts: []SignOption{WithParam("t", SFToken("tok")), WithParam("n", 7), WithParam("b", true), WithParam("f", false), WithParam("bs", []byte{1})}, diff: []string{hSig, hIn}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hIn), "sig="+fullList+";created="+c+`;t=tok;n=7;b;f=?0;bs=:AQ==:`)
			}},
		// PS-018: other schemes (the signature stays valid).
		{name: "scheme hwk", opts: []SignOption{WithScheme("hwk")}, diff: []string{hSig, hKey}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				j := agent.Key.PublicJWK()
				eq(t, req.Header.Get(hKey), `sig=hwk;kty="OKP";crv="Ed25519";x="`+j["x"].(string)+`";alg="Ed25519"`)
			}},
		{name: "scheme jkt-jwt", opts: []SignOption{WithScheme("jkt-jwt")}, diff: []string{hSig, hKey}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hKey), `sig=jkt-jwt;jwt="`+agent.Token+`"`)
			}},
		{name: "scheme jwks_uri", opts: []SignOption{WithScheme("jwks_uri")}, diff: []string{hSig, hKey}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hKey), `sig=jwks_uri;id="https://ap.test";dwk="aauth-agent.json";kid="`+k.ap.SigningKID()+`"`)
			}},
		{name: "scheme x509", opts: []SignOption{WithScheme("x509")}, diff: []string{hSig, hKey}, digestOK: true},
		{name: "scheme cached", opts: []SignOption{WithScheme("cached")}, diff: []string{hSig, hKey}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hKey), `sig=cached;cid="2f9c8a1e-a7b3"`)
			}},
		{name: "scheme jwks", opts: []SignOption{WithScheme("jwks")}, diff: []string{hSig, hKey}, digestOK: true},
		{name: "scheme self-jwt", opts: []SignOption{WithScheme("self-jwt")}, diff: []string{hSig, hKey}, digestOK: true},
		{name: "scheme unknown", opts: []SignOption{WithScheme("frobnicate")}, diff: []string{hSig, hKey}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hKey), `sig=frobnicate;jwt="`+agent.Token+`"`)
			}},
		{name: "scheme jwt explicit", sameBase: true, opts: []SignOption{WithScheme("jwt")}, diff: nil, digestOK: true},
		{name: "key member", opts: []SignOption{WithKeyMember(`jwt;jwt="a.b.c";cache`)}, diff: []string{hSig, hKey}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hKey), `sig=jwt;jwt="a.b.c";cache`)
			}},
		// PS-030: garbage header values.
		{name: "raw Signature-Key", opts: []SignOption{WithSignatureKey("%%garbage")}, diff: []string{hSig, hKey}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hKey), "%%garbage")
				check(t, strings.Contains(s.Base, "\"signature-key\": %%garbage\n"), "covered as sent")
			}},
		{name: "raw Signature-Input", sameBase: true, opts: []SignOption{WithSignatureInput("sig=(((")}, diff: []string{hIn}, sig: sigInvalid, digestOK: true},
		{name: "raw Signature", sameBase: true, opts: []SignOption{WithSignature("sig=:!!:")}, diff: []string{hSig}, sig: sigInvalid, digestOK: true},
		{name: "corrupt signature", sameBase: true, opts: []SignOption{WithCorruptSignature()}, diff: []string{hSig}, sig: sigInvalid, digestOK: true},
		// PS-020: another key.
		{name: "signing key K2", sameBase: true, opts: []SignOption{WithSigningKey(k2)}, diff: []string{hSig}, sig: sigInvalid, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				verifyWithHTTPSign(t, req, k2, "sig", s.Components, true)
			}},
		// PS-021: tamper after signing.
		{name: "tamper method", sameBase: true, opts: []SignOption{TamperMethod(http.MethodPut)}, diff: []string{"method"}, sig: sigInvalid, digestOK: true},
		{name: "tamper path", sameBase: true, opts: []SignOption{TamperPath("/auth")}, diff: []string{"url"}, sig: sigInvalid, digestOK: true},
		{name: "tamper authority", sameBase: true, opts: []SignOption{TamperAuthority("other.test")}, diff: []string{"host"}, sig: sigInvalid, digestOK: true},
		{name: "tamper content-type", sameBase: true, opts: []SignOption{TamperContentType("text/plain")}, diff: []string{hCT}, sig: sigInvalid, digestOK: true},
		{name: "tamper signature-key", sameBase: true, opts: []SignOption{TamperSignatureKey(`sig=jwt;jwt="x.y.z"`)}, diff: []string{hKey}, sig: sigInvalid, digestOK: true},
		{name: "tamper content-digest", sameBase: true, opts: []SignOption{TamperContentDigest(ContentDigest(other))}, diff: []string{hCD}, sig: sigInvalid, digestOK: false},
		{name: "tamper body", sameBase: true, opts: []SignOption{TamperBody(other)}, diff: []string{"body"}, sig: sigValid, digestOK: false},
		{name: "tamper custom", sameBase: true, opts: []SignOption{WithTamper(func(r *http.Request) { r.Header.Set("X-Extra", "1") })}, diff: []string{"X-Extra"}, digestOK: true},
		// PS-023: Content-Digest variants (signed, so the signature is valid).
		{name: "digest of another body", opts: []SignOption{WithDigestBody(other)}, diff: []string{hSig, hCD}, digestOK: false,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hCD), ContentDigest(other))
			}},
		{name: "sha-512", opts: []SignOption{WithDigestAlg("sha-512")}, diff: []string{hSig, hCD}, digestOK: true,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				check(t, strings.HasPrefix(req.Header.Get(hCD), "sha-512=:"), "sha-512 only")
			}},
		{name: "unknown digest only", opts: []SignOption{WithDigestAlg("unknown-alg")}, diff: []string{hSig, hCD}, digestOK: false,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				check(t, strings.HasPrefix(req.Header.Get(hCD), "unknown-alg=:"), "unknown algorithm")
			}},
		{name: "raw digest", opts: []SignOption{WithContentDigest("sha-256=:AAAA:")}, diff: []string{hSig, hCD}, digestOK: false,
			check: func(t *testing.T, req *http.Request, s *Signed) {
				eq(t, req.Header.Get(hCD), "sha-256=:AAAA:")
			}},
		{name: "digest covered but missing", sameBase: true, opts: []SignOption{WithoutHeader(hCD)}, diff: []string{hCD}, sig: sigInvalid, digestOK: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, signed := sign(tc.opts...)
			want := append([]string(nil), tc.diff...)
			sort.Strings(want)
			eq(t, diffKeys(baseSnap, snapshot(t, req)), want, "wire differences")

			// The base differs from the baseline exactly when the switch acts
			// before signing.
			eq(t, signed.Base == baseSigned.Base, tc.sameBase, "base unchanged")
			for _, comp := range signed.Components {
				check(t, strings.Contains(signed.Base, `"`+comp+`": `), "base line for %s", comp)
			}
			for _, comp := range baseSigned.Components {
				if !slicesContains(signed.Components, comp) {
					check(t, !strings.Contains(signed.Base, `"`+comp+`": `), "no base line for omitted %s", comp)
				}
			}

			label := tc.label
			if label == "" {
				label = "sig"
			}
			switch tc.sig {
			case sigValid:
				verifyWithHTTPSign(t, req, agent.Key, label, signed.Components, true)
			case sigInvalid:
				verifyWithHTTPSign(t, req, agent.Key, label, signed.Components, false)
			}
			if req.Header.Get(hCD) != "" || !tc.digestOK {
				err := httpsign.ValidateContentDigestHeader(req.Header.Values(hCD), &req.Body, []string{httpsign.DigestSha256, httpsign.DigestSha512})
				if tc.digestOK {
					must(t, err, "Content-Digest matches the body")
				} else {
					mustErr(t, err, "Content-Digest does not match the body")
				}
			}
			if tc.check != nil {
				tc.check(t, req, signed)
			}
		})
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestSignErrors(t *testing.T) {
	_, err := (&Signer{}).Sign(NewRequest("GET", "https://ps.test/", nil), nil)
	mustErr(t, err, "no key")
	k, err := NewAgentKey(aauth.AlgEd25519)
	must(t, err)
	s := &Signer{Key: k, Token: "a.b.c"}
	req := NewRequest("POST", "https://ps.test/", []byte("{}"))
	req.Header.Del("Content-Type")
	_, err = s.Sign(req, []byte("{}"))
	mustErr(t, err, "content-type covered but missing")
	_, err = s.Sign(NewRequest("GET", "https://ps.test/", nil), nil, WithParam("x", 1.5))
	mustErr(t, err, "unsupported param type")
	_, err = NewAgentKey("EdDSA")
	mustErr(t, err, "EdDSA is not a key algorithm")

	// GET without body: four components, no Content-Digest.
	req = NewRequest("GET", "https://ps.test/x", nil)
	signed, err := s.Sign(req, nil)
	must(t, err)
	eq(t, signed.Components, aauth.BaseComponents)
	eq(t, req.Header.Get("Content-Digest"), "")
	eq(t, req.Header.Get("Content-Type"), "")
}

func TestServerSigner(t *testing.T) {
	k := newKit(t)
	s := k.ap.ServerSigner()
	req := NewRequest(http.MethodPost, "https://ps.test/revoke", []byte(`{"jti":"j","exp":1}`))
	signed, err := s.Sign(req, []byte(`{"jti":"j","exp":1}`))
	must(t, err)
	eq(t, req.Header.Get("Signature-Key"), `sig=jwks_uri;id="https://ap.test";dwk="aauth-agent.json";kid="`+k.ap.SigningKID()+`"`)
	verifyWithHTTPSign(t, req, k.ap.Key(k.ap.SigningKID()), "sig", signed.Components, true)
}
