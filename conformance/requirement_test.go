package conformance

import "testing"

func TestParseRequirement(t *testing.T) {
	r, err := ParseRequirement([]string{`requirement=interaction;url="https://ps.test/interact/x";code="ABCDE-12345";n=5`})
	if err != nil || r.Token != "interaction" || r.Params["url"] != "https://ps.test/interact/x" || r.Params["code"] != "ABCDE-12345" {
		t.Fatalf("%+v %v", r, err)
	}
	if len(r.Names) != 3 || len(r.Params) != 2 {
		t.Fatalf("non-String parameters must be named but not kept: %+v", r)
	}
	if r, err := ParseRequirement(nil); err != nil || r.Token != "" {
		t.Fatalf("no header: %+v %v", r, err)
	}
	for _, bad := range []string{`requirement="interaction"`, `url="x"`, `(((`} {
		if _, err := ParseRequirement([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
