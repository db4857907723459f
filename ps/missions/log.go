package missions

import (
	"context"
	"errors"
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
// mission; a concurrent append that takes it first makes this one retry.
func (s *Service) Log(ctx context.Context, s256 string, e Entry) error {
	if e.Body != nil && e.Digest == "" {
		e.Digest = mission.S256(e.Body)
	}
	for range 10 {
		var next int64
		err := s.o.Store.DB().WithContext(ctx).Raw(
			`SELECT COALESCE(MAX(seq), 0) + 1 FROM mission_log WHERE mission_s256 = ?`, s256).Scan(&next).Error
		if err != nil {
			return store.Wrap("append mission log", err)
		}
		r := logRow{MissionS256: s256, Seq: next, At: s.o.Now().Unix(), Kind: e.Kind, Actor: e.Actor, Summary: e.Summary, Body: e.Body}
		if e.Digest != "" {
			r.Digest = &e.Digest
		}
		err = store.Wrap("append mission log", s.o.Store.DB().WithContext(ctx).Create(&r).Error)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return errors.New("missions: mission log append kept conflicting")
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
