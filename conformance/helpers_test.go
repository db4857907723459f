package conformance

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"reflect"
	"testing"
)

// Tests use the standard library only: testify v1.12.1 pulls in
// go.yaml.in/yaml/v3, which is not in go.sum, and this package must not
// change go.mod.

func must(t testing.TB, err error, msg ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%sunexpected error: %v", prefix(msg), err)
	}
}

func mustErr(t testing.TB, err error, msg ...any) {
	t.Helper()
	if err == nil {
		t.Errorf("%sexpected an error, got nil", prefix(msg))
	}
}

func eq(t testing.TB, got, want any, msg ...any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%sgot  %#v\nwant %#v", prefix(msg), got, want)
	}
}

func ne(t testing.TB, got, notWant any, msg ...any) {
	t.Helper()
	if reflect.DeepEqual(got, notWant) {
		t.Errorf("%sgot %#v, wanted something else", prefix(msg), got)
	}
}

func check(t testing.TB, cond bool, msg ...any) {
	t.Helper()
	if !cond {
		t.Errorf("%scondition failed", prefix(msg))
	}
}

func prefix(msg []any) string {
	if len(msg) == 0 {
		return ""
	}
	if f, ok := msg[0].(string); ok {
		return fmt.Sprintf(f, msg[1:]...) + ": "
	}
	return fmt.Sprint(msg...) + ": "
}

// kit is the per-test loopback world: a CA, a Resolver, a client trusting
// the CA, and an AP at https://ap.test.
type kit struct {
	ca     *CA
	res    *Resolver
	client *http.Client
	ap     *AgentProvider
}

func newKit(t *testing.T, opts ...APOption) *kit {
	t.Helper()
	ca, err := NewCA()
	must(t, err)
	res := NewResolver()
	ap, err := StartAgentProvider(ca, res, "ap.test", opts...)
	must(t, err)
	t.Cleanup(func() { _ = ap.Close() })
	c := NewHTTPClient(ca, res)
	t.Cleanup(c.CloseIdleConnections)
	return &kit{ca: ca, res: res, client: c, ap: ap}
}

// getJSON fetches url and decodes a JSON object (when the status is 200).
func getJSON(t *testing.T, c *http.Client, url string) (*http.Response, map[string]any) {
	t.Helper()
	resp, b := getBytes(t, c, url)
	var m map[string]any
	if resp.StatusCode == http.StatusOK {
		must(t, json.Unmarshal(b, &m), "body %s", b)
	}
	return resp, m
}

func getBytes(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	must(t, err, "GET %s", url)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp, b
}

func base64URLDecode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// verifyRaw checks a raw Ed25519 or ES256 (r‖s) signature.
func verifyRaw(k *AgentKey, msg, sig []byte) bool {
	switch pub := k.Public().(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, msg, sig)
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return false
		}
		sum := sha256.Sum256(msg)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, sum[:], r, s)
	}
	return false
}
