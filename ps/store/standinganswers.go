package store

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"gorm.io/gorm/clause"
)

// Standing answers to access servers (issue 11, migration 00034): the
// person's answer to an AS's question, kept for exactly (mission, AS,
// question hash) so the PS answers the same question itself while the
// mission is active.

// MaxStandingAnswers bounds the standing answers of one mission.
const MaxStandingAnswers = 20

// ErrTooManyStandingAnswers: the mission has MaxStandingAnswers already.
var ErrTooManyStandingAnswers = errors.New("store: too many standing answers for this mission")

// StandingAnswer is one remembered answer.
type StandingAnswer struct {
	ID           string
	MissionS256  string
	AccessServer string
	// QuestionS256 is the sha-256 (base64url) of the exact question text;
	// Question is that text, as the AS asked it (AS-asserted).
	QuestionS256 string
	Question     string
	Answer       string
	CreatedBy    string
	CreatedAt    time.Time
}

type standingAnswerRow struct {
	ID           string `gorm:"primaryKey"`
	MissionS256  string
	AccessServer string
	QuestionS256 string
	Question     string
	Answer       string
	CreatedBy    string
	CreatedAt    int64 `gorm:"autoCreateTime:false"`
}

func (standingAnswerRow) TableName() string { return "mission_standing_answers" }

func (r standingAnswerRow) answer() StandingAnswer {
	return StandingAnswer{ID: r.ID, MissionS256: r.MissionS256, AccessServer: r.AccessServer, QuestionS256: r.QuestionS256,
		Question: r.Question, Answer: r.Answer, CreatedBy: r.CreatedBy, CreatedAt: unixTime(r.CreatedAt)}
}

// PutStandingAnswer stores a (its ID is set here), replacing the
// mission's answer to the same question from the same AS, unless the
// mission has MaxStandingAnswers others (ErrTooManyStandingAnswers). Call
// it in the answer's transaction after LockMission, so concurrent answers
// cannot pass the bound together.
func (s *Store) PutStandingAnswer(ctx context.Context, a *StandingAnswer) error {
	db := s.db.WithContext(ctx)
	var n int64
	if err := db.Model(&standingAnswerRow{}).Where("mission_s256 = ? AND NOT (access_server = ? AND question_s256 = ?)",
		a.MissionS256, a.AccessServer, a.QuestionS256).Count(&n).Error; err != nil {
		return wrap("keep standing answer", err)
	}
	if n >= MaxStandingAnswers {
		return ErrTooManyStandingAnswers
	}
	a.ID = rand.Text()
	row := standingAnswerRow{ID: a.ID, MissionS256: a.MissionS256, AccessServer: a.AccessServer, QuestionS256: a.QuestionS256,
		Question: a.Question, Answer: a.Answer, CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt.Unix()}
	return wrap("keep standing answer", db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "mission_s256"}, {Name: "access_server"}, {Name: "question_s256"}},
		DoUpdates: clause.AssignmentColumns([]string{"id", "question", "answer", "created_by", "created_at"}),
	}).Create(&row).Error)
}

// FindStandingAnswer is the mission's answer to question qs256 from as
// (ErrNotFound when there is none).
func (s *Store) FindStandingAnswer(ctx context.Context, s256, as, qs256 string) (*StandingAnswer, error) {
	var r standingAnswerRow
	if err := s.stmt(ctx).Where("mission_s256 = ? AND access_server = ? AND question_s256 = ?", s256, as, qs256).
		Limit(1).Find(&r).Error; err != nil {
		return nil, wrap("find standing answer", err)
	}
	if r.ID == "" {
		return nil, &Error{Op: "find standing answer", Kind: ErrNotFound}
	}
	a := r.answer()
	return &a, nil
}

// StandingAnswers lists the mission's standing answers, oldest first.
func (s *Store) StandingAnswers(ctx context.Context, s256 string) ([]StandingAnswer, error) {
	var rows []standingAnswerRow
	if err := s.stmt(ctx).Where("mission_s256 = ?", s256).Order("created_at, id").
		Limit(MaxStandingAnswers).Find(&rows).Error; err != nil {
		return nil, wrap("list standing answers", err)
	}
	out := make([]StandingAnswer, len(rows))
	for i, r := range rows {
		out[i] = r.answer()
	}
	return out, nil
}

// DeleteStandingAnswer removes the mission's standing answer id and
// returns it (ErrNotFound when the mission has none with that id).
func (s *Store) DeleteStandingAnswer(ctx context.Context, s256, id string) (*StandingAnswer, error) {
	var r standingAnswerRow
	db := s.db.WithContext(ctx)
	if err := db.Where("mission_s256 = ? AND id = ?", s256, id).Limit(1).Find(&r).Error; err != nil {
		return nil, wrap("forget standing answer", err)
	}
	if r.ID == "" {
		return nil, &Error{Op: "forget standing answer", Kind: ErrNotFound}
	}
	if err := db.Where("id = ?", id).Delete(&standingAnswerRow{}).Error; err != nil {
		return nil, wrap("forget standing answer", err)
	}
	a := r.answer()
	return &a, nil
}
