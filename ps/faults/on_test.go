//go:build aauthfaults

package faults

import "testing"

// TestSet: exactly the faults set are on; Set() clears them.
func TestSet(t *testing.T) {
	Set(WrongSignatureError, ExistenceOracle)
	t.Cleanup(func() { Set() })
	for _, f := range All() {
		if want := f == WrongSignatureError || f == ExistenceOracle; On(f) != want {
			t.Fatalf("On(%s) = %v", f, On(f))
		}
	}
	Set()
	for _, f := range All() {
		if On(f) {
			t.Fatalf("On(%s) after Set()", f)
		}
	}
}
