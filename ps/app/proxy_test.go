package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestBehindTrustedProxy: with --trusted-proxy and no TLS files the PS
// serves plain HTTP, accepts requests only from the proxy (a direct
// request bypassed TLS: 403, never with Signature-Error), and verifies
// signed requests as usual (@authority from Host, default https port).
func TestBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		proxies []string
		want    int
	}{
		{"request from the proxy", []string{"127.0.0.1/32"}, http.StatusBadRequest},
		{"request not from the proxy", []string{"10.0.0.0/8"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := pstest.NewEnv(t)
			ap := env.StartAP(t, "ap.test")
			ps := env.Start(t, pstest.Options{BehindProxy: tc.proxies})
			agent, err := ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a1@ap.test"})
			if err != nil {
				t.Fatal(err)
			}
			plain := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", ps.Addr)
			}}}
			req := agent.NewRequest(http.MethodPost, "http://ps.test/token", []byte(`{"resource_token":"x"}`))
			req.Host = "ps.test" // what the agent signed and the proxy forwards
			if _, err := agent.Sign(req, []byte(`{"resource_token":"x"}`)); err != nil {
				t.Fatal(err)
			}
			res, err := plain.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.want, body)
			}
			if res.StatusCode == http.StatusForbidden && res.Header.Get(aauth.HeaderSignatureError) != "" {
				t.Fatal("403 carries Signature-Error (PS-028)")
			}
		})
	}
}
