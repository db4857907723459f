package app_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// nodeBinary is node, with the interop packages installed.
func nodeBinary(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the interop test needs Node.js >= 20 (make prereqs)")
	}
	if _, err := os.Stat(filepath.Join(nodeAgentDir, "node_modules", "@hellocoop", "httpsig")); err != nil {
		t.Fatalf("%s/node_modules is missing: run make prereqs (npm ci)", nodeAgentDir)
	}
	return node
}

// nodeEnviron is the environment of a Node check in env: the test CA
// trusted, the test host names resolved to loopback.
func nodeEnviron(t *testing.T, env *pstest.Env) []string {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := env.CA.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	var resolve []string
	for host, addr := range env.Resolver.Map() {
		resolve = append(resolve, host+"="+addr)
	}
	slices.Sort(resolve)
	return append(os.Environ(), "NODE_EXTRA_CA_CERTS="+caFile, "AAUTH_RESOLVE="+strings.Join(resolve, ","))
}

// nodeVerdict is verify-ps.mjs's answer.
type nodeVerdict struct {
	Verified bool   `json:"verified"`
	KeyType  string `json:"keyType"`
	JWKSURI  struct {
		ID, KID, DWK string
	} `json:"jwks_uri"`
	Error string `json:"error"`
}

// TestNodeVerifiesPSToASSignature: the request the PS sent to the test
// access server, captured as the AS received it, is verified by an
// independent verifier — @hellocoop/httpsig in Node, no code of ours —
// which resolves the PS's key the way an AS does ({id}/.well-known/
// aauth-person.json → jwks_uri → kid) and requires content-digest; the same
// request with one byte of its body changed is refused. PS-119, PS-120;
// issue 11 Must-show 3.
func TestNodeVerifiesPSToASSignature(t *testing.T) {
	t.Parallel()
	node := nodeBinary(t)
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	reqs := f.as.Requests()
	if len(reqs) != 1 {
		t.Fatalf("the AS saw %d token requests, want 1", len(reqs))
	}
	dir := t.TempDir()
	nodeEnv := nodeEnviron(t, f.env)
	check := func(name string, wire conformance.ASWire) nodeVerdict {
		t.Helper()
		raw, err := json.Marshal(wire)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, name+".json")
		if err := os.WriteFile(file, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "--import", "./resolve.mjs", "verify-ps.mjs", file)
		cmd.Dir = nodeAgentDir
		cmd.Env = nodeEnv
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: node: %v %s", name, err, out)
		}
		var v nodeVerdict
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%s: node printed %q", name, out)
		}
		return v
	}
	wire := reqs[0].Wire
	if v := check("as-received", wire); !v.Verified || v.KeyType != "jwks_uri" || v.JWKSURI.ID != f.ps.Issuer ||
		v.JWKSURI.DWK != "aauth-person.json" || v.JWKSURI.KID != reqs[0].Signer.KID {
		t.Fatalf("@hellocoop/httpsig does not verify the PS's request to the AS: %+v", v)
	}
	tampered := wire
	tampered.Body = strings.Replace(wire.Body, `"resource_token":"`, `"resource_token":"x`, 1)
	if tampered.Body == wire.Body {
		t.Fatal("could not tamper with the body")
	}
	if v := check("tampered", tampered); v.Verified {
		t.Fatalf("a tampered body verifies: %+v", v)
	}
}
