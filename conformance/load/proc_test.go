package load

import (
	"os"
	"syscall"
	"testing"
)

// The peak reading shows a burst that the resident set after it no longer
// does: a block touched and unmapped leaves the peak above it while the
// current reading falls again. The block is mapped directly, not from the
// Go heap, so that it leaves whatever the collector or the race detector
// keep.
func TestProcPeakRSSRecordsABurst(t *testing.T) {
	pid := os.Getpid()
	rss0, ok1 := ProcRSS(pid)
	peak0, ok2 := ProcPeakRSS(pid)
	if !ok1 || !ok2 || rss0 <= 0 || peak0 < rss0 {
		t.Fatalf("RSS %d (%v), peak %d (%v): want 0 < RSS ≤ peak", rss0, ok1, peak0, ok2)
	}
	const burst = 64 << 20
	size := int(peak0-rss0) + burst
	block, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(block); i += os.Getpagesize() {
		block[i] = 1
	}
	if err := syscall.Munmap(block); err != nil {
		t.Fatal(err)
	}
	rss1, _ := ProcRSS(pid)
	peak1, _ := ProcPeakRSS(pid)
	// Half the burst: the rest of the process may shrink meanwhile.
	if peak1 < peak0+burst/2 {
		t.Fatalf("peak %d after touching %d bytes more, was %d: the burst is not counted", peak1, size, peak0)
	}
	if rss1 >= peak0+burst/2 {
		t.Fatalf("RSS %d after the block was unmapped: the burst did not end, so the test shows nothing", rss1)
	}
	if _, ok := ProcPeakRSS(0x7fffffff); ok {
		t.Fatal("a process that does not exist has a peak")
	}
}

// What a process hands to write system calls is counted whether or not it
// reaches a disk: a megabyte written to a file shows in the reading.
func TestProcWrittenCountsWrites(t *testing.T) {
	pid := os.Getpid()
	w0, ok := ProcWritten(pid)
	if !ok {
		t.Fatal("no write count for this process")
	}
	f, err := os.CreateTemp(t.TempDir(), "w")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const n = 1 << 20
	if _, err := f.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if w1, _ := ProcWritten(pid); w1-w0 < n {
		t.Fatalf("write count moved by %d after writing %d bytes", w1-w0, n)
	}
	if _, ok := ProcWritten(0x7fffffff); ok {
		t.Fatal("a process that does not exist has a write count")
	}
}
