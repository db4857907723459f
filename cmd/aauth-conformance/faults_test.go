//go:build aauthfaults

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance/suite"
	"github.com/aauth-ps/aauth-ps/ps/faults"
)

// TestSuiteCatchesFaults is Must-show 4: our PS, built with the
// aauthfaults tag, runs with one deliberate fault at a time, and the suite
// fails exactly the checks that fault breaks (besides the recorded
// deviations every run has).
//
//	go test -tags aauthfaults -run TestSuiteCatchesFaults ./cmd/aauth-conformance/
func TestSuiteCatchesFaults(t *testing.T) {
	want := map[faults.Fault][]string{
		// invalid_key refusals answered as invalid_signature.
		faults.WrongSignatureError: {"PS-025 cnf.jwk EC without y", "PS-025 cnf.jwk ES256 with P-384", "PS-025 cnf.jwk Ed25519 alg with EC kty",
			"PS-025 cnf.jwk OKP without x", "PS-025 cnf.jwk with private d", "PS-025 cnf.jwk without kty", "PS-030 garbage Signature-Key"},
		// Tokens outliving the (30 min) agent and sub-agent tokens.
		faults.NoAgentExpCap: {"PS-062 a person token under a mission carries its mission_s256", "PS-075 person token exp within an hour and the agent token",
			"PS-106 auth token exp within an hour, the agent token and the presented token", "PS-145 a sub-agent's tokens expire no later than its agent token"},
		faults.S256Reserialized: {"PS-183 s256 is the SHA-256 of the exact mission bytes"},
		faults.ExistenceOracle: {"PS-060 E3: an unknown mission and another agent's answer the same 404",
			"PS-195 E6: an unknown mission and another agent's answer the same 404"},
	}
	// Faults are process-wide (faults.Set), so each runs in a process of
	// its own, all at once: the runs mostly wait on the suite's
	// Retry-After pauses and token expiries, and one after another they
	// made this test take minutes (issue 12: make test's time).
	if name := os.Getenv(envFaultChild); name != "" {
		f := faults.Fault(name)
		if _, ok := want[f]; !ok {
			t.Fatalf("%s=%q names no fault this test knows", envFaultChild, name)
		}
		checkFault(t, f, want[f])
		return
	}
	for _, f := range faults.All() {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSuiteCatchesFaults$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), envFaultChild+"="+string(f))
			out, err := cmd.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("--- PASS: TestSuiteCatchesFaults")) {
				t.Errorf("the run with fault %s: %v\n%s", f, err, out)
			}
		})
	}
}

// envFaultChild names the one fault a child process of
// TestSuiteCatchesFaults injects.
const envFaultChild = "AAUTH_CONFORMANCE_FAULT_CHILD"

// checkFault runs the suite against our PS with fault f injected and wants
// exactly the checks want (besides the recorded deviations) to fail.
func checkFault(t *testing.T, f faults.Fault, want []string) {
	faults.Set(f)
	t.Cleanup(func() { faults.Set() })
	withPersonPassword(t)
	args := ourPS(t, "", nil)
	file := filepath.Join(t.TempDir(), "report.json")
	args = append(args, "--approve", "browser", "--person-user", "alice", "--quiet", "--report", "json:"+file)
	// Only the surfaces of the checks the fault must fail: a whole run per
	// fault made this test take minutes each; the other surfaces are
	// covered fault-free by TestWholeSuiteAgainstOurPS.
	for _, sf := range faultSurfaces(want) {
		args = append(args, "--only", sf)
	}
	_ = run(t.Context(), args, &syncBuf{}, &syncBuf{})
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rep suite.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, r := range rep.Results {
		if r.Status == suite.StatusFail && knownDeviations[r.Key()] == "" {
			failed = append(failed, r.Key())
			t.Logf("%s [%s]: %s", r.Key(), r.FailedLevel, r.Detail)
		}
	}
	slices.Sort(failed)
	if !slices.Equal(failed, want) {
		t.Errorf("fault %s: failed checks:\n%q\nwant:\n%q", f, failed, want)
	}
}

// faultSurfaces are the surfaces of the checks named by keys, sorted.
func faultSurfaces(keys []string) []string {
	var out []string
	for _, c := range suite.Checks() {
		if slices.Contains(keys, c.Key()) && !slices.Contains(out, suite.SurfaceOf(c)) {
			out = append(out, suite.SurfaceOf(c))
		}
	}
	slices.Sort(out)
	return out
}
