package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"

	"gorm.io/gorm"
)

// The missions aggregate: approved missions and their ordered log
// (package mission owns the rules; ps/missionflow runs them).

type missionRow struct {
	S256              string  `gorm:"column:s256;primaryKey"`
	Blob              []byte  `gorm:"column:blob"`
	AgentIss          string  `gorm:"column:agent_iss"`
	AgentSub          string  `gorm:"column:agent_sub"`
	PersonID          string  `gorm:"column:person_id"`
	ApprovedAtMS      int64   `gorm:"column:approved_at_ms"`
	ExpiresAt         *int64  `gorm:"column:expires_at"`
	State             string  `gorm:"column:state"`
	TerminationReason *string `gorm:"column:termination_reason"`
	TerminatedAt      *int64  `gorm:"column:terminated_at"`
	TerminatedBy      *string `gorm:"column:terminated_by"`
	Capabilities      string  `gorm:"column:capabilities"`
	OwnerKey          string  `gorm:"column:owner_key"`
	CompositionColumns
}

func (missionRow) TableName() string { return "missions" }

func (r missionRow) record() *mission.Record {
	m := &mission.Record{S256: r.S256, Blob: r.Blob, AgentIss: r.AgentIss, AgentSub: r.AgentSub, PersonID: r.PersonID,
		ApprovedAt: time.UnixMilli(r.ApprovedAtMS).UTC(), Terminated: r.State == "terminated",
		ExpiresAt: timeOf(r.ExpiresAt), EndedAt: timeOf(r.TerminatedAt)}
	if r.TerminationReason != nil {
		m.Reason = mission.Reason(*r.TerminationReason)
	}
	if r.TerminatedBy != nil {
		m.EndedBy = *r.TerminatedBy
	}
	_ = json.Unmarshal([]byte(r.Capabilities), &m.Capabilities)
	r.CompositionColumns.into(m)
	return m
}

// timeOf reads an optional Unix-seconds column.
func timeOf(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := time.Unix(*v, 0).UTC()
	return &t
}

// unixOf writes an optional Unix-seconds column.
func unixOf(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	u := t.Unix()
	return &u
}

func missionRecords(rows []missionRow) []*mission.Record {
	out := make([]*mission.Record, len(rows))
	for i, r := range rows {
		out[i] = r.record()
	}
	return out
}

// CreateMission stores a new, active mission; an existing s256 is ErrConflict.
func (s *Store) CreateMission(ctx context.Context, m *mission.Record) error {
	r := missionRow{S256: m.S256, Blob: m.Blob, AgentIss: m.AgentIss, AgentSub: m.AgentSub, PersonID: m.PersonID,
		ApprovedAtMS: m.ApprovedAt.UnixMilli(), ExpiresAt: unixOf(m.ExpiresAt), State: "active",
		Capabilities: mission.MarshalCapabilities(m.Capabilities), OwnerKey: mission.OwnerKey(m.AgentIss, m.AgentSub, m.S256),
		CompositionColumns: compositionOf(m)}
	return wrap("create mission", s.stmt(ctx).Create(&r).Error)
}

// Mission reads a mission by s256, or ErrNotFound.
func (s *Store) Mission(ctx context.Context, s256 string) (*mission.Record, error) {
	return s.readMission(ctx, "read mission", stampByS256, s256)
}

// OwnedMission reads a mission by its owner key (mission.OwnerKey) in one
// probe, or ErrNotFound.
func (s *Store) OwnedMission(ctx context.Context, ownerKey string) (*mission.Record, error) {
	if ra, first := s.readsAhead(ctx); first {
		return s.ownedMissionReadingAhead(ctx, ownerKey, ra)
	}
	return s.readMission(ctx, "read mission", stampByOwnerKey, ownerKey)
}

// PersonMissions lists a person's missions, newest first.
func (s *Store) PersonMissions(ctx context.Context, personID string) ([]*mission.Record, error) {
	var rows []missionRow
	if err := s.stmt(ctx).Where("person_id = ?", personID).Order("approved_at_ms DESC").Find(&rows).Error; err != nil {
		return nil, wrap("list missions", err)
	}
	return missionRecords(rows), nil
}

// AllMissions lists every mission, newest first, at most limit.
func (s *Store) AllMissions(ctx context.Context, limit int) ([]*mission.Record, error) {
	var rows []missionRow
	if err := s.stmt(ctx).Order("approved_at_ms DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, wrap("list missions", err)
	}
	return missionRecords(rows), nil
}

// ActiveMissionsOf lists the s256 of the active missions an agent runs for a person.
func (s *Store) ActiveMissionsOf(ctx context.Context, agentIss, agentSub, personID string) ([]string, error) {
	var ids []string
	err := s.stmt(ctx).Raw(`SELECT s256 FROM missions
		WHERE agent_iss = ? AND agent_sub = ? AND person_id = ? AND state = 'active' ORDER BY s256`,
		agentIss, agentSub, personID).Scan(&ids).Error
	return ids, wrap("list agent missions", err)
}

// TerminateMission ends an active mission and appends entry to its log, in
// one transaction. It reports false (and writes nothing) when the mission
// was not active: a terminated mission never returns to active and keeps
// its first reason.
func (s *Store) TerminateMission(ctx context.Context, s256 string, reason mission.Reason, by string, at time.Time, entry mission.Entry) (bool, error) {
	ended := false
	err := s.InTx(ctx, func(tx *Store) error {
		tx.forgetHeld(s256)
		res := tx.stmt(ctx).Exec(`UPDATE missions SET state = 'terminated', termination_reason = ?,
			terminated_at = ?, terminated_by = ? WHERE s256 = ? AND state = 'active'`, string(reason), at.Unix(), by, s256)
		if res.Error != nil {
			return wrap("terminate mission", res.Error)
		}
		if ended = res.RowsAffected > 0; !ended {
			return nil
		}
		return tx.AppendMissionLog(ctx, s256, entry)
	})
	return ended, err
}

type missionLogRow struct {
	MissionS256 string  `gorm:"column:mission_s256;primaryKey"`
	Seq         int64   `gorm:"column:seq;primaryKey"`
	At          int64   `gorm:"column:at"`
	Kind        string  `gorm:"column:kind"`
	Actor       string  `gorm:"column:actor"`
	Summary     string  `gorm:"column:summary"`
	Body        []byte  `gorm:"column:body"`
	Digest      *string `gorm:"column:digest"`
}

func (missionLogRow) TableName() string { return "mission_log" }

// AppendMissionLog appends e (its At, Kind, Actor, Summary, Body, Digest)
// with the mission's next sequence number. Appends to one mission are
// serialized so MAX(seq)+1 is never taken twice: a SQLite transaction holds
// the write lock from BEGIN (IMMEDIATE), and on PostgreSQL the transaction
// locks the mission's row. (Optimistic retries were not enough: under a
// burst of concurrent appends some kept losing and the entry was dropped.)
// Inside a transaction it appends in that transaction (no savepoint: every
// caller's error ends the transaction), the next number taken by the insert
// itself: one statement (issue 12).
func (s *Store) AppendMissionLog(ctx context.Context, s256 string, e mission.Entry) error {
	if !s.inTx() {
		return s.InTx(ctx, func(tx *Store) error { return tx.AppendMissionLog(ctx, s256, e) })
	}
	db := s.db.WithContext(ctx)
	if s.dialect == DialectPostgres && s.heldMission(s256) == nil {
		var one int
		if err := db.Raw(`SELECT 1 FROM missions WHERE s256 = ? FOR UPDATE`, s256).Scan(&one).Error; err != nil {
			return wrap("append mission log", err)
		}
	}
	var digest *string
	if e.Digest != "" {
		digest = &e.Digest
	}
	return s.writeLater(ctx, "append mission log", func(db *gorm.DB) *gorm.DB {
		return db.Exec(`INSERT INTO mission_log (mission_s256, seq, at, kind, actor, summary, body, digest)
		VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM mission_log WHERE mission_s256 = ?), ?, ?, ?, ?, ?, ?)`,
			s256, s256, e.At.Unix(), e.Kind, e.Actor, e.Summary, e.Body, digest)
	})
}

// MissionLog returns a mission's log in order.
func (s *Store) MissionLog(ctx context.Context, s256 string) ([]mission.Entry, error) {
	var rows []missionLogRow
	if err := s.stmt(ctx).Where("mission_s256 = ?", s256).Order("seq").Find(&rows).Error; err != nil {
		return nil, wrap("read mission log", err)
	}
	out := make([]mission.Entry, len(rows))
	for i, r := range rows {
		out[i] = mission.Entry{Seq: r.Seq, At: time.Unix(r.At, 0).UTC(), Kind: r.Kind, Actor: r.Actor, Summary: r.Summary, Body: r.Body}
		if r.Digest != nil {
			out[i].Digest = *r.Digest
		}
	}
	return out, nil
}
