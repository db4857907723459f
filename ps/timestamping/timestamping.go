// Package timestamping anchors the PS's signed evidence chain heads with
// an operator's RFC 3161 time-stamping authority (Mission composition,
// design §7, Level 4; --evidence-tsa-url). Each chain_head the lifecycle
// signs is queued in the transaction that writes it (Queue); once that
// commits, the PS asks the TSA for a token over the head's imprint
// (mission/tsa.HeadImprint), outside any transaction, checks the response
// (imprint, nonce, signature, the signer named by the signingCertificate
// attribute, time-stamping certificate, and the operator's TSA roots when
// given: mission/tsa, as `evidence verify` checks a token) and only then
// stores the token beside the head. A head the TSA did not stamp (down,
// slow, a bad answer) stays unanchored and queued; the housekeeping sweep
// (AnchorDue) asks again with back-off. A replica claims a queued head before asking for it, so
// replicas sharing a database do not ask twice.
package timestamping

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/mission/tsa"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/inflight"
)

// Queued is a signed chain head waiting for its token.
type Queued struct {
	Chain       string
	Seq         int64
	MissionS256 string
	// Imprint is base64url(SHA-256 of the head's JWS).
	Imprint  string
	Attempts int
}

// Token is a chain head's stored time-stamp token.
type Token struct {
	Chain   string
	Seq     int64
	DER     []byte
	GenTime time.Time
}

// Store keeps the queue and the tokens (*store.Store, both dialects).
type Store interface {
	// QueueTimestamp records, in the transaction writing the head, that
	// q awaits a token, due at next.
	QueueTimestamp(ctx context.Context, q Queued, next time.Time) error
	// DueTimestamps lists at most limit unanchored heads due at now, the
	// longest due first.
	DueTimestamps(ctx context.Context, now time.Time, limit int) ([]Queued, error)
	// ClaimTimestamp takes the unanchored head (chain, seq) if it is due
	// at now, moving it to until and counting an attempt; false when it
	// is anchored, not due, or another replica took it first.
	ClaimTimestamp(ctx context.Context, chain string, seq int64, now, until time.Time) (bool, error)
	// SetTimestamp stores the head's token unless it has one.
	SetTimestamp(ctx context.Context, t Token) (bool, error)
	// DeferTimestamp makes the unanchored head due again at next.
	DeferTimestamp(ctx context.Context, chain string, seq int64, next time.Time) error
	// Timestamps returns the tokens of chain's anchored heads by seq.
	Timestamps(ctx context.Context, chain string) ([]Token, error)
}

// Poster sends the time-stamp request (*fetch.Client: the PS's
// egress-guarded client).
type Poster interface {
	Do(req *http.Request) (*fetch.Response, error)
}

// Options configure a Service.
type Options struct {
	// URL is the TSA's (https; --evidence-tsa-url).
	URL  string
	HTTP Poster
	DB   Store
	// Roots, when set, are the TSA roots a token's certificate must
	// chain to (--evidence-tsa-roots); nil: any time-stamping certificate
	// whose signature verifies (the auditor checks the chain).
	Roots *x509.CertPool
	Now   func() time.Time
	Log   *slog.Logger
}

// Service anchors chain heads.
type Service struct {
	o Options

	// work counts the exchanges commits started (at most maxInflight;
	// beyond, the head waits for the sweep).
	work inflight.Group
}

const (
	// RequestTimeout bounds one exchange with the TSA (the PS's TSA
	// client is built with it); claimLease outlasts it, so a replica that
	// died holding a claim lets it go.
	RequestTimeout = 10 * time.Second
	claimLease     = time.Minute
	// sweepLimit bounds the heads one sweep asks for; maxInflight the
	// exchanges started by commits at once (beyond, the sweep asks).
	sweepLimit  = 20
	maxInflight = 4
	// Back-off after a failed attempt n: firstRetry·2^(n−1), at most
	// maxRetry, so a head is asked for at most hourly while the TSA fails.
	firstRetry = time.Minute
	maxRetry   = time.Hour
	// MaxResponseBytes bounds a TSA's answer (a token with its
	// certificate chain is a few KiB).
	MaxResponseBytes = 64 << 10
)

// New builds the Service.
func New(o Options) (*Service, error) {
	if o.URL == "" || o.HTTP == nil || o.DB == nil {
		return nil, errors.New("timestamping: URL, HTTP and DB are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o}, nil
}

// TxStore is the transaction a head is written in: the queue, and the
// hook that runs once it commits (*store.Store).
type TxStore interface {
	Store
	AfterCommit(f func())
}

// Queue records, in tx (the transaction writing head, a chain_head
// record of mission s256), that head awaits a token, and asks the TSA for
// it once tx commits, in the background.
func (s *Service) Queue(ctx context.Context, tx TxStore, s256 string, head evidence.Stored) error {
	var hb evidence.HeadBody
	if head.Record.Type != evidence.ChainHead || json.Unmarshal(head.Record.Body, &hb) != nil || hb.JWS == "" {
		return fmt.Errorf("timestamping: record %d of chain %s is not a signed chain head", head.Record.Seq, head.Record.Chain)
	}
	q := Queued{Chain: head.Record.Chain, Seq: head.Record.Seq, MissionS256: s256,
		Imprint: base64.RawURLEncoding.EncodeToString(tsa.HeadImprint(hb.JWS))}
	if err := tx.QueueTimestamp(ctx, q, s.o.Now()); err != nil {
		return err
	}
	tx.AfterCommit(func() { s.kick(context.WithoutCancel(ctx), q) })
	return nil
}

// kick asks for q's token in the background unless maxInflight exchanges
// run already (the sweep asks then).
func (s *Service) kick(ctx context.Context, q Queued) {
	if !s.work.TryAdd(maxInflight) {
		return
	}
	go func() {
		defer s.work.Done()
		if _, err := s.anchor(ctx, q); err != nil {
			s.o.Log.WarnContext(ctx, "evidence: timestamp a chain head", "chain", q.Chain, "seq", q.Seq, "err", err)
		}
	}()
}

// WaitIdle waits until no exchange started by a commit runs, or ctx ends
// (false): an export waits for the head it just signed, a command for the
// heads its change signed, before the process exits.
func (s *Service) WaitIdle(ctx context.Context) bool {
	return s.work.Wait(ctx)
}

// AnchorDue asks for the tokens of the queued heads that are due (the
// housekeeping loop runs it on every replica; claims keep them apart),
// at most sweepLimit, and stops at the first failure to reach the TSA
// (the others would fail alike). It returns how many it anchored.
func (s *Service) AnchorDue(ctx context.Context) (int, error) {
	due, err := s.o.DB.DueTimestamps(ctx, s.o.Now(), sweepLimit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, q := range due {
		ok, err := s.anchor(ctx, q)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// anchor claims q and asks the TSA for its token; a checked token is
// stored, any failure defers q with back-off. It reports whether it
// stored a token (false without error: another replica has q).
func (s *Service) anchor(ctx context.Context, q Queued) (bool, error) {
	now := s.o.Now()
	ok, err := s.o.DB.ClaimTimestamp(ctx, q.Chain, q.Seq, now, now.Add(claimLease))
	if err != nil || !ok {
		return false, err
	}
	q.Attempts++
	tok, err := s.ask(ctx, q)
	if err != nil {
		if derr := s.o.DB.DeferTimestamp(ctx, q.Chain, q.Seq, s.o.Now().Add(backoff(q.Attempts))); derr != nil {
			err = errors.Join(err, derr)
		}
		return false, err
	}
	if _, err := s.o.DB.SetTimestamp(ctx, tok); err != nil {
		return false, err
	}
	s.o.Log.InfoContext(ctx, "evidence: chain head anchored", "chain", q.Chain, "seq", q.Seq, "gen_time", tok.GenTime)
	return true, nil
}

// ask runs one exchange with the TSA and checks its answer.
func (s *Service) ask(ctx context.Context, q Queued) (Token, error) {
	imprint, err := base64.RawURLEncoding.DecodeString(q.Imprint)
	if err != nil {
		return Token{}, fmt.Errorf("timestamping: queued imprint: %w", err)
	}
	req, err := tsa.NewRequest(imprint)
	if err != nil {
		return Token{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.URL, bytes.NewReader(req.DER))
	if err != nil {
		return Token{}, fmt.Errorf("timestamping: %w", err)
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	hr.Header.Set("Accept", "application/timestamp-reply")
	resp, err := s.o.HTTP.Do(hr)
	if err != nil {
		return Token{}, fmt.Errorf("timestamping: the TSA: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Token{}, fmt.Errorf("timestamping: the TSA answered %d", resp.StatusCode)
	}
	if len(resp.Body) > MaxResponseBytes {
		return Token{}, fmt.Errorf("timestamping: the TSA's answer exceeds %d bytes", MaxResponseBytes)
	}
	der, st, err := req.Check(resp.Body, s.o.Roots)
	if err != nil {
		return Token{}, err
	}
	return Token{Chain: q.Chain, Seq: q.Seq, DER: der, GenTime: st.GenTime}, nil
}

// backoff is the wait after failed attempt n (1, 2, …).
func backoff(n int) time.Duration {
	d := firstRetry
	for i := 1; i < n && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}
