package conformance

import (
	"fmt"
	"sync"
	"testing"
)

func TestResolver(t *testing.T) {
	var r Resolver // the zero value is usable
	r.Set("ps.test", "127.0.0.1:2000")
	r.Set("AP.test", "127.0.0.1:1000")
	r.Set("ap.test:8443", "127.0.0.1:1001")
	eq(t, r.Flags(), []string{"ap.test:8443=127.0.0.1:1001", "ap.test=127.0.0.1:1000", "ps.test=127.0.0.1:2000"})
	eq(t, r.Map(), map[string]string{"ap.test": "127.0.0.1:1000", "ap.test:8443": "127.0.0.1:1001", "ps.test": "127.0.0.1:2000"})

	eq(t, r.resolve("ap.test:443"), "127.0.0.1:1000")
	eq(t, r.resolve("ap.test:8443"), "127.0.0.1:1001", "host:port wins")
	eq(t, r.resolve("other.test:443"), "other.test:443", "unmapped hosts dial normally")
	var nilR *Resolver
	eq(t, nilR.resolve("x:1"), "x:1")

	m := r.Map()
	m["evil"] = "x"
	_, ok := r.Lookup("evil")
	check(t, !ok, "Map returns a copy")

	r.Delete("ps.test")
	_, ok = r.Lookup("ps.test")
	check(t, !ok, "Delete")
	r.deleteIf("ap.test", "127.0.0.1:9999")
	_, ok = r.Lookup("ap.test")
	check(t, ok, "deleteIf leaves a different mapping alone")

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				h := fmt.Sprintf("h%d-%d.test", i, j)
				r.Set(h, "127.0.0.1:1")
				_ = r.Flags()
				_ = r.resolve(h + ":443")
			}
		}()
	}
	wg.Wait()
	eq(t, len(r.Map()), 2+8*50)
}
