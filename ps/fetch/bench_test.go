package fetch

import (
	"context"
	"testing"
)

// BenchmarkDiscoveryKeyCacheHit is a key lookup the discovery cache answers
// (every signed request does one for its agent provider's key): it must
// fetch nothing and cost far less than the verification it serves. The
// hit rate is reported (issue 12 target: > 99 %).
func BenchmarkDiscoveryKeyCacheHit(b *testing.B) {
	e := newDiscEnv(b, nil, nil)
	ctx := context.Background()
	if _, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1"); err != nil {
		b.Fatal(err)
	}
	hits, n := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		r, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1")
		if err != nil {
			b.Fatal(err)
		}
		n++
		if r.FromCache {
			hits++
		}
	}
	if m, j := e.metaHits(), e.jwksHits(); m != 1 || j != 1 {
		b.Fatalf("cache hits fetched: metadata %d, JWKS %d times", m, j)
	}
	b.ReportMetric(100*float64(hits)/float64(n), "%hit")
}
