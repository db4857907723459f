package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/aauth-ps/aauth-ps/ps/revocation"
)

// RecordRevocation records that the token (iss, jti) is revoked until its
// exp. It is idempotent: recording the same (iss, jti) again keeps the first
// revoked_at and only ever extends exp.
func (s *Store) RecordRevocation(ctx context.Context, iss, jti string, exp, revokedAt time.Time) error {
	if iss == "" || jti == "" {
		return errors.New("store: record revocation: iss and jti are required")
	}
	err := s.stmt(ctx).Exec(
		`INSERT INTO revoked_tokens (iss, jti, exp, revoked_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (iss, jti) DO UPDATE SET exp = excluded.exp
		 WHERE revoked_tokens.exp < excluded.exp`,
		iss, jti, exp.Unix(), revokedAt.Unix()).Error
	return wrap("record revocation", err)
}

const isRevokedSQL = `SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE iss = ? AND jti = ?)`

// IsRevoked reports whether a revocation is recorded for (iss, jti).
func (s *Store) IsRevoked(ctx context.Context, iss, jti string) (bool, error) {
	var ok bool
	err := s.stmt(ctx).Raw(isRevokedSQL, iss, jti).Scan(&ok).Error
	if err != nil {
		return false, wrap("look up revocation", err)
	}
	return ok, nil
}

// FirstRevoked returns the index of the first of tokens (iss, jti pairs)
// a revocation is recorded for, or -1: one statement for the checks an
// issuance makes (issue 12).
func (s *Store) FirstRevoked(ctx context.Context, tokens [][2]string) (int, error) {
	if len(tokens) == 0 {
		return -1, nil
	}
	if set, ok := tokenSetOf(tokens); ok {
		if first, ok := takeAhead(s, ctx, revokedOf, set); ok {
			return first, nil
		}
	}
	var (
		where strings.Builder
		args  = make([]any, 0, 2*len(tokens))
	)
	for i, t := range tokens {
		if i > 0 {
			where.WriteString(" OR ")
		}
		where.WriteString("(iss = ? AND jti = ?)")
		args = append(args, t[0], t[1])
	}
	var found []struct{ Iss, JTI string }
	query := `SELECT iss, jti FROM revoked_tokens WHERE ` + where.String()
	var err error
	if t, ok := s.db.Statement.ConnPool.(*pgTx); ok && t.pending() {
		// With BEGIN or the shared revocation lock ahead of it, in one
		// round trip.
		text, vars := s.postgresText(query, args...)
		err = t.readPastQueue(ctx, batchRead{op: "look up revocations", sql: text, args: vars, scan: func(r pgx.Rows) error {
			for r.Next() {
				var f struct{ Iss, JTI string }
				if err := r.Scan(&f.Iss, &f.JTI); err != nil {
					return err
				}
				found = append(found, f)
			}
			return nil
		}})
	} else {
		err = s.stmt(pastQueue(ctx)).Raw(query, args...).Scan(&found).Error
	}
	if err != nil {
		return -1, wrap("look up revocations", err)
	}
	for i, t := range tokens {
		for _, f := range found {
			if f.Iss == t[0] && f.JTI == t[1] {
				return i, nil
			}
		}
	}
	return -1, nil
}

// The revocation aggregate (migration 00010): the agent tokens the PS
// accepted, the cascades revocations started and their downstream
// deliveries; plus the cascade's reads of the issuance records.

// RememberAgentToken records that the PS accepted agent token (iss, jti)
// carrying sub, until exp (PS-293). Recording it again changes nothing.
func (s *Store) RememberAgentToken(ctx context.Context, iss, jti, sub string, exp time.Time) error {
	err := s.stmt(ctx).Exec(
		`INSERT INTO agent_token_subs (iss, jti, sub, exp) VALUES (?, ?, ?, ?) ON CONFLICT (iss, jti) DO NOTHING`,
		iss, jti, sub, exp.Unix()).Error
	return wrap("remember agent token", err)
}

// AgentTokenSub is the sub an accepted agent token (iss, jti) carried, or
// "" when the PS never accepted it.
func (s *Store) AgentTokenSub(ctx context.Context, iss, jti string) (string, error) {
	var subs []string
	err := s.stmt(ctx).Raw(`SELECT sub FROM agent_token_subs WHERE iss = ? AND jti = ?`, iss, jti).Scan(&subs).Error
	if err != nil || len(subs) == 0 {
		return "", wrap("read agent token sub", err)
	}
	return subs[0], nil
}

// LiveRevocations counts the revocations iss holds that have not expired.
func (s *Store) LiveRevocations(ctx context.Context, iss string, now time.Time) (int64, error) {
	var n int64
	err := s.stmt(ctx).Raw(`SELECT COUNT(*) FROM revoked_tokens WHERE iss = ? AND exp >= ?`, iss, now.Unix()).Scan(&n).Error
	return n, wrap("count revocations", err)
}

// AcceptsRevocationsFrom: an agent provider the operator has not blocked
// (the provider policy admitted it before anything was fetched), or a
// resource this PS issued person tokens for (A-57, docs/decisions.md).
func (s *Store) AcceptsRevocationsFrom(ctx context.Context, id, dwk string) (bool, error) {
	var n int64
	switch dwk {
	case "aauth-agent.json":
		err := s.stmt(ctx).Raw(`SELECT COUNT(*) FROM agent_providers WHERE issuer = ? AND status = 'blocked'`, id).Scan(&n).Error
		return n == 0, wrap("check revocation caller", err)
	case "aauth-resource.json":
		err := s.stmt(ctx).Raw(`SELECT COUNT(*) FROM pairwise_subjects WHERE resource = ?`, id).Scan(&n).Error
		return n > 0, wrap("check revocation caller", err)
	}
	return false, nil
}

type issuedRow struct {
	JTI string `gorm:"column:jti"`
	Aud string `gorm:"column:aud"`
	Exp int64  `gorm:"column:exp"`
}

// issued lists live person and auth tokens matching where (on both
// issuance tables), soonest-expiring last, at most limit.
// issuedSQL lists the live person and auth token records each where
// selects (auth token records alone when personWhere is ""): its
// arguments are now, personWhere's, now, authWhere's, the limit.
func issuedSQL(personWhere, authWhere string) string {
	auth := `SELECT jti, aud, exp FROM auth_token_records WHERE exp >= ? AND ` + authWhere
	if personWhere == "" {
		return auth + ` ORDER BY exp DESC, jti LIMIT ?`
	}
	return `SELECT jti, aud, exp FROM person_token_records WHERE exp >= ? AND ` + personWhere +
		` UNION ALL ` + auth + ` ORDER BY exp DESC, jti LIMIT ?`
}

// The tokens issued from a token: auth tokens it was presented for, and
// person and auth tokens issued on it as an upstream token. The auth
// side is an OR of two indexed equalities: written "? IN (parent_jti,
// upstream_jti)" SQLite read it by exp instead, every live auth token
// record (docs/performance.md, finding 50).
const (
	issuedFromPersonWhere = `upstream_jti = ?`
	issuedFromAuthWhere   = `(parent_jti = ? OR upstream_jti = ?)`
)

// issuedUnderMissionWhere selects a mission's token records (its index
// holds the records that have a mission, migration 00037).
const issuedUnderMissionWhere = `mission_s256 = ?`

// issued runs issuedSQL: personArgs and authArgs are the arguments of
// personWhere and authWhere.
func (s *Store) issued(ctx context.Context, op, personWhere string, personArgs []any, authWhere string, authArgs []any, now time.Time, limit int) ([]revocation.Issued, error) {
	var rows []issuedRow
	q := issuedSQL(personWhere, authWhere)
	var all []any
	if personWhere != "" {
		all = append(append(all, now.Unix()), personArgs...)
	}
	all = append(append(all, now.Unix()), authArgs...)
	all = append(all, limit)
	if err := s.stmt(ctx).Raw(q, all...).Scan(&rows).Error; err != nil {
		return nil, wrap(op, err)
	}
	out := make([]revocation.Issued, len(rows))
	for i, r := range rows {
		out[i] = revocation.Issued{JTI: r.JTI, Aud: r.Aud, Exp: time.Unix(r.Exp, 0).UTC()}
	}
	return out, nil
}

// issuedToAgentWhere selects an agent's token records, by the signer or
// by the sub-agent a parent's token was issued for (partial indexes,
// migration 00044); its arguments are the agent's iss and sub, the person
// twice and the resource twice.
func issuedToAgentWhere(subAgent bool) string {
	who := `agent_sub = ?`
	if subAgent {
		who = `subagent_sub = ?`
	}
	return `agent_iss = ? AND ` + who + ` AND (? = '' OR person_id = ?) AND (? = '' OR aud = ?)`
}

// IssuedToAgent lists the live tokens issued to the agent f names,
// whatever agent token it used, narrowed by f's person, resource and kind.
func (s *Store) IssuedToAgent(ctx context.Context, f revocation.AgentFilter, now time.Time, limit int) ([]revocation.Issued, error) {
	where := issuedToAgentWhere(f.SubAgent)
	personWhere := where
	if f.AuthOnly {
		personWhere = ""
	}
	args := []any{f.AgentIss, f.AgentSub, f.PersonID, f.PersonID, f.Resource, f.Resource}
	return s.issued(ctx, "list tokens issued to an agent", personWhere, args, where, args, now, limit)
}

// IssuedFrom lists the live tokens issued from the token parentJTI: auth
// tokens it was presented for, and person and auth tokens issued on it as
// an upstream token (call chaining, PS-294; upstream_jti is indexed where
// it is set, migration 00037).
func (s *Store) IssuedFrom(ctx context.Context, parentJTI string, now time.Time, limit int) ([]revocation.Issued, error) {
	return s.issued(ctx, "list tokens issued from a token", issuedFromPersonWhere, []any{parentJTI},
		issuedFromAuthWhere, []any{parentJTI, parentJTI}, now, limit)
}

// IssuedUnderMission lists the live person and auth tokens carrying the mission.
func (s *Store) IssuedUnderMission(ctx context.Context, s256 string, now time.Time, limit int) ([]revocation.Issued, error) {
	args := []any{s256}
	return s.issued(ctx, "list tokens of a mission", issuedUnderMissionWhere, args, issuedUnderMissionWhere, args, now, limit)
}

type cascadeRow struct {
	ID        string `gorm:"column:id;primaryKey"`
	Iss       string `gorm:"column:iss"`
	JTI       string `gorm:"column:jti"`
	Exp       int64  `gorm:"column:exp"`
	CreatedAt int64  `gorm:"column:created_at"`
	// Mission: the mission whose lifecycle started it, or "" (00039).
	Mission string `gorm:"column:mission_s256"`
}

func (cascadeRow) TableName() string { return "revocation_cascades" }

// CreateCascade records a cascade (ErrConflict when (iss, jti) has one).
func (s *Store) CreateCascade(ctx context.Context, c revocation.Cascade) error {
	row := cascadeRow{ID: c.ID, Iss: c.Iss, JTI: c.JTI, Exp: c.Exp.Unix(), CreatedAt: c.Created.Unix(), Mission: c.Mission}
	return wrap("create revocation cascade", s.stmt(ctx).Create(&row).Error)
}

func (s *Store) cascadeWhere(ctx context.Context, op, where string, args ...any) (*revocation.Cascade, error) {
	var row cascadeRow
	err := s.stmt(ctx).Where(where, args...).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, wrap(op, err)
	}
	return &revocation.Cascade{ID: row.ID, Iss: row.Iss, JTI: row.JTI, Exp: time.Unix(row.Exp, 0).UTC(),
		Created: time.Unix(row.CreatedAt, 0).UTC(), Mission: row.Mission}, nil
}

// CascadeByToken reads the cascade (iss, jti) started (ErrNotFound when none).
func (s *Store) CascadeByToken(ctx context.Context, iss, jti string) (*revocation.Cascade, error) {
	return s.cascadeWhere(ctx, "read revocation cascade", "iss = ? AND jti = ?", iss, jti)
}

// CascadeByID reads a cascade by id (ErrNotFound when none).
func (s *Store) CascadeByID(ctx context.Context, id string) (*revocation.Cascade, error) {
	return s.cascadeWhere(ctx, "read revocation cascade", "id = ?", id)
}

type deliveryRow struct {
	CascadeID string `gorm:"column:cascade_id;primaryKey"`
	Recipient string `gorm:"column:recipient;primaryKey"`
	TokenJTI  string `gorm:"column:token_jti;primaryKey"`
	TokenExp  int64  `gorm:"column:token_exp"`
	Outcome   string `gorm:"column:outcome"`
	Attempts  int    `gorm:"column:attempts"`
	UpdatedAt int64  `gorm:"column:updated_at"`
	// NextAttemptAt: when a failed (or never finished) delivery is
	// attempted again, nil when it is not (migration 00040).
	NextAttemptAt *int64 `gorm:"column:next_attempt_at"`
	// LeaseUntil: the end of the current attempt's claim, nil when none
	// (migration 00043, ClaimDelivery).
	LeaseUntil *int64 `gorm:"column:lease_until"`
}

func (deliveryRow) TableName() string { return "revocation_deliveries" }

// AddDeliveries queues downstream revocations of a cascade.
func (s *Store) AddDeliveries(ctx context.Context, ds []revocation.Delivery, at time.Time) error {
	if len(ds) == 0 {
		return nil
	}
	rows := make([]deliveryRow, len(ds))
	for i, d := range ds {
		rows[i] = deliveryRow{CascadeID: d.CascadeID, Recipient: d.Recipient, TokenJTI: d.TokenJTI, TokenExp: d.TokenExp.Unix(),
			Outcome: d.Outcome, Attempts: d.Attempts, UpdatedAt: at.Unix(), NextAttemptAt: nextAttempt(d.NextAttempt)}
	}
	return wrap("add revocation deliveries", s.stmt(ctx).CreateInBatches(rows, 200).Error)
}

// Deliveries lists a cascade's deliveries by recipient and token.
func (s *Store) Deliveries(ctx context.Context, cascadeID string) ([]revocation.Delivery, error) {
	var rows []deliveryRow
	if err := s.stmt(ctx).Where("cascade_id = ?", cascadeID).Order("recipient, token_jti").Find(&rows).Error; err != nil {
		return nil, wrap("list revocation deliveries", err)
	}
	return deliveriesOf(rows), nil
}

func deliveriesOf(rows []deliveryRow) []revocation.Delivery {
	out := make([]revocation.Delivery, len(rows))
	for i, r := range rows {
		out[i] = revocation.Delivery{CascadeID: r.CascadeID, Recipient: r.Recipient, TokenJTI: r.TokenJTI,
			TokenExp: time.Unix(r.TokenExp, 0).UTC(), Outcome: r.Outcome, Attempts: r.Attempts, UpdatedAt: time.Unix(r.UpdatedAt, 0).UTC()}
		if r.NextAttemptAt != nil {
			out[i].NextAttempt = time.Unix(*r.NextAttemptAt, 0).UTC()
		}
		if r.LeaseUntil != nil {
			out[i].Lease = time.Unix(*r.LeaseUntil, 0).UTC()
		}
	}
	return out
}

// SetDeliveryOutcome records a delivery's outcome; a terminal one counts
// an attempt. Any retry scheduled is dropped: whoever sets the outcome
// sends (a repeat's re-attempt, PS-291), and a retry's claim no longer
// holds. The attempt's lease ends (ClaimDelivery).
func (s *Store) SetDeliveryOutcome(ctx context.Context, d revocation.Delivery, outcome string, at time.Time) error {
	inc := 1
	if outcome == revocation.OutcomePending {
		inc = 0
	}
	err := s.stmt(ctx).Exec(`UPDATE revocation_deliveries SET outcome = ?, attempts = attempts + ?, updated_at = ?, next_attempt_at = NULL,
		lease_until = NULL, downstream = NULL WHERE cascade_id = ? AND recipient = ? AND token_jti = ?`, outcome, inc, at.Unix(), d.CascadeID, d.Recipient, d.TokenJTI).Error
	return wrap("set revocation delivery outcome", err)
}

// ClaimDelivery claims delivery d (by cascade, recipient and token) for
// one attempt until until (migration 00043), unless it was recorded
// revoked or another sender's lease holds at now: a repeat, a poll or
// another replica then sends nothing (PS-291: one attempt in flight).
// d.Lease, when set, is a lease of the caller's own whose outcome it
// could not record: that one it takes again. A
// delivery with a terminal outcome is set pending again (a repeat's
// re-attempt) and its scheduled retry dropped, as SetDeliveryOutcome did;
// a pending one keeps its fallback retry. It returns the claimed row
// (its attempts as stored), false when it was not claimed. One
// conditional update: the row's lock orders two claimers, and the second
// sees the first's lease.
func (s *Store) ClaimDelivery(ctx context.Context, d revocation.Delivery, now, until time.Time) (revocation.Delivery, bool, error) {
	if !until.After(now) {
		return revocation.Delivery{}, false, errors.New("store: claim a revocation delivery: the lease must end after now")
	}
	// A write returning rows holds the writer turn across its reading.
	ctx, release, err := s.queueWriter(ctx)
	if err != nil {
		return revocation.Delivery{}, false, wrap("claim revocation delivery", err)
	}
	defer release()
	var rows []deliveryRow
	err = s.stmt(ctx).Raw(`UPDATE revocation_deliveries SET lease_until = ?,
		updated_at = CASE WHEN outcome = ? THEN updated_at ELSE ? END,
		next_attempt_at = CASE WHEN outcome = ? THEN next_attempt_at ELSE NULL END,
		outcome = ?
		WHERE cascade_id = ? AND recipient = ? AND token_jti = ? AND outcome <> ?
		AND (lease_until IS NULL OR lease_until <= ? OR lease_until = ?)
		RETURNING cascade_id, recipient, token_jti, token_exp, outcome, attempts, updated_at, next_attempt_at, lease_until`,
		until.Unix(), revocation.OutcomePending, now.Unix(), revocation.OutcomePending, revocation.OutcomePending,
		d.CascadeID, d.Recipient, d.TokenJTI, revocation.OutcomeRevoked, now.Unix(), nextAttempt(d.Lease)).Scan(&rows).Error
	if err != nil || len(rows) != 1 {
		return revocation.Delivery{}, false, wrap("claim revocation delivery", err)
	}
	return deliveriesOf(rows)[0], true, nil
}

// nextAttempt is next_attempt_at for a retry at t (NULL for the zero time).
func nextAttempt(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.Unix()
	return &v
}

// SettleDelivery records a delivery's terminal outcome, counting an
// attempt, and the retry scheduled at retryAt (none when zero), if it is
// still pending; false when it is not (another sender settled it first:
// its outcome, and its evidence, stand). The attempt's lease ends.
func (s *Store) SettleDelivery(ctx context.Context, d revocation.Delivery, outcome string, at, retryAt time.Time) (bool, error) {
	r := s.stmt(ctx).Exec(`UPDATE revocation_deliveries SET outcome = ?, attempts = attempts + 1, updated_at = ?, next_attempt_at = ?,
		lease_until = NULL, downstream = NULL WHERE cascade_id = ? AND recipient = ? AND token_jti = ? AND outcome = ?`, outcome, at.Unix(), nextAttempt(retryAt),
		d.CascadeID, d.Recipient, d.TokenJTI, revocation.OutcomePending)
	if r.Error != nil {
		return false, wrap("settle revocation delivery", r.Error)
	}
	return r.RowsAffected == 1, nil
}

// claimRetriesSQL claims, in one statement, the due retries: deliveries
// that last ended revocation_unavailable, or are still pending (their
// sender is gone: the fallback a cascade the PS started is queued with),
// whose next_attempt_at has come (read through the partial index of
// migration 00040), the earliest first, by moving next_attempt_at to the
// claim's end. Its arguments: the claim's end, now, the limit. A retry
// whose token expired is claimed too: its claimant ends it (EndRetries),
// with its evidence, exactly once. PostgreSQL skips rows another
// replica's claim holds locked, so two replicas never claim one delivery;
// SQLite has one writer.
func claimRetriesSQL(dialect string) string {
	lock := ""
	if dialect == DialectPostgres {
		lock = ` FOR UPDATE SKIP LOCKED`
	}
	return `UPDATE revocation_deliveries SET next_attempt_at = ?
		WHERE (cascade_id, recipient, token_jti) IN (SELECT cascade_id, recipient, token_jti FROM revocation_deliveries
			WHERE next_attempt_at <= ? AND outcome IN ('` + revocation.OutcomeUnavailable + `', '` + revocation.OutcomePending + `')
			ORDER BY next_attempt_at LIMIT ?` + lock + `)
		RETURNING cascade_id, recipient, token_jti, token_exp, outcome, attempts, updated_at, next_attempt_at`
}

// ClaimRetries claims at most limit due retries until until (their
// NextAttempt is until: the claim, which RetriedDelivery and EndRetries
// check) and returns them, those of expired tokens included: the caller
// sends nothing for a dead token but ends its retries.
func (s *Store) ClaimRetries(ctx context.Context, now, until time.Time, limit int) ([]revocation.Delivery, error) {
	if !until.After(now) || limit <= 0 {
		return nil, errors.New("store: claim revocation retries: the claim must end after now and the limit be positive")
	}
	// Most looks find nothing due: a read through the partial index then
	// answers, and no write (on SQLite, no writer turn) is taken each
	// second on every replica.
	var due bool
	err := s.stmt(ctx).Raw(`SELECT EXISTS (SELECT 1 FROM revocation_deliveries WHERE next_attempt_at <= ?)`, now.Unix()).Scan(&due).Error
	if err != nil || !due {
		return nil, wrap("look for due revocation retries", err)
	}
	// A write returning rows holds the writer turn across its reading.
	ctx, release, err := s.queueWriter(ctx)
	if err != nil {
		return nil, wrap("claim revocation retries", err)
	}
	defer release()
	var rows []deliveryRow
	if err := s.stmt(ctx).Raw(claimRetriesSQL(s.dialect), until.Unix(), now.Unix(), limit).Scan(&rows).Error; err != nil {
		return nil, wrap("claim revocation retries", err)
	}
	return deliveriesOf(rows), nil
}

// EndRetries ends the retries of claimed delivery d (d.NextAttempt is the
// claim, d.Outcome the outcome it was claimed with) without an attempt:
// revocation_unavailable, no next attempt, at at; if the claim still
// holds (as RetriedDelivery), else false and nothing changes. The
// delivery is then terminal: no loop of any replica claims it again.
func (s *Store) EndRetries(ctx context.Context, d revocation.Delivery, at time.Time) (bool, error) {
	if d.NextAttempt.IsZero() || (d.Outcome != revocation.OutcomeUnavailable && d.Outcome != revocation.OutcomePending) {
		return false, errors.New("store: end revocation retries: the delivery carries no claim")
	}
	r := s.stmt(ctx).Exec(`UPDATE revocation_deliveries SET outcome = ?, updated_at = ?, next_attempt_at = NULL
		WHERE cascade_id = ? AND recipient = ? AND token_jti = ? AND outcome = ? AND next_attempt_at = ?`,
		revocation.OutcomeUnavailable, at.Unix(), d.CascadeID, d.Recipient, d.TokenJTI, d.Outcome, d.NextAttempt.Unix())
	if r.Error != nil {
		return false, wrap("end revocation retries", r.Error)
	}
	return r.RowsAffected == 1, nil
}

// RetriedDelivery records the outcome of a claimed retry of d (d.NextAttempt
// is the claim, d.Outcome the outcome it was claimed with), counting an
// attempt, and the next retry at retryAt (none when zero), if the claim
// still holds: the delivery still has d.Outcome and nobody claimed, sent
// or settled it since. false when it did not hold (the outcome is not
// recorded).
func (s *Store) RetriedDelivery(ctx context.Context, d revocation.Delivery, outcome string, at, retryAt time.Time) (bool, error) {
	if d.NextAttempt.IsZero() || (d.Outcome != revocation.OutcomeUnavailable && d.Outcome != revocation.OutcomePending) {
		return false, errors.New("store: record a revocation retry: the delivery carries no claim")
	}
	r := s.stmt(ctx).Exec(`UPDATE revocation_deliveries SET outcome = ?, attempts = attempts + 1, updated_at = ?, next_attempt_at = ?,
		downstream = NULL WHERE cascade_id = ? AND recipient = ? AND token_jti = ? AND outcome = ? AND next_attempt_at = ?`,
		outcome, at.Unix(), nextAttempt(retryAt), d.CascadeID, d.Recipient, d.TokenJTI, d.Outcome, d.NextAttempt.Unix())
	if r.Error != nil {
		return false, wrap("record a revocation retry", r.Error)
	}
	return r.RowsAffected == 1, nil
}

// SetDownstream stores an access server's report with delivery d (the
// outcome just stored dropped the previous one's; migration 00044), as
// JSON: the PS reads it back whole, never by its content.
func (s *Store) SetDownstream(ctx context.Context, d revocation.Delivery, ds []revocation.Downstream) error {
	var v *string
	if len(ds) > 0 {
		b, err := json.Marshal(ds)
		if err != nil {
			return err
		}
		text := string(b)
		v = &text
	}
	err := s.stmt(ctx).Exec(`UPDATE revocation_deliveries SET downstream = ? WHERE cascade_id = ? AND recipient = ? AND token_jti = ?`,
		v, d.CascadeID, d.Recipient, d.TokenJTI).Error
	return wrap("store a downstream revocation report", err)
}

// Downstream lists the entries of the reports stored with a cascade's
// deliveries.
func (s *Store) Downstream(ctx context.Context, cascadeID string) ([]revocation.Downstream, error) {
	var raws []string
	err := s.stmt(ctx).Raw(`SELECT downstream FROM revocation_deliveries WHERE cascade_id = ? AND downstream IS NOT NULL
		ORDER BY recipient, token_jti`, cascadeID).Scan(&raws).Error
	if err != nil {
		return nil, wrap("read downstream revocation reports", err)
	}
	var out []revocation.Downstream
	for _, raw := range raws {
		var ds []revocation.Downstream
		if err := json.Unmarshal([]byte(raw), &ds); err != nil {
			return nil, wrap("read downstream revocation reports", err)
		}
		out = append(out, ds...)
	}
	return out, nil
}

// PurgeRevocationState deletes accepted-agent-token records and cascades
// (with their deliveries) whose exp is before t.
func (s *Store) PurgeRevocationState(ctx context.Context, expiredBefore time.Time) (int64, error) {
	n1, err := s.purge(ctx, "purge agent token records", "agent_token_subs", "iss, jti", `exp < ?`, expiredBefore.Unix())
	if err != nil {
		return n1, err
	}
	db := s.db.WithContext(ctx)
	r2 := db.Exec(`DELETE FROM revocation_deliveries WHERE cascade_id IN (SELECT id FROM revocation_cascades WHERE exp < ?)`, expiredBefore.Unix())
	if r2.Error != nil {
		return n1, wrap("purge revocation deliveries", r2.Error)
	}
	r3 := db.Exec(`DELETE FROM revocation_cascades WHERE exp < ?`, expiredBefore.Unix())
	return n1 + r2.RowsAffected + r3.RowsAffected, wrap("purge revocation cascades", r3.Error)
}

// knownProviderSQL holds for the agent provider of column or parameter
// iss the operator decided on (allowed or blocked), or one of whose agents
// a person bound (a binding holding the agent, active or revoked: the
// predicate of index agent_bindings_one_live). A provider only seen is not
// known: a request answered below 400 marks it seen, whoever sent it
// (PS-290, docs/decisions.md).
func knownProviderSQL(iss string) string {
	return `(EXISTS (SELECT 1 FROM agent_providers p WHERE p.issuer = ` + iss + ` AND p.status IN ('allowed', 'blocked'))
		OR EXISTS (SELECT 1 FROM agent_bindings b WHERE b.provider = ` + iss + ` AND b.state IN ('active', 'revoked')))`
}

// KnownProvider: the operator decided on issuer, or a person bound one of
// its agents (knownProviderSQL).
func (s *Store) KnownProvider(ctx context.Context, issuer string) (bool, error) {
	var known bool
	err := s.stmt(ctx).Raw(`SELECT `+knownProviderSQL("?"), issuer, issuer).Scan(&known).Error
	return known, wrap("look up provider", err)
}

// LiveRevocationsFromUnknown counts live revocations whose issuer is not
// a known provider, not a resource this PS issued for, and not except.
func (s *Store) LiveRevocationsFromUnknown(ctx context.Context, except string, now time.Time) (int64, error) {
	var n int64
	err := s.stmt(ctx).Raw(`SELECT COUNT(*) FROM revoked_tokens r WHERE r.exp >= ? AND r.iss <> ?
		AND NOT `+knownProviderSQL("r.iss")+`
		AND NOT EXISTS (SELECT 1 FROM pairwise_subjects ps WHERE ps.resource = r.iss)`, now.Unix(), except).Scan(&n).Error
	return n, wrap("count revocations from unknown issuers", err)
}

// OpenPendingNaming lists the open pending requests of kind whose stored
// payload has member = value (a JSON string), at most limit: the
// candidates a revocation ends (PS-280), which the caller checks exactly
// against the decoded payload. The match is a LIKE on the JSON text as
// encoding/json writes it (no index: the pending table is bounded).
func (s *Store) OpenPendingNaming(ctx context.Context, kind, member, value string, limit int) ([]revocation.PendingRef, error) {
	enc, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	like := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	pattern := "%" + like.Replace(`"`+member+`":`+string(enc)) + "%"
	var rows []struct {
		ID      string  `gorm:"column:id"`
		Payload *string `gorm:"column:payload"`
	}
	err = s.stmt(ctx).Raw(`SELECT id, payload FROM pending_requests WHERE kind = ? AND state IN `+pendingOpen+
		` AND payload LIKE ? ESCAPE '\' ORDER BY created_at, id LIMIT ?`, kind, pattern, limit).Scan(&rows).Error
	if err != nil {
		return nil, wrap("list pending requests naming a token", err)
	}
	out := make([]revocation.PendingRef, 0, len(rows))
	for _, r := range rows {
		if r.Payload != nil {
			out = append(out, revocation.PendingRef{ID: r.ID, Payload: json.RawMessage(*r.Payload)})
		}
	}
	return out, nil
}

// OpenChainedPending lists the open pending requests of the kinds whose
// stored payload carries an upstream token (a chained request, the agent's
// "upstream" member), at most limit: the candidates a cascade ends when it
// revokes their upstream token (PS-280), checked exactly by the caller.
func (s *Store) OpenChainedPending(ctx context.Context, kinds []string, limit int) ([]revocation.PendingRef, error) {
	var rows []struct {
		ID      string  `gorm:"column:id"`
		Payload *string `gorm:"column:payload"`
	}
	err := s.stmt(ctx).Raw(`SELECT id, payload FROM pending_requests WHERE kind IN ? AND state IN `+pendingOpen+
		` AND payload LIKE ? ORDER BY created_at, id LIMIT ?`, kinds, `%"upstream":{%`, limit).Scan(&rows).Error
	if err != nil {
		return nil, wrap("list chained pending requests", err)
	}
	out := make([]revocation.PendingRef, 0, len(rows))
	for _, r := range rows {
		if r.Payload != nil {
			out = append(out, revocation.PendingRef{ID: r.ID, Payload: json.RawMessage(*r.Payload)})
		}
	}
	return out, nil
}
