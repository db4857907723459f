package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance/suite"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// withPersonPassword gives `run --approve browser` the password of the
// persons ourPS creates. It sets the environment, so a test calls it
// before any of its subtests run in parallel.
func withPersonPassword(t *testing.T) { t.Setenv(envPersonPassword, pstest.TestPassword) }

// ourPS starts the provider state and our PS (on databaseURL, "" for
// SQLite) with the flags the provider prints, and persons alice and bob
// (withPersonPassword gives `run` their password); it returns the run
// arguments that reach it.
func ourPS(t *testing.T, databaseURL string, configure func(*config.Config)) []string {
	t.Helper()
	state := filepath.Join(t.TempDir(), "provider")
	p, err := startProvider(state, providerAddr(t), "ap.test", true)
	if err != nil {
		t.Fatal(err)
	}
	flags := p.Flags()
	// The provider keeps its port while the PS starts; `run` starts it
	// again on that port (closed earlier, a parallel test could take it).
	defer p.Close()
	env := pstest.NewEnv(t)
	ps := env.Start(t, pstest.Options{DatabaseURL: databaseURL, Configure: func(c *config.Config) {
		for i := 0; i+1 < len(flags); i += 2 {
			switch flags[i] {
			case "--resolve":
				c.Resolve = append(c.Resolve, flags[i+1])
			case "--trust-ca":
				c.TrustCA = append(c.TrustCA, flags[i+1])
			case "--egress-allow":
				c.EgressAllow = []string{flags[i+1]}
			}
		}
		if configure != nil {
			configure(c)
		}
	}})
	ps.CreatePerson(t, "alice", false)
	// The second person (PS-079, PS-165) lets agents reach them through the
	// PS's inbox, so the relay has a channel to them (PS-226) while the
	// first person has none (PS-227).
	bob := ps.CreatePerson(t, "bob", false)
	inbox := true
	if _, err := ps.App.Accounts.UpdatePerson(t.Context(), bob.ID, account.PersonUpdate{InboxChannel: &inbox}); err != nil {
		t.Fatal(err)
	}
	psCA := filepath.Join(t.TempDir(), "ps-ca.pem")
	if err := env.CA.WriteFile(psCA); err != nil {
		t.Fatal(err)
	}
	return []string{"run", "--ps", ps.Issuer, "--ps-addr", ps.Addr, "--ps-ca", psCA, "--provider-state", state}
}

// knownDeviations are the checks our PS fails on purpose, each recorded
// in docs/decisions.md: the suite reports them, as it must. None now: the
// August 2026 record fallback that failed PS-260 is off unless the operator
// asks for it (--legacy-person-token-jti), and this run uses the defaults.
var knownDeviations = map[string]string{}

// TestWholeSuiteAgainstOurPS is Must-show 1: every check of the suite,
// the person steps done by headless Chromium on our web UI, passes
// against our PS, strictly, on SQLite and on PostgreSQL. The JSON and
// JUnit reports agree with it, and every flow really ran (no SKIP).
func TestWholeSuiteAgainstOurPS(t *testing.T) {
	withPersonPassword(t)
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			// Side by side: a run mostly waits (Retry-After, token
			// expiries), and each has its own PS, provider and browser.
			t.Parallel()
			url := ""
			if db == "postgres" {
				url = storetest.NewMigratedPostgresURL(t)
			}
			args := ourPS(t, url, nil)
			dir := t.TempDir()
			jsonFile, junitFile := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.xml")
			out, errOut := &syncBuf{}, &syncBuf{}
			err := run(t.Context(), append(args, "--approve", "browser", "--person-user", "alice", "--second-person", "bob", "--strict",
				"--report", "json:"+jsonFile, "--report", "junit:"+junitFile), out, errOut)
			text := out.String()
			if (err != nil) != (len(knownDeviations) > 0) {
				t.Errorf("run: %v", err)
			}
			lines := strings.Split(text, "\n")
			for i, line := range lines {
				if strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "WARN") || strings.HasPrefix(line, "SKIP") {
					if f := strings.Fields(line); len(f) > 3 && knownDeviations[f[1]+" "+strings.Join(f[3:], " ")] != "" && f[0] == "FAIL" {
						continue
					}
					// With its detail (the indented lines after it): a CI
					// log may keep this line and cut the full report.
					for _, d := range lines[i+1:] {
						if !strings.HasPrefix(d, "      ") {
							break
						}
						line += "\n" + d
					}
					t.Errorf("%s", line)
				}
			}
			if t.Failed() {
				t.Logf("%s\n%s", text, errOut)
				return
			}
			var rep suite.Report
			b, _ := os.ReadFile(jsonFile)
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != len(suite.Checks()) {
				t.Fatalf("the JSON report has %d results, want %d", len(rep.Results), len(suite.Checks()))
			}
			for _, key := range []string{"PS-183 s256 is the SHA-256 of the exact mission bytes", "PS-103 a valid resource token with consent gives 200 {auth_token, expires_in}",
				"PS-142 a sub-agent's auth token: the sub-agent's key, no agent named", "PS-154 Prefer: wait answers at once when the result is already waiting",
				"PS-260 E4 without presented_token gets 400 invalid_request", "PS-260 E4 without presented_token gets 400 even when the PS issued the named token"} {
				if r, ok := rep.Find(key); !ok || r.Status != suite.StatusPass {
					t.Errorf("%s: %+v", key, r)
				}
			}
			var ju struct {
				Tests    int `xml:"tests,attr"`
				Failures int `xml:"failures,attr"`
			}
			b, _ = os.ReadFile(junitFile)
			if err := xml.Unmarshal(b, &ju); err != nil || ju.Tests != len(rep.Results) || ju.Failures != len(knownDeviations) {
				t.Fatalf("JUnit: %+v %v", ju, err)
			}
			for _, s := range []string{"== missions", "== person-tokens", "federation", "not yet checked"} {
				if !strings.Contains(errOut.String()+text, s) {
					t.Errorf("the output lacks %q", s)
				}
			}
		})
	}
}

// TestMissionExpiryAgainstOurPS: PS-211 against our PS with missions that
// end 70 s after approval (allowed in development mode): the check waits
// past expires_at and passes. The whole-suite run, whose missions last a
// week, has it not offered.
func TestMissionExpiryAgainstOurPS(t *testing.T) {
	withPersonPassword(t)
	args := ourPS(t, "", func(c *config.Config) { c.Dev, c.MissionDefaultLifetime = true, 70*time.Second })
	out, errOut := &syncBuf{}, &syncBuf{}
	err := run(t.Context(), append(args, "--approve", "browser", "--person-user", "alice", "--strict", "--only", "PS-211"), out, errOut)
	if err != nil || !strings.Contains(out.String(), "PASS  PS-211") {
		t.Fatalf("run: %v\n%s\n%s", err, out, errOut)
	}
}
