package store_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryMissionWriteMovesVersionOrState guards what LockSeenMission
// relies on (issue 12): a mission row read earlier is reused under the
// lock when its version and state are unchanged, so every statement of
// this package that updates a missions row must move one of them. A new
// UPDATE that did neither would let a decision run on a stale record.
func TestEveryMissionWriteMovesVersionOrState(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	update := regexp.MustCompile("(?is)UPDATE\\s+\"?missions\"?\\s+SET\\b[^`]*")
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range update.FindAllString(string(src), -1) {
			found++
			flat := strings.Join(strings.Fields(stmt), " ")
			if !strings.Contains(flat, "version = version + 1") && !strings.Contains(flat, "state = 'terminated'") {
				t.Errorf("%s: %q moves neither the version nor the state", f, flat)
			}
		}
	}
	// The writers known today: the hold, the narrowing, effects, their
	// reversal and termination. Fewer means the pattern no longer finds them.
	if found < 5 {
		t.Fatalf("found %d mission updates, want at least 5", found)
	}
}
