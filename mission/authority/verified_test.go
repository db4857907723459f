package authority

import "testing"

// TestVerifiedStandsOnlyForItsSet: Verify refuses a set that does not
// recompute to the hash, and a proof stands for the recomputation only
// for the very set and hash it was made for — any other snapshot is
// re-hashed and fails closed (design §3 step 4; issue 12's cache).
func TestVerifiedStandsOnlyForItsSet(t *testing.T) {
	in := boardInput(t)
	if _, err := Verify(in.Mission.Set, "not-the-hash"); err == nil {
		t.Fatal("Verify accepted a set under a hash it does not recompute to")
	}
	if _, err := Verify(nil, in.Mission.EffectiveHash); err == nil {
		t.Fatal("Verify accepted no set")
	}
	v, err := Verify(in.Mission.Set, in.Mission.EffectiveHash)
	if err != nil || v.Set() != in.Mission.Set {
		t.Fatalf("Verify: %v", err)
	}
	in.Mission.Verified = v
	if d := Evaluate(in); d.Reason == "integrity_failure" {
		t.Fatalf("a verified set was refused: %s", d.Explanation)
	}
	// The proof beside another hash, or beside another (changed) set.
	other := in
	other.Mission.EffectiveHash = "sha256-other"
	if d := Evaluate(other); d.Reason != "integrity_failure" || d.Status != 500 {
		t.Fatalf("another hash with the proof: %s %d %s, want a 500 integrity_failure", d.Outcome, d.Status, d.Reason)
	}
	changed := *in.Mission.Set
	changed.Entries = changed.Entries[:1]
	other = in
	other.Mission.Set = &changed
	if d := Evaluate(other); d.Reason != "integrity_failure" {
		t.Fatalf("a changed set with the proof of the original: %s %s, want integrity_failure", d.Outcome, d.Reason)
	}
}
