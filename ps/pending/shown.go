package pending

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// ErrChanged is a decision on a request whose content moved since the
// person was shown it (Digest): an agent's updated_request (PS-177).
var ErrChanged = errors.New("pending: the request changed since it was shown")

// Digest names the request as a person is shown it: its kind and payload
// (what an updated_request replaces). The stage is left out: a stage the
// person moves on themselves (connecting the agent, then its question)
// keeps the page's decisions valid, and each kind checks the stage an
// action needs. A decision carries the
// digest of the page it was made on, so that it is applied only to what
// the person saw (P§updated-request: "The PS presents the updated request
// to the user"). 128 bits, base64url.
func (r *Request) Digest() string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(r.Kind), r.Payload} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(part))))
		h.Write(part)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// Claim makes a decision's transaction hold request id as it was read
// (digest): ErrChanged when it moved meanwhile, ErrClosed when it ended.
// It writes the row (a new version), so that a concurrent change, such as
// an updated_request, either committed before and is seen here, or waits
// for the decision's transaction and then finds the request ended. Use it
// on the Engine of that transaction (WithStore).
func (e *Engine) Claim(ctx context.Context, id, digest string) error {
	_, err := e.mutate(ctx, id, func(l *Record, now time.Time) error {
		switch {
		case !l.State.Open() || isDue(l.Request, now):
			return ErrClosed
		case l.Digest() != digest:
			return ErrChanged
		}
		return nil
	})
	return err
}
