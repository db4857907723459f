package pending

import (
	"context"
	"errors"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// The engine's reads and writes through its Store.

// load reads one request; (nil, nil) when there is none.
func (e *Engine) load(ctx context.Context, id string) (*Record, error) {
	if !wellFormedID(id) {
		return nil, nil // cannot exist; and never send arbitrary bytes to the database
	}
	rec, err := e.st.PendingRequest(ctx, id)
	if errors.Is(err, dberr.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec.code = rec.CodeDisplay
	return rec, nil
}

// requests turns records into the requests callers see.
func requests(recs []Record, err error) ([]Request, error) {
	if err != nil {
		return nil, err
	}
	out := make([]Request, 0, len(recs))
	for _, rec := range recs {
		rec.code = rec.CodeDisplay
		out = append(out, *rec.Request)
	}
	return out, nil
}

// save writes the mutable fields of rec if its version did not move
// (errVersion otherwise).
func (e *Engine) save(ctx context.Context, rec *Record, now time.Time) error {
	err := e.st.SavePendingRequest(ctx, rec, now)
	if errors.Is(err, dberr.ErrConflict) {
		return errVersion
	}
	rec.code = rec.CodeDisplay
	return err
}

// errVersion means the row changed (or vanished) since it was read.
var errVersion = errors.New("pending: version conflict")
