package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/aauth-ps/aauth-ps/ps/timestamping"
)

// The RFC 3161 tokens of signed chain heads and the heads awaiting one
// (migration 00042; ps/timestamping).

var _ timestamping.Store = (*Store)(nil)

// QueueTimestamp records that a chain head awaits a token, due at next,
// in the transaction writing the head (queued after it, so its key
// refers to a written record).
func (s *Store) QueueTimestamp(ctx context.Context, q timestamping.Queued, next time.Time) error {
	return s.writeLater(ctx, "queue timestamp", func(db *gorm.DB) *gorm.DB {
		return db.Exec(`INSERT INTO evidence_timestamps (chain, seq, mission_s256, imprint, next_ms) VALUES (?, ?, ?, ?, ?)`,
			q.Chain, q.Seq, q.MissionS256, q.Imprint, next.UnixMilli())
	})
}

// DueTimestamps lists at most limit unanchored heads due at now, the
// longest due first (through the partial index evidence_timestamps_due).
func (s *Store) DueTimestamps(ctx context.Context, now time.Time, limit int) ([]timestamping.Queued, error) {
	var rows []struct {
		Chain       string `gorm:"column:chain"`
		Seq         int64  `gorm:"column:seq"`
		MissionS256 string `gorm:"column:mission_s256"`
		Imprint     string `gorm:"column:imprint"`
		Attempts    int    `gorm:"column:attempts"`
	}
	if err := s.stmt(ctx).Raw(`SELECT chain, seq, mission_s256, imprint, attempts FROM evidence_timestamps
		WHERE token IS NULL AND next_ms <= ? ORDER BY next_ms, chain, seq LIMIT ?`, now.UnixMilli(), limit).Scan(&rows).Error; err != nil {
		return nil, wrap("due timestamps", err)
	}
	out := make([]timestamping.Queued, len(rows))
	for i, r := range rows {
		out[i] = timestamping.Queued{Chain: r.Chain, Seq: r.Seq, MissionS256: r.MissionS256, Imprint: r.Imprint, Attempts: r.Attempts}
	}
	return out, nil
}

// ClaimTimestamp takes an unanchored head due at now by moving it to
// until (compare-and-swap: of two replicas, one moves it), counting an
// attempt. It runs to completion even if ctx is cancelled (settled): the
// caller must know whether it holds the claim.
func (s *Store) ClaimTimestamp(ctx context.Context, chain string, seq int64, now, until time.Time) (bool, error) {
	ctx, cancel := settled(ctx)
	defer cancel()
	res := s.stmt(ctx).Exec(`UPDATE evidence_timestamps SET next_ms = ?, attempts = attempts + 1
		WHERE chain = ? AND seq = ? AND token IS NULL AND next_ms <= ?`, until.UnixMilli(), chain, seq, now.UnixMilli())
	return res.RowsAffected > 0, wrap("claim timestamp", res.Error)
}

// SetTimestamp stores a head's token unless it has one already (a token
// once stored is never replaced).
func (s *Store) SetTimestamp(ctx context.Context, t timestamping.Token) (bool, error) {
	ctx, cancel := settled(ctx)
	defer cancel()
	res := s.stmt(ctx).Exec(`UPDATE evidence_timestamps SET token = ?, gen_time_ms = ?
		WHERE chain = ? AND seq = ? AND token IS NULL`, t.DER, t.GenTime.UnixMilli(), t.Chain, t.Seq)
	return res.RowsAffected > 0, wrap("store timestamp", res.Error)
}

// DeferTimestamp makes an unanchored head due again at next.
func (s *Store) DeferTimestamp(ctx context.Context, chain string, seq int64, next time.Time) error {
	ctx, cancel := settled(ctx)
	defer cancel()
	return wrap("defer timestamp", s.stmt(ctx).Exec(`UPDATE evidence_timestamps SET next_ms = ?
		WHERE chain = ? AND seq = ? AND token IS NULL`, next.UnixMilli(), chain, seq).Error)
}

// Timestamps returns the tokens of chain's anchored heads in seq order.
func (s *Store) Timestamps(ctx context.Context, chain string) ([]timestamping.Token, error) {
	var rows []struct {
		Chain     string `gorm:"column:chain"`
		Seq       int64  `gorm:"column:seq"`
		Token     []byte `gorm:"column:token"`
		GenTimeMS int64  `gorm:"column:gen_time_ms"`
	}
	if err := s.stmt(ctx).Raw(`SELECT chain, seq, token, gen_time_ms FROM evidence_timestamps
		WHERE chain = ? AND token IS NOT NULL ORDER BY seq`, chain).Scan(&rows).Error; err != nil {
		return nil, wrap("read timestamps", err)
	}
	out := make([]timestamping.Token, len(rows))
	for i, r := range rows {
		out[i] = timestamping.Token{Chain: r.Chain, Seq: r.Seq, DER: r.Token, GenTime: time.UnixMilli(r.GenTimeMS).UTC()}
	}
	return out, nil
}
