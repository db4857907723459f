package store

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The Mission composition part of the missions aggregate (migration
// 00017): the Authority Set and anchors beside the blob, the hold, the
// version decisions compare-and-swap on, the state a decision writes
// (checkpoints, grant counters, budgets by lineage, consent memory) and
// the hash-chained evidence.

// CompositionColumns are the missions columns of migration 00017 (exported
// so gorm embeds them in missionRow).
type CompositionColumns struct {
	Version                int64   `gorm:"column:version"`
	AuthoritySet           *string `gorm:"column:authority_set"`
	AuthorityHash          *string `gorm:"column:authority_hash"`
	EffectiveAuthoritySet  *string `gorm:"column:effective_authority_set"`
	EffectiveAuthorityHash *string `gorm:"column:effective_authority_hash"`
	Overlays               string  `gorm:"column:overlays"`
	Proposal               *string `gorm:"column:proposal"`
	ProposalHash           *string `gorm:"column:proposal_hash"`
	ConsentRendering       *string `gorm:"column:consent_rendering"`
	ConsentRenderingHash   *string `gorm:"column:consent_rendering_hash"`
	Template               string  `gorm:"column:template"`
	Standing               bool    `gorm:"column:standing"`
	Supersedes             string  `gorm:"column:supersedes"`
	LineageRoot            string  `gorm:"column:lineage_root"`
	HoldSince              *int64  `gorm:"column:hold_since"`
	HoldUntil              *int64  `gorm:"column:hold_until"`
	HoldByKind             *string `gorm:"column:hold_by_kind"`
	HoldByID               *string `gorm:"column:hold_by_id"`
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optRaw(b json.RawMessage) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

func rawOf(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(*s)
}

func strOf(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// compositionOf is m's composition columns as written at creation.
func compositionOf(m *mission.Record) CompositionColumns {
	c := CompositionColumns{Version: m.Version, Overlays: "[]"}
	if h := m.Hold; h != nil {
		since, until := h.Since.UnixMilli(), h.Until.UnixMilli()
		c.HoldSince, c.HoldUntil, c.HoldByKind, c.HoldByID = &since, &until, &h.ByKind, &h.ByID
	}
	mc := m.Composition
	if mc == nil {
		return c
	}
	c.AuthoritySet, c.AuthorityHash = optRaw(mc.AuthoritySet), optString(mc.AuthorityHash)
	c.EffectiveAuthoritySet, c.EffectiveAuthorityHash = optRaw(mc.EffectiveSet), optString(mc.EffectiveHash)
	if len(mc.Overlays) > 0 {
		c.Overlays = string(mc.Overlays)
	}
	c.Proposal, c.ProposalHash = optRaw(mc.Proposal), optString(mc.ProposalHash)
	c.ConsentRendering, c.ConsentRenderingHash = optRaw(mc.ConsentRendering), optString(mc.ConsentRenderingHash)
	c.Template, c.Standing, c.Supersedes, c.LineageRoot = mc.Template, mc.Standing, mc.Supersedes, mc.LineageRoot
	return c
}

// into fills m's version, hold and composition from the columns.
func (c CompositionColumns) into(m *mission.Record) {
	m.Version = c.Version
	if c.HoldUntil != nil {
		m.Hold = &mission.Hold{Until: time.UnixMilli(*c.HoldUntil).UTC(), ByKind: strOf(c.HoldByKind), ByID: strOf(c.HoldByID)}
		if c.HoldSince != nil {
			m.Hold.Since = time.UnixMilli(*c.HoldSince).UTC()
		}
	}
	if c.AuthoritySet == nil {
		return
	}
	m.Composition = &mission.Composition{
		AuthoritySet: rawOf(c.AuthoritySet), AuthorityHash: strOf(c.AuthorityHash),
		EffectiveSet: rawOf(c.EffectiveAuthoritySet), EffectiveHash: strOf(c.EffectiveAuthorityHash),
		Overlays: json.RawMessage(c.Overlays), Proposal: rawOf(c.Proposal), ProposalHash: strOf(c.ProposalHash),
		ConsentRendering: rawOf(c.ConsentRendering), ConsentRenderingHash: strOf(c.ConsentRenderingHash),
		Template: c.Template, Standing: c.Standing, Supersedes: c.Supersedes, LineageRoot: c.LineageRoot}
}

// LockMission reads a mission for a decision that will write its state:
// on PostgreSQL the row stays locked (FOR UPDATE) until the transaction
// ends, so concurrent decisions on one mission serialize; a SQLite
// transaction already holds the write lock from BEGIN.
func (s *Store) LockMission(ctx context.Context, s256 string) (*mission.Record, error) {
	q := stampByS256
	if s.dialect == DialectPostgres {
		q = stampLocked
	}
	m, err := s.readMission(ctx, "lock mission", q, s256)
	if err != nil {
		return nil, err
	}
	s.hold(m)
	return m, nil
}

// LockSeenMission is LockMission for a caller that has read the mission
// already (seen, read in this request before this transaction, its sets
// with it), with the mission's counters read under the lock
// (MissionCounters, the decision's next read). Under the lock it reads
// only the row's version, state and approval instant, and when they are
// seen's it holds and returns seen rather than reading the row again.
// Every write to a mission row moves its version (the compare-and-swap
// decisions rely on) or ends it, so an equal stamp means an equal row
// (seenmissions.go); anything else is read as LockMission reads it. Each
// mission-bound request read its mission twice, the wide row being 14 %
// of the PS's CPU under load on SQLite (issue 12).
//
// On SQLite the stamp and the counters are one statement: the
// transaction holds the write lock from its BEGIN, so nothing can come
// between them (finding 53). On PostgreSQL the row lock must be taken
// before the statement whose snapshot reads the counters, so they stay
// two statements, sent in one round trip (finding 56).
func (s *Store) LockSeenMission(ctx context.Context, seen *mission.Record) (*mission.Record, authority.Snapshot, error) {
	var m *mission.Record
	var err error
	if t, ok := s.db.Statement.ConnPool.(*pgTx); ok && queueWrites {
		var snap authority.Snapshot
		var counted bool
		if m, snap, counted, err = s.lockSeenBatched(ctx, t, seen); err == nil && counted {
			return m, snap, nil
		}
	} else if s.dialect == DialectPostgres {
		m, err = s.lockSeenRow(ctx, seen)
	} else {
		var snap authority.Snapshot
		var counted bool
		if m, snap, counted, err = s.lockSeenCounted(ctx, seen); err == nil && counted {
			return m, snap, nil
		}
	}
	if err != nil {
		return nil, authority.Snapshot{}, err
	}
	snap, err := s.MissionCounters(ctx, m.S256, m.Lineage())
	return m, snap, err
}

// lockSeenCounted reads the stamp, the counters and the chain head in one
// statement (SQLite) and holds seen when the stamp is seen's (counted).
// Otherwise it reads the row as LockMission does, and the counters read
// with seen's stamp are not the row's to use.
func (s *Store) lockSeenCounted(ctx context.Context, seen *mission.Record) (*mission.Record, authority.Snapshot, bool, error) {
	rows := make([]counterRow, 0, 8) // gorm makes room for 20 in a nil slice (finding 62)
	if err := s.stmt(ctx).Raw(seenStampCountersSQL, seen.S256, seen.S256, seen.S256, seen.S256, seen.Lineage(), seen.S256).
		Scan(&rows).Error; err != nil {
		return nil, authority.Snapshot{}, false, wrap("lock mission", err)
	}
	i := slices.IndexFunc(rows, func(r counterRow) bool { return r.Kind == "stamp" })
	if i < 0 {
		return nil, authority.Snapshot{}, false, &Error{Op: "lock mission", Kind: ErrNotFound}
	}
	stamp := missionStamp{S256: seen.S256, State: rows[i].Key, Version: rows[i].N, ApprovedAtMS: rows[i].AtMS}
	return s.holdSeen(ctx, seen, stamp, rows)
}

// holdSeen holds seen with the counters rows read under the lock when the
// row's stamp is seen's (counted); otherwise it reads the row as
// LockMission reads it and leaves the counters to be read again.
func (s *Store) holdSeen(ctx context.Context, seen *mission.Record, stamp missionStamp, rows []counterRow) (*mission.Record, authority.Snapshot, bool, error) {
	if !stamp.sameRow(seen) {
		m, err := s.LockMission(ctx, seen.S256)
		return m, authority.Snapshot{}, false, err
	}
	m := *seen
	s.hold(&m)
	snap, head := countersFrom(rows, seen.S256)
	s.rememberHead(seen.S256, head)
	return &m, snap, true, nil
}

// lockSeenBatched is lockSeenCounted on PostgreSQL: the row lock and the
// counters with the chain head are two statements, in that order, sent in
// one round trip (finding 56). The counters are read after the lock is
// granted, so they are the mission's as it is held. When the stamp is not
// seen's the row is read as LockMission reads it (counted false).
func (s *Store) lockSeenBatched(ctx context.Context, t *pgTx, seen *mission.Record) (*mission.Record, authority.Snapshot, bool, error) {
	var stamps []missionStamp
	var rows []counterRow
	stampSQL, stampArgs := s.postgresText(seenStampLocked, seen.S256)
	countersSQL, countersArgs := s.postgresText(missionCountersQuery+evidenceHeadBranch,
		seen.S256, seen.S256, seen.S256, seen.Lineage(), seen.S256)
	err := t.readBatch(ctx,
		batchRead{op: "lock mission", sql: stampSQL, args: stampArgs, scan: func(r pgx.Rows) error {
			for r.Next() {
				var st missionStamp
				if err := r.Scan(&st.S256, &st.Version, &st.State, &st.ApprovedAtMS); err != nil {
					return err
				}
				stamps = append(stamps, st)
			}
			return nil
		}},
		batchRead{op: "read mission counters", sql: countersSQL, args: countersArgs, scan: func(r pgx.Rows) error {
			for r.Next() {
				var c counterRow
				if err := r.Scan(&c.Kind, &c.Key, &c.N, &c.AtMS, &c.Consumed, &c.AgentAsserted); err != nil {
					return err
				}
				rows = append(rows, c)
			}
			return nil
		}})
	if err != nil {
		return nil, authority.Snapshot{}, false, err
	}
	if len(stamps) == 0 {
		return nil, authority.Snapshot{}, false, &Error{Op: "lock mission", Kind: ErrNotFound}
	}
	return s.holdSeen(ctx, seen, stamps[0], rows)
}

// postgresText is query with its arguments as gorm sends them to
// PostgreSQL ($n placeholders), for a statement sent in a batch. With
// scalar arguments the text depends on the query alone, so it is built
// once per query (the batched statements run in every decision).
func (s *Store) postgresText(query string, args ...any) (string, []any) {
	cacheable := !slices.ContainsFunc(args, func(a any) bool {
		switch a.(type) {
		case string, int, int64, bool:
			return false
		}
		return true
	})
	if cacheable {
		if text, ok := postgresTexts.Load(query); ok {
			return text.(string), args
		}
	}
	st := s.db.Session(&gorm.Session{DryRun: true, NewDB: true}).Raw(query, args...).Statement
	if cacheable {
		postgresTexts.Store(query, st.SQL.String())
	}
	return st.SQL.String(), st.Vars
}

// postgresTexts holds postgresText's texts by query. Its keys are the
// store's own query texts (constants, and FirstRevoked's one per count of
// tokens), so it stays small.
var postgresTexts sync.Map

// lockSeenRow locks the mission's row (FOR UPDATE) and holds seen when
// the row's stamp is seen's, the row as LockMission reads it otherwise.
func (s *Store) lockSeenRow(ctx context.Context, seen *mission.Record) (*mission.Record, error) {
	var rows []missionStamp
	if err := s.stmt(ctx).Raw(seenStampLocked, seen.S256).Scan(&rows).Error; err != nil {
		return nil, wrap("lock mission", err)
	}
	if len(rows) == 0 {
		return nil, &Error{Op: "lock mission", Kind: ErrNotFound}
	}
	if !rows[0].sameRow(seen) {
		return s.LockMission(ctx, seen.S256)
	}
	m := *seen
	s.hold(&m)
	return &m, nil
}

// seenStampCountersSQL is the stamp LockSeenMission compares,
// missionCountersQuery and evidenceHeadBranch in one statement (SQLite):
// the stamp as kind 'stamp' (state as k, version as n, approval instant
// as at_ms).
const seenStampCountersSQL = `SELECT 'stamp' AS kind, state AS k, version AS n, approved_at_ms AS at_ms,
  FALSE AS consumed, FALSE AS agent_asserted FROM missions WHERE s256 = ?
UNION ALL ` + missionCountersQuery + evidenceHeadBranch

// SetMissionHold sets (hold non-nil) or clears the suspension hold and
// bumps the version, if the mission is active at version; false when it
// was not (ended, or decided on meanwhile).
func (s *Store) SetMissionHold(ctx context.Context, s256 string, version int64, hold *mission.Hold) (bool, error) {
	c := compositionOf(&mission.Record{Hold: hold})
	s.forgetHeld(s256)
	res := s.stmt(ctx).Exec(`UPDATE missions SET hold_since = ?, hold_until = ?, hold_by_kind = ?, hold_by_id = ?,
		version = version + 1 WHERE s256 = ? AND version = ? AND state = 'active'`,
		c.HoldSince, c.HoldUntil, c.HoldByKind, c.HoldByID, s256, version)
	return res.RowsAffected > 0, wrap("set mission hold", res.Error)
}

// SetEffectiveAuthority stores a narrowing: the overlays and the effective
// set they produce, if the mission is at version (and bumps it).
func (s *Store) SetEffectiveAuthority(ctx context.Context, s256 string, version int64, overlays, set json.RawMessage, hash string) (bool, error) {
	s.forgetHeld(s256)
	res := s.stmt(ctx).Exec(`UPDATE missions SET overlays = ?, effective_authority_set = ?, effective_authority_hash = ?,
		version = version + 1 WHERE s256 = ? AND version = ? AND authority_set IS NOT NULL`,
		string(overlays), string(set), hash, s256, version)
	return res.RowsAffected > 0, wrap("set effective authority", res.Error)
}

type checkpointRow struct {
	MissionS256   string `gorm:"column:mission_s256;primaryKey"`
	Checkpoint    string `gorm:"column:checkpoint;primaryKey"`
	RecordedAtMS  int64  `gorm:"column:recorded_at_ms"`
	Consumed      bool   `gorm:"column:consumed"`
	AgentAsserted bool   `gorm:"column:agent_asserted"`
}

func (checkpointRow) TableName() string { return "mission_checkpoints" }

// MissionCounters reads what a decision needs besides the record (design
// §3 "In"): consent memory, recorded checkpoints, grant counters and the
// amounts reserved under lineage. Only those fields of the snapshot are set.
func (s *Store) MissionCounters(ctx context.Context, s256, lineage string) (authority.Snapshot, error) {
	// In a transaction that holds the mission, the same statement reads
	// its chain's head for the decision's evidence (EvidenceLink).
	query, args, withHead := missionCountersQuery, []any{s256, s256, s256, lineage}, s.holds(s256)
	if withHead {
		query, args = query+evidenceHeadBranch, append(args, s256)
	}
	rows := make([]counterRow, 0, 8) // gorm makes room for 20 in a nil slice (finding 62)
	if err := s.stmt(ctx).Raw(query, args...).Scan(&rows).Error; err != nil {
		return authority.Snapshot{}, wrap("read mission counters", err)
	}
	snap, head := countersFrom(rows, s256)
	if withHead {
		s.rememberHead(s256, head)
	}
	return snap, nil
}

// countersFrom is the snapshot of missionCountersQuery's rows, and the
// chain head among them (nil when there is none).
func countersFrom(rows []counterRow, s256 string) (authority.Snapshot, *evidence.Link) {
	snap := authority.Snapshot{Consent: map[string]bool{}, Checkpoints: map[string]authority.CheckpointRecord{},
		Grants: map[string]int64{}, Spent: map[string]int64{}}
	var head *evidence.Link
	for _, r := range rows {
		switch r.Kind {
		case "head":
			head = &evidence.Link{Chain: s256, Seq: r.N, Hash: r.Key}
		case "checkpoint":
			snap.Checkpoints[r.Key] = authority.CheckpointRecord{RecordedAt: time.UnixMilli(r.AtMS).UTC(),
				Consumed: r.Consumed, AgentAsserted: r.AgentAsserted}
		case "consent":
			snap.Consent[r.Key] = true
		case "grant":
			snap.Grants[r.Key] = r.N
		case "budget":
			snap.Spent[r.Key] = r.N
		}
	}
	return snap, head
}

// missionCountersQuery reads a decision's four counters in one statement
// (issue 12: four round trips per decision before), one row per
// checkpoint, consent memory key, grant count and budget, by kind.
const missionCountersQuery = `SELECT 'checkpoint' AS kind, checkpoint AS k, 0 AS n, recorded_at_ms AS at_ms,
  consumed, agent_asserted FROM mission_checkpoints WHERE mission_s256 = ?
UNION ALL SELECT 'consent', memory_key, 0, 0, FALSE, FALSE FROM mission_consent_memory WHERE mission_s256 = ?
UNION ALL SELECT 'grant', entry, granted, 0, FALSE, FALSE FROM mission_grant_counts WHERE mission_s256 = ?
UNION ALL SELECT 'budget', budget_key, spent, 0, FALSE, FALSE FROM mission_budgets WHERE lineage = ?`

// evidenceHeadBranch adds the mission chain's head (hash as k, seq as n)
// to missionCountersQuery.
const evidenceHeadBranch = `
UNION ALL SELECT 'head', h.hash, h.seq, 0, FALSE, FALSE
  FROM (SELECT hash, seq FROM mission_evidence WHERE chain = ? ORDER BY seq DESC LIMIT 1) h`

type counterRow struct {
	Kind          string `gorm:"column:kind"`
	Key           string `gorm:"column:k"`
	N             int64  `gorm:"column:n"`
	AtMS          int64  `gorm:"column:at_ms"`
	Consumed      bool   `gorm:"column:consumed"`
	AgentAsserted bool   `gorm:"column:agent_asserted"`
}

// ApplyMissionEffects commits a decision's effects if the mission is still
// at version (then bumps it); a moved version is ErrConflict and writes
// nothing, so two decisions read from one snapshot never both spend it.
// Effects.Terminate is the caller's (it goes through the termination path).
func (s *Store) ApplyMissionEffects(ctx context.Context, s256, lineage string, version int64, e authority.Effects, at time.Time) error {
	db := s.db.WithContext(ctx)
	res := db.Exec(`UPDATE missions SET version = version + 1 WHERE s256 = ? AND version = ?`, s256, version)
	if res.Error != nil {
		return wrap("apply mission effects", res.Error)
	}
	if res.RowsAffected == 0 {
		return &Error{Op: "apply mission effects", Kind: ErrConflict}
	}
	s.bumpHeld(s256)
	ms := at.UnixMilli()
	for _, k := range e.RememberConsent {
		if err := db.Exec(`INSERT INTO mission_consent_memory (mission_s256, memory_key, at_ms) VALUES (?, ?, ?)
			ON CONFLICT (mission_s256, memory_key) DO NOTHING`, s256, k, ms).Error; err != nil {
			return wrap("remember consent", err)
		}
	}
	for _, c := range e.RecordCheckpoints {
		if err := s.RecordCheckpoint(ctx, s256, c, false, at); err != nil {
			return err
		}
	}
	for _, c := range e.ConsumeCheckpoints {
		if err := db.Exec(`UPDATE mission_checkpoints SET consumed = ? WHERE mission_s256 = ? AND checkpoint = ?`, true, s256, c).Error; err != nil {
			return wrap("consume checkpoint", err)
		}
	}
	for _, entry := range e.CountGrants {
		if err := db.Exec(`INSERT INTO mission_grant_counts (mission_s256, entry, granted) VALUES (?, ?, 1)
			ON CONFLICT (mission_s256, entry) DO UPDATE SET granted = mission_grant_counts.granted + 1`, s256, entry).Error; err != nil {
			return wrap("count grant", err)
		}
	}
	for _, r := range e.Reserve {
		if err := db.Exec(`INSERT INTO mission_budgets (lineage, budget_key, currency, spent) VALUES (?, ?, ?, ?)
			ON CONFLICT (lineage, budget_key) DO UPDATE SET spent = mission_budgets.spent + excluded.spent`,
			lineage, r.Key, r.Currency, r.Amount).Error; err != nil {
			return wrap("reserve budget", err)
		}
	}
	return nil
}

// RecordCheckpoint records (or records again, unconsumed) a checkpoint;
// agentAsserted marks an attestation from the agent's audit record
// (ordering only). A person's record replaces an agent's attestation.
func (s *Store) RecordCheckpoint(ctx context.Context, s256, checkpoint string, agentAsserted bool, at time.Time) error {
	r := checkpointRow{MissionS256: s256, Checkpoint: checkpoint, RecordedAtMS: at.UnixMilli(), AgentAsserted: agentAsserted}
	err := s.stmt(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "mission_s256"}, {Name: "checkpoint"}},
		DoUpdates: clause.AssignmentColumns([]string{"recorded_at_ms", "consumed", "agent_asserted"}),
	}).Create(&r).Error
	return wrap("record checkpoint", err)
}

type evidenceRow struct {
	Chain       string `gorm:"column:chain;primaryKey"`
	Seq         int64  `gorm:"column:seq;primaryKey"`
	MissionS256 string `gorm:"column:mission_s256"`
	Type        string `gorm:"column:type"`
	AtMS        int64  `gorm:"column:at_ms"`
	Record      []byte `gorm:"column:record"`
	Hash        string `gorm:"column:hash"`
}

func (evidenceRow) TableName() string { return "mission_evidence" }

func (r evidenceRow) stored() (evidence.Stored, error) {
	st := evidence.Stored{Canonical: r.Record, Hash: r.Hash}
	if err := json.Unmarshal(r.Record, &st.Record); err != nil {
		return st, wrap("read evidence", err)
	}
	return st, nil
}

// EvidenceHead is the last record of chain, or nil for an empty chain.
// Appends to a chain of one mission serialize on the mission's row (lock
// it first with LockMission on PostgreSQL); the (chain, seq) key refuses
// a fork either way (ErrConflict).
func (s *Store) EvidenceHead(ctx context.Context, chain string) (*evidence.Stored, error) {
	var rows []evidenceRow
	if err := s.stmt(ctx).Where("chain = ?", chain).Order("seq DESC").Limit(1).Find(&rows).Error; err != nil {
		return nil, wrap("read evidence head", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	st, err := rows[0].stored()
	return &st, err
}

// EvidenceLink is the chain, seq and hash of chain's last record, or nil
// for an empty chain: what the next record links to, read without the
// head record itself (issue 12: appending read and decoded it whole).
func (s *Store) EvidenceLink(ctx context.Context, chain string) (*evidence.Link, error) {
	if head, ok := s.heldHead(chain); ok {
		return head, nil
	}
	var rows []evidence.Link
	if err := s.stmt(ctx).Model(&evidenceRow{}).Select("chain", "seq", "hash").Where("chain = ?", chain).
		Order("seq DESC").Limit(1).Find(&rows).Error; err != nil {
		return nil, wrap("read evidence head", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// EvidenceHeadsDue lists mission chains (a chain named by its mission's
// s256) that moved since their last chain_head and whose last chain_head
// is older than before (or that have none), at most limit, the least
// recently active first. It looks only at two kinds of chains (unix ms):
// those with a record other than a chain_head stamped at or after
// movedSince, found through mission_evidence_moved, and those with a
// chain_head stamped from headsSince to before, found through
// mission_evidence_heads (migrations 00035 and 00038). The sweep passes
// its mark as headsSince and the mark plus the signing interval as
// movedSince (lifecycle.SignHeadsDue): its cost follows the activity since
// its last sweep, not the evidence stored nor the last hour's.
func (s *Store) EvidenceHeadsDue(ctx context.Context, before time.Time, headsSince, movedSince int64, limit int) ([]string, error) {
	var ids []string
	err := s.stmt(ctx).Raw(evidenceHeadsDueSQL, movedSince, headsSince, before.UnixMilli(), before.UnixMilli(), limit).Scan(&ids).Error
	return ids, wrap("evidence heads due", err)
}

// evidenceHeadsDueSQL is EvidenceHeadsDue's statement. MATERIALIZED keeps
// its range reads on mission_evidence_moved and mission_evidence_heads:
// without it SQLite (which keeps no statistics) groups by walking the
// primary key, the whole table. The chain_head type is written into the
// text, not bound: SQLite uses a partial index only for a query whose
// terms imply the index's own.
//
// The moved chains are DISTINCT over an expression, the chain joined to
// an empty string: over the column SQLite would take the primary key's
// chain order for DISTINCT and walk the whole table; over the expression
// it reads the time range and keeps each chain once, not a row per record
// (finding 66).
const evidenceHeadsDueSQL = `WITH moved AS MATERIALIZED (
	SELECT DISTINCT chain || '' AS chain FROM mission_evidence WHERE at_ms >= ? AND chain = mission_s256 AND type <> '` + evidence.ChainHead + `'),
aged AS MATERIALIZED (
	SELECT chain FROM mission_evidence WHERE type = '` + evidence.ChainHead + `' AND at_ms >= ? AND at_ms <= ? AND chain = mission_s256),
c AS (SELECT chain FROM moved UNION SELECT chain FROM aged), -- UNION: each chain once
last AS (
	SELECT c.chain, e.type, e.at_ms FROM c
	  JOIN mission_evidence e ON e.chain = c.chain AND e.seq = (SELECT MAX(l.seq) FROM mission_evidence l WHERE l.chain = c.chain))
SELECT last.chain FROM last
 WHERE last.type <> '` + evidence.ChainHead + `'
   AND COALESCE((SELECT MAX(h.at_ms) FROM mission_evidence h
	  WHERE h.mission_s256 = last.chain AND h.type = '` + evidence.ChainHead + `' AND h.chain = last.chain), 0) <= ?
 ORDER BY last.at_ms, last.chain LIMIT ?`

// SweepMark is the mark a housekeeping sweep left (unix ms), 0 before its
// first: what it no longer needs to look at.
func (s *Store) SweepMark(ctx context.Context, sweep string) (int64, error) {
	var marks []int64
	err := s.stmt(ctx).Raw(`SELECT mark_ms FROM housekeeping_marks WHERE name = ?`, sweep).Scan(&marks).Error
	if err != nil || len(marks) == 0 {
		return 0, wrap("read sweep mark", err)
	}
	return marks[0], nil
}

// AdvanceSweepMark moves sweep's mark to ms unless it is there or beyond
// already: replicas sweep side by side, and a mark never moves back.
func (s *Store) AdvanceSweepMark(ctx context.Context, sweep string, ms int64) error {
	return wrap("advance sweep mark", s.stmt(ctx).Exec(`INSERT INTO housekeeping_marks (name, mark_ms) VALUES (?, ?)
	ON CONFLICT (name) DO UPDATE SET mark_ms = excluded.mark_ms WHERE housekeeping_marks.mark_ms < excluded.mark_ms`, sweep, ms).Error)
}

// InsertEvidence writes a record made by evidence.Append for mission s256.
func (s *Store) InsertEvidence(ctx context.Context, s256 string, st evidence.Stored) error {
	at, _ := time.Parse(evidence.TimeFormat, st.Record.At)
	r := evidenceRow{Chain: st.Record.Chain, Seq: st.Record.Seq, MissionS256: s256, Type: st.Record.Type,
		AtMS: at.UnixMilli(), Record: st.Canonical, Hash: st.Hash}
	if err := s.writeLater(ctx, "append evidence", func(db *gorm.DB) *gorm.DB { return db.Create(&r) }); err != nil {
		return err
	}
	s.movedHead(evidence.Link{Chain: r.Chain, Seq: r.Seq, Hash: r.Hash})
	return nil
}

// Evidence returns a chain in order.
func (s *Store) Evidence(ctx context.Context, chain string) ([]evidence.Stored, error) {
	var rows []evidenceRow
	if err := s.stmt(ctx).Where("chain = ?", chain).Order("seq").Find(&rows).Error; err != nil {
		return nil, wrap("read evidence", err)
	}
	return storedOf(rows)
}

// MissionEvidence returns a mission's records of one type (all chains),
// newest first, at most limit: the decisions the mission page lists.
func (s *Store) MissionEvidence(ctx context.Context, s256, typ string, limit int) ([]evidence.Stored, error) {
	var rows []evidenceRow
	if err := s.stmt(ctx).Where("mission_s256 = ? AND type = ?", s256, typ).
		Order("at_ms DESC, seq DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, wrap("read evidence", err)
	}
	return storedOf(rows)
}

func storedOf(rows []evidenceRow) ([]evidence.Stored, error) {
	out := make([]evidence.Stored, len(rows))
	for i, r := range rows {
		st, err := r.stored()
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}
