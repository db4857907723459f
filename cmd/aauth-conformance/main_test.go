package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance/suite"
	"github.com/aauth-ps/aauth-ps/internal/loopback"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// syncBuf is a goroutine-safe output buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// providerAddr is the provider's listen address in these tests. `run` and
// `load` start the provider again on it after the test stopped it, so it
// comes from below the ephemeral range, where no connection takes it meanwhile.
func providerAddr(t *testing.T) string {
	t.Helper()
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startedProvider runs `provider` with args until its flags are printed,
// stops it, and returns the flags.
func startedProvider(t *testing.T, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out, errOut := &syncBuf{}, &syncBuf{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"provider"}, args...), out, errOut)
	}()
	var flags []string
	for deadline := time.Now().Add(10 * time.Second); flags == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for line := range strings.SplitSeq(out.String(), "\n") {
			if strings.HasPrefix(line, "--resolve ") {
				flags = strings.Fields(line)
			}
		}
		select {
		case err := <-done:
			t.Fatalf("provider stopped: %v\n%s%s", err, out, errOut)
		default:
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if flags == nil {
		t.Fatalf("the provider printed no flags:\n%s", out)
	}
	return flags
}

// splitFlags sorts the provider's printed PS flags by name.
func splitFlags(t *testing.T, flags []string) (resolve, trust, egress []string) {
	t.Helper()
	for i := 0; i+1 < len(flags); i += 2 {
		switch flags[i] {
		case "--resolve":
			resolve = append(resolve, flags[i+1])
		case "--trust-ca":
			trust = append(trust, flags[i+1])
		case "--egress-allow":
			egress = append(egress, flags[i+1])
		default:
			t.Fatalf("unexpected flag %q in %v", flags[i], flags)
		}
	}
	return resolve, trust, egress
}

// TestRunAgainstPS: the README walkthrough. The provider prints the PS
// flags; a real PS started with them passes every check of `run`, strictly.
func TestRunAgainstPS(t *testing.T) {
	state := filepath.Join(t.TempDir(), "provider")
	flags := startedProvider(t, "--listen", providerAddr(t), "--host", "ap.test", "--state", state)
	// Restarted without --listen, it keeps the port it picked.
	if again := startedProvider(t, "--state", state); !slices.Equal(again, flags) {
		t.Fatalf("restarted provider flags = %v, want %v", again, flags)
	}
	resolve, trust, egress := splitFlags(t, flags)
	// The healthy provider, one per fault, the test resource (issue 8),
	// then the federation fixtures: the test AS, the intermediary, a
	// second resource and the two broken access servers (issue 13).
	fixed := 2 + len(suite.Faults())
	fed := []string{"as.ap.test", "mid.ap.test", "rs2.ap.test", "as-badissuer.ap.test", "as-noendpoint.ap.test"}
	if len(resolve) != fixed+len(fed) || !strings.HasPrefix(resolve[0], "ap.test=127.0.0.1:") ||
		!strings.HasPrefix(resolve[fixed-1], "rs.ap.test=127.0.0.1:") ||
		!slices.EqualFunc(resolve[fixed:], fed, func(r, h string) bool { return strings.HasPrefix(r, h+"=127.0.0.1:") }) ||
		len(trust) != 1 || trust[0] != filepath.Join(state, caFile) || len(egress) != 1 || egress[0] != "127.0.0.1/32" {
		t.Fatalf("provider flags = %v", flags)
	}
	caBefore, err := os.ReadFile(trust[0])
	if err != nil {
		t.Fatal(err)
	}

	env := pstest.NewEnv(t)
	ps := env.Start(t, pstest.Options{Configure: func(c *config.Config) {
		c.Resolve = append(c.Resolve, resolve...)
		c.TrustCA = append(c.TrustCA, trust...)
		c.EgressAllow = egress
	}})
	// The test resource beside the provider is reachable by the PS, through
	// its egress-guarded discovery, with those flags (issue 8).
	prov, err := startProvider(state, "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	md, err := ps.App.Discovery.Metadata(t.Context(), "https://rs.ap.test", aauth.DWKResource)
	prov.Close()
	if err != nil || md["issuer"] != "https://rs.ap.test" || md["scope_descriptions"] == nil {
		t.Fatalf("the test resource's metadata through the PS: %v %v", md, err)
	}
	psCA := filepath.Join(t.TempDir(), "ps-ca.pem")
	if err := env.CA.WriteFile(psCA); err != nil {
		t.Fatal(err)
	}
	base := []string{"run", "--ps", ps.Issuer, "--ps-addr", ps.Addr, "--ps-ca", psCA, "--provider-state", state}

	t.Run("every check passes, strictly", func(t *testing.T) {
		out, errOut := &syncBuf{}, &syncBuf{}
		start := time.Now()
		if err := run(t.Context(), append(base, "--strict"), out, errOut); err != nil {
			t.Fatalf("run: %v\n%s%s", err, out, errOut)
		}
		t.Logf("%d checks in %s", strings.Count(out.String(), "\n")-2, time.Since(start))
		text := out.String()
		for line := range strings.SplitSeq(text, "\n") {
			if strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "WARN") {
				t.Errorf("%s", line)
			}
		}
		// Not failures: what this PS does not offer.
		for _, want := range []string{
			"PASS  PS-005  MUST    signed POST {} to auth_token_endpoint",
			"PASS  PS-005  MUST    signed POST {} to revocation_endpoint",
			// The suite revokes through the PS's revocation endpoint (issue 8).
			"PASS  PS-046  MUST    revoked agent token",
			"PASS  PS-035  MUST    metadata without issuer",
			"PASS  PS-045  IMPL    JWKS key without alg",
			"PASS  PS-034  MUST    iss over http (nothing fetched)",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("the report lacks %q:\n%s", want, text)
			}
		}
		if t.Failed() {
			t.Log(text)
		}
	})

	t.Run("a second run reuses the provider's state", func(t *testing.T) {
		out := &syncBuf{}
		if err := run(t.Context(), append(base, "--only", "PS-012,PS-018", "--only", "PS-045", "--json"), out, &syncBuf{}); err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
		var rep suite.Report
		if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
			t.Fatalf("--json: %v\n%s", err, out)
		}
		if len(rep.Results) != 3+6+2 || rep.Issuer != ps.Issuer {
			t.Fatalf("report: %+v", rep)
		}
		for _, r := range rep.Results {
			if r.Status != suite.StatusPass {
				t.Errorf("%s %s: %s %s", r.ID, r.Name, r.Status, r.Detail)
			}
		}
		if caAfter, _ := os.ReadFile(trust[0]); !bytes.Equal(caBefore, caAfter) {
			t.Fatal("the provider's CA changed between runs")
		}
	})

	t.Run("a MUST failure exits non-zero", func(t *testing.T) {
		// The PS's issuer is https://ps.test: fetched as https://PS.test, its
		// metadata's issuer is not the fetch origin (PS-002).
		args := []string{"run", "--ps", "https://PS.test", "--ps-addr", ps.Addr, "--ps-ca", psCA, "--provider-state", state, "--only", "PS-002"}
		out := &syncBuf{}
		err := run(t.Context(), args, out, &syncBuf{})
		if !errors.Is(err, errFailed) || !strings.Contains(out.String(), "FAIL  PS-002") {
			t.Fatalf("run = %v\n%s", err, out)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		empty := []string{"run", "--ps", ps.Issuer, "--provider-state", filepath.Join(t.TempDir(), "none")}
		for _, args := range [][]string{{}, {"nope"}, {"run"}, {"run", "--ps", "http://ps.test"}, append(base, "--only", "NOT-A-CHECK"), empty} {
			if err := run(t.Context(), args, &syncBuf{}, &syncBuf{}); err == nil || errors.Is(err, errFailed) {
				t.Errorf("run %v = %v, want a usage error", args, err)
			}
		}
	})
}
