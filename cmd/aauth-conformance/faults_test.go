//go:build aauthfaults

package main

import (
	"encoding/json"
	"os"
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
	for _, f := range faults.All() {
		t.Run(string(f), func(t *testing.T) {
			faults.Set(f)
			t.Cleanup(func() { faults.Set() })
			args := ourPS(t, "", nil)
			file := filepath.Join(t.TempDir(), "report.json")
			args = append(args, "--approve", "browser", "--person-user", "alice", "--quiet", "--report", "json:"+file)
			// Only the surfaces of the checks the fault must fail: a whole
			// run per fault made this test take minutes each; the other
			// surfaces are covered fault-free by TestWholeSuiteAgainstOurPS.
			for _, sf := range faultSurfaces(want[f]) {
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
			if !slices.Equal(failed, want[f]) {
				t.Errorf("failed checks:\n%q\nwant:\n%q", failed, want[f])
			}
		})
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
