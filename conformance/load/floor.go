package load

import (
	"crypto/ed25519"
	"crypto/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The crypto an exchange cannot do without (Ed25519 everywhere):
//
//	person token request: the request signature and the agent token
//	(2 verifications), the person token (1 signature);
//	auth token request: the request signature, the agent token, the
//	resource token and the presented person token (4 verifications),
//	the auth token (1 signature).
const (
	PersonVerifies, PersonSigns = 2, 1
	AuthVerifies, AuthSigns     = 4, 1
	// floorMessage is about the size of a JWT signing input or an RFC 9421
	// signature base in the exchange.
	floorMessage = 600
)

// Floor is the measured cost of the primitives, on every core at once.
type Floor struct {
	// Verify and Sign are the CPU time of one Ed25519 verification and
	// one signature.
	Verify, Sign time.Duration
	// Cores is GOMAXPROCS during the measurement.
	Cores int
}

// Cost is the CPU time of v verifications and s signatures.
func (f Floor) Cost(v, s int) time.Duration {
	return time.Duration(v)*f.Verify + time.Duration(s)*f.Sign
}

// Exchange is the floor of one exchange (both requests).
func (f Floor) Exchange() time.Duration {
	return f.Cost(PersonVerifies+AuthVerifies, PersonSigns+AuthSigns)
}

// PerSecond is how many operations costing c the cores could do per
// second if they did nothing else.
func (f Floor) PerSecond(c time.Duration) float64 {
	if c <= 0 {
		return 0
	}
	return float64(f.Cores) * float64(time.Second) / float64(c)
}

// MeasureFloor times Ed25519 verifications, then signatures, in a tight
// loop on every core, d each; the cost is CPU time per operation (so
// other load on a shared machine slows the loop without changing it).
func MeasureFloor(d time.Duration) Floor {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, floorMessage)
	_, _ = rand.Read(msg)
	sig := ed25519.Sign(priv, msg)
	f := Floor{Cores: runtime.GOMAXPROCS(0)}
	f.Verify = tight(f.Cores, d, func() {
		if !ed25519.Verify(pub, msg, sig) {
			panic("load: the floor's own signature does not verify")
		}
	})
	f.Sign = tight(f.Cores, d, func() { _ = ed25519.Sign(priv, msg) })
	return f
}

// tight runs op on n goroutines for d and returns the CPU time per op
// (wall time × n when the process CPU clock is not available).
func tight(n int, d time.Duration, op func()) time.Duration {
	var done atomic.Int64
	deadline := time.Now().Add(d)
	cpu0, start := ProcessCPU(), time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			k := int64(0)
			for time.Now().Before(deadline) {
				for range 16 {
					op()
				}
				k += 16
			}
			done.Add(k)
		})
	}
	wg.Wait()
	cpu, elapsed := ProcessCPU()-cpu0, time.Since(start)
	ops := done.Load()
	if ops == 0 {
		return 0
	}
	if cpu <= 0 {
		cpu = elapsed * time.Duration(n)
	}
	return cpu / time.Duration(ops)
}
