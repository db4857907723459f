package resourcetoken

import (
	"bytes"
	"fmt"
	"testing"
)

// TestR3CacheBounded: the R3 cache keeps documents by r3_s256, at most
// maxEntries of them (least recently used out first) and none larger than
// maxBytes (R3§content-addressing, PS-243's "may cache by hash").
func TestR3CacheBounded(t *testing.T) {
	c := NewR3Cache(2, 8)
	c.Put("a", []byte("doc-a"))
	c.Put("b", []byte("doc-b"))
	if _, ok := c.Get("a"); !ok { // a is now the most recent
		t.Fatal("a not cached")
	}
	c.Put("c", []byte("doc-c"))
	if _, ok := c.Get("b"); ok {
		t.Fatal("the least recently used document was kept beyond the bound")
	}
	if got, ok := c.Get("a"); !ok || !bytes.Equal(got, []byte("doc-a")) {
		t.Fatalf("a = %q %v", got, ok)
	}
	c.Put("big", []byte("123456789"))
	if _, ok := c.Get("big"); ok || c.Len() != 2 {
		t.Fatalf("a document over the size bound was cached (len %d)", c.Len())
	}
	for i := range 10 {
		c.Put(fmt.Sprint(i), []byte("x"))
	}
	if c.Len() != 2 {
		t.Fatalf("cache holds %d documents, bound 2", c.Len())
	}
}
