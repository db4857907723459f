package authtoken

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// polls tracks the background loops that poll access servers for pending
// four-party requests (continueAS), so that shutdown stops them: their
// context is cancelled, a poll in flight is abandoned (the pending request
// is left as it is, neither answered nor settled), and Shutdown waits for
// every loop to return, bounded by its context.
type polls struct {
	// owner names this replica in the poll leases (random per Service).
	owner   string
	mu      sync.Mutex
	root    context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	stopped bool
	// running counts this Service's live loops (PollLoops).
	running atomic.Int64
}

func newPolls() *polls {
	root, stop := context.WithCancel(context.Background())
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand never fails
	return &polls{root: root, stop: stop, owner: base64.RawURLEncoding.EncodeToString(b)}
}

// start runs fn in a goroutine under a context that carries ctx's values,
// ends after lifetime and is cancelled by Shutdown; false once shut down.
func (p *polls) start(ctx context.Context, lifetime time.Duration, fn func(ctx context.Context)) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), lifetime)
	unhook := context.AfterFunc(p.root, cancel)
	p.wg.Add(1)
	p.running.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.running.Add(-1)
		defer cancel()
		defer unhook()
		fn(bg)
	}()
	return true
}

// PollLoops is how many background loops of this Service are polling
// access servers now (shutdown leaves none).
func (s *Service) PollLoops() int { return int(s.polls.running.Load()) }

// Shutdown stops the background polling of access servers: no new loop
// starts, the running ones are cancelled, and it waits for them until ctx
// ends (then ctx's error).
func (s *Service) Shutdown(ctx context.Context) error {
	p := s.polls
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.stop()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shuttingDown reports whether ctx is a poll loop's context cancelled by
// Shutdown (or its lifetime): what the loop was doing is abandoned.
func shuttingDown(ctx context.Context) bool { return ctx.Err() != nil }

// maxResumed bounds the requests one Resume or SweepExpired looks at (the
// pending table's own admission bounds keep it smaller in practice).
const maxResumed = 10000

// federatedOpen lists the open four-party requests waiting on an access
// server (the payload holds the AS's wait), with their grants.
func (s *Service) federatedOpen(ctx context.Context) ([]pending.Request, []*Grant, error) {
	rs, err := s.o.Engine.OpenOfKind(ctx, KindAuthToken, maxResumed)
	if err != nil {
		return nil, nil, err
	}
	var out []pending.Request
	var gs []*Grant
	for _, r := range rs {
		g, err := kind{s}.load(&r)
		if err != nil || g.Federated == nil || g.Federated.Wait == nil {
			continue
		}
		out, gs = append(out, r), append(gs, g)
	}
	return out, gs, nil
}

// eachFederated runs fn on every open four-party request waiting on an
// access server, with its grant (the one load-and-act loop of Resume and
// SweepExpired); fn reports whether it acted. It returns how many times
// fn acted, stopping at fn's first error.
func (s *Service) eachFederated(ctx context.Context, fn func(r *pending.Request, g *Grant) (bool, error)) (int, error) {
	rs, gs, err := s.federatedOpen(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range rs {
		acted, err := fn(&rs[i], gs[i])
		if err != nil {
			return n, err
		}
		if acted {
			n++
		}
	}
	return n, nil
}

// Resume restarts the background polling of every open four-party request
// that waits on its access server (a PS restart lost the loops): the
// stored wait names the AS's pending URL. A request at a stage that waits
// on the person is resumed by the person's decision, as before the
// restart; one past its expiry is left to SweepExpired. It returns how
// many loops it started.
func (s *Service) Resume(ctx context.Context) (int, error) {
	return s.eachFederated(ctx, func(r *pending.Request, _ *Grant) (bool, error) {
		if personStage(r.Stage) || !r.ExpiresAt.After(s.o.Now()) {
			return false, nil
		}
		return s.continueAS(ctx, r.ID, time.Second), nil
	})
}

// defaultPollLease is Options.PollLease's default.
const defaultPollLease = 30 * time.Second

// Replicas (issue 11): every replica resumes the open four-party requests
// when it starts (Resume), so several loops may exist for one request;
// only the one holding its lease (store.AcquirePollLease, per replica)
// polls the AS. The holder renews it before each poll for as long as the
// AS asked it to wait plus PollLease; a loop without the lease checks
// again every PollLease and takes over once the holder's lease lapsed (a
// replica that died). A loop that ends gives its lease up.

// lease takes or renews this replica's lease on polling for id, for wait
// plus PollLease; none once the loop's context ended (shutting down).
// The store sees a lease statement through even if shutdown cancels ctx
// meanwhile, so unlease always follows its outcome.
func (s *Service) lease(ctx context.Context, id string, wait time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	now := s.o.Now()
	ok, err := s.o.DB.AcquirePollLease(ctx, id, s.polls.owner, now, now.Add(wait+s.o.PollLease))
	if err != nil {
		s.o.Logger.WarnContext(ctx, "federation: poll lease", "pending", id, "err", err)
	}
	return ok
}

// unlease gives this replica's lease on id up.
func (s *Service) unlease(ctx context.Context, id string) {
	if err := s.o.DB.ReleasePollLease(ctx, id, s.polls.owner); err != nil {
		s.o.Logger.WarnContext(ctx, "federation: release the poll lease", "pending", id, "err", err)
	}
}

// open reports whether pending request id is still open.
func (s *Service) open(ctx context.Context, id string) bool {
	pr, err := s.o.Engine.Get(ctx, id)
	return err == nil && pr.State.Open()
}
