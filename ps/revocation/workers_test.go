package revocation

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// leaseStore keeps deliveries in memory with the claim rule of
// Store.ClaimDelivery; the other Store methods are not used here.
type leaseStore struct {
	Store
	mu sync.Mutex
	ds map[string][]Delivery
}

func (f *leaseStore) Deliveries(_ context.Context, id string) ([]Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Delivery(nil), f.ds[id]...), nil
}

func (f *leaseStore) CascadeByID(_ context.Context, id string) (*Cascade, error) {
	return &Cascade{ID: id, Iss: "https://ap.example"}, nil
}

func (f *leaseStore) ClaimDelivery(_ context.Context, d Delivery, now, until time.Time) (Delivery, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.ds[d.CascadeID] {
		if x.Recipient == d.Recipient && x.TokenJTI == d.TokenJTI && x.Outcome != OutcomeRevoked && !x.Lease.After(now) {
			x.Outcome, x.Lease = OutcomePending, until
			f.ds[d.CascadeID][i] = x
			return x, true, nil
		}
	}
	return Delivery{}, false, nil
}

func (f *leaseStore) SetDeliveryOutcome(_ context.Context, d Delivery, outcome string, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.ds[d.CascadeID] {
		if x.Recipient == d.Recipient && x.TokenJTI == d.TokenJTI {
			x.Outcome, x.Lease = outcome, time.Time{}
			f.ds[d.CascadeID][i] = x
		}
	}
	return nil
}

// heldSender counts the sends in flight until released.
type heldSender struct {
	release       chan struct{}
	inFlight, max atomic.Int64
	sent          atomic.Int64
}

func (h *heldSender) Send(ctx context.Context, _, _ string, _ time.Time) Result {
	h.sent.Add(1)
	n := h.inFlight.Add(1)
	for m := h.max.Load(); n > m && !h.max.CompareAndSwap(m, n); m = h.max.Load() {
	}
	defer h.inFlight.Add(-1)
	select {
	case <-h.release:
		return Result{Outcome: OutcomeRevoked}
	case <-ctx.Done():
		return Result{Outcome: OutcomeUnavailable}
	}
}

// TestDeliveryWorkersBoundedProcessWide (PS-291; review finding on
// unbounded outgoing revocations): however many cascades, repeats and
// polls ask, at most maxDeliveryWorkers sends are in flight in the
// process, at most maxConcurrentDeliveries for one cascade, and a repeat
// of a cascade whose deliveries are all in flight sends nothing again;
// once released, every delivery ends revoked, each sent once.
func TestDeliveryWorkersBoundedProcessWide(t *testing.T) {
	st := &leaseStore{ds: map[string][]Delivery{}}
	const cascades, perCascade = 12, 10
	for c := range cascades {
		id := "c" + strconv.Itoa(c)
		for j := range perCascade {
			st.ds[id] = append(st.ds[id], Delivery{CascadeID: id, Recipient: "https://rs.example", TokenJTI: "t" + strconv.Itoa(j),
				TokenExp: time.Now().Add(time.Hour), Outcome: OutcomePending})
		}
	}
	sender := &heldSender{release: make(chan struct{})}
	s, err := New(Options{Issuer: "https://ps.example", Store: st, Sender: sender,
		InTx: func(ctx context.Context, f func(Store) error) error { return f(st) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 { // the first ask, then two repeats of each cascade
		for c := range cascades {
			if done, err := s.deliver(ctx, "c"+strconv.Itoa(c), 0); done || err != nil {
				t.Fatalf("deliver = %v, %v; want pending", done, err)
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := sender.inFlight.Load(); n != maxDeliveryWorkers {
		t.Fatalf("%d sends in flight; want the process-wide bound %d", n, maxDeliveryWorkers)
	}
	close(sender.release)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !s.WaitIdle(wctx) {
		t.Fatal("the deliveries did not end")
	}
	if m := sender.max.Load(); m > maxDeliveryWorkers {
		t.Fatalf("%d sends were in flight at once; want at most %d", m, maxDeliveryWorkers)
	}
	// The cascades no worker was free for stay pending and unleased: a
	// poll or a repeat sends them.
	for c := range cascades {
		id := "c" + strconv.Itoa(c)
		if _, err := s.deliver(ctx, id, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		ds, _ := st.Deliveries(ctx, id)
		for _, d := range ds {
			if d.Outcome != OutcomeRevoked {
				t.Fatalf("%s %s: %s, want revoked", id, d.TokenJTI, d.Outcome)
			}
		}
	}
	if n := sender.sent.Load(); n != cascades*perCascade {
		t.Fatalf("%d sends for %d deliveries; want each sent once", n, cascades*perCascade)
	}
}
