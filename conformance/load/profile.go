package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Profiler captures a CPU and an allocation profile of the server over a
// measured phase, from its net/http/pprof listener (`aauth-ps serve
// --pprof`). Both are delta profiles over the phase: the CPU profile
// samples it, the allocation profile (`allocs?seconds=`) is the
// difference of two snapshots, so the set-up and warm-up are not in it.
type Profiler struct {
	// URL is the listener, e.g. http://127.0.0.1:6060.
	URL string
	// Dir receives NAME-cpu.pprof and NAME-allocs.pprof.
	Dir string
}

// Start begins both profiles for d and returns a wait that writes them
// under name and reports the first error.
func (p *Profiler) Start(ctx context.Context, name string, d time.Duration) (wait func() error) {
	secs := int(math.Ceil(d.Seconds()))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, kind := range []string{"cpu", "allocs"} {
		path := "/debug/pprof/profile"
		if kind == "allocs" {
			path = "/debug/pprof/allocs"
		}
		wg.Go(func() {
			errs[i] = p.fetch(ctx, fmt.Sprintf("%s%s?seconds=%d", p.URL, path, secs),
				filepath.Join(p.Dir, name+"-"+kind+".pprof"), d)
		})
	}
	return func() error {
		wg.Wait()
		return errors.Join(errs...)
	}
}

func (p *Profiler) fetch(ctx context.Context, url, file string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d+time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("profile %s: %s %s", url, resp.Status, b)
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return err
	}
	fh, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fh, resp.Body); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
