package strictjson_test

import (
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// benchBody is a realistic request body of exactly 1 KiB: an E4 token
// request with a resource token, a justification and nested parameters.
func benchBody(tb testing.TB) []byte {
	head := `{"resource_token":"eyJhbGciOiJFZDI1NTE5Iiwia2lkIjoicnMta2V5LTEiLCJ0eXAiOiJhYS1yZXNvdXJjZStqd3QifQ.` +
		`eyJpc3MiOiJodHRwczovL3JzLnRlc3QiLCJhdWQiOiJodHRwczovL3BzLnRlc3QifQ.AAAA",` +
		`"capabilities":["interaction","clarification","payment"],"mission_s256":"BQwpnz9T_MPsWun9WfcCBMUsWJk_-y26OXOLICGMFRk",` +
		`"parameters":{"scope":"calendar.read calendar.write","max_amount":125.50,"currency":"EUR","flags":[true,false,null]},` +
		`"justification":"# Plan Japan Vacation\n\nBook flights for 2 adults. `
	tail := `"}`
	pad := 1024 - len(head) - len(tail)
	if pad < 0 {
		tb.Fatalf("head is %d bytes", len(head))
	}
	body := []byte(head + strings.Repeat("x", pad) + tail)
	if len(body) != 1024 {
		tb.Fatalf("body is %d bytes", len(body))
	}
	if err := strictjson.Check(body); err != nil {
		tb.Fatal(err)
	}
	return body
}

// BenchmarkStrictJSONCheck checks a 1 KiB body (A-35). It feeds `make
// bench`; no timing is asserted.
func BenchmarkStrictJSONCheck(b *testing.B) {
	body := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := strictjson.Check(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStrictJSONDecodeObject checks and decodes the same body into a
// map (issue 12, finding 65). It feeds `make bench`; no timing is asserted.
func BenchmarkStrictJSONDecodeObject(b *testing.B) {
	body := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := strictjson.DecodeObject(body); err != nil {
			b.Fatal(err)
		}
	}
}
