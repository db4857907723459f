package missions

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Entry is one record of the mission log (P§mission-log).
type Entry struct {
	Seq     int64
	At      time.Time
	Kind    string // proposal, approval, clarification, person_token, update, completion, interaction, decision, termination
	Actor   string // agent, person, ps, admin
	Summary string // Markdown (agent-asserted when Actor is agent) or a PS-written line
	Body    []byte // exact bytes, for accepted updates
	Digest  string // s256 of Body
}

type logRow struct {
	MissionS256 string  `gorm:"column:mission_s256;primaryKey"`
	Seq         int64   `gorm:"column:seq;primaryKey"`
	At          int64   `gorm:"column:at"`
	Kind        string  `gorm:"column:kind"`
	Actor       string  `gorm:"column:actor"`
	Summary     string  `gorm:"column:summary"`
	Body        []byte  `gorm:"column:body"`
	Digest      *string `gorm:"column:digest"`
}

func (logRow) TableName() string { return "mission_log" }

// Log appends an entry. The sequence number is the next one for the
// mission. Appends to one mission are serialized so MAX(seq)+1 is never
// taken twice: a SQLite transaction holds the write lock from BEGIN
// (IMMEDIATE), and on PostgreSQL the transaction locks the mission's row.
// (Optimistic retries were not enough: under a burst of concurrent appends
// some kept losing and the entry was dropped.)
func (s *Service) Log(ctx context.Context, s256 string, e Entry) error {
	if e.Body != nil && e.Digest == "" {
		e.Digest = mission.S256(e.Body)
	}
	return s.o.Store.InTx(ctx, func(tx *store.Store) error {
		db := tx.DB().WithContext(ctx)
		if tx.Dialect() == store.DialectPostgres {
			var one int
			if err := db.Raw(`SELECT 1 FROM missions WHERE s256 = ? FOR UPDATE`, s256).Scan(&one).Error; err != nil {
				return store.Wrap("append mission log", err)
			}
		}
		var next int64
		if err := db.Raw(`SELECT COALESCE(MAX(seq), 0) + 1 FROM mission_log WHERE mission_s256 = ?`, s256).Scan(&next).Error; err != nil {
			return store.Wrap("append mission log", err)
		}
		r := logRow{MissionS256: s256, Seq: next, At: s.o.Now().Unix(), Kind: e.Kind, Actor: e.Actor, Summary: e.Summary, Body: e.Body}
		if e.Digest != "" {
			r.Digest = &e.Digest
		}
		return store.Wrap("append mission log", db.Create(&r).Error)
	})
}

// Entries returns the mission log in order.
func (s *Service) Entries(ctx context.Context, s256 string) ([]Entry, error) {
	var rows []logRow
	if err := s.o.Store.DB().WithContext(ctx).Where("mission_s256 = ?", s256).Order("seq").Find(&rows).Error; err != nil {
		return nil, store.Wrap("read mission log", err)
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = Entry{Seq: r.Seq, At: time.Unix(r.At, 0).UTC(), Kind: r.Kind, Actor: r.Actor, Summary: r.Summary, Body: r.Body}
		if r.Digest != nil {
			out[i].Digest = *r.Digest
		}
	}
	return out, nil
}

// Updates returns the accepted updates (their exact bytes and digests).
func (s *Service) Updates(ctx context.Context, s256 string) ([]Entry, error) {
	all, err := s.Entries(ctx, s256)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range all {
		if e.Kind == "update" {
			out = append(out, e)
		}
	}
	return out, nil
}
