package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// The pending_requests table (migrations 00003, 00007, 00008, 00041): the storage
// of ps/pending, which declares the interface these methods implement
// (pending.Store).

var _ pending.Store = (*Store)(nil)

// pendingRow is one pending_requests row. Times are unix seconds, except
// the two polling marks, which are unix milliseconds because the slow_down
// rule works at sub-second precision.
type pendingRow struct {
	ID                  string  `gorm:"column:id"`
	Kind                string  `gorm:"column:kind"`
	Stage               string  `gorm:"column:stage"`
	RequesterScheme     string  `gorm:"column:requester_scheme"`
	RequesterIss        string  `gorm:"column:requester_iss"`
	RequesterSub        string  `gorm:"column:requester_sub"`
	PersonID            string  `gorm:"column:person_id"`
	State               string  `gorm:"column:state"`
	Requirement         string  `gorm:"column:requirement"`
	Capabilities        string  `gorm:"column:capabilities"`
	Payload             *string `gorm:"column:payload"`
	Callback            string  `gorm:"column:callback"`
	CodeHash            []byte  `gorm:"column:code_hash"`
	CodeDisplay         *string `gorm:"column:code_display"`
	CodeAttempts        int     `gorm:"column:code_attempts"`
	CodeConsumedAt      *int64  `gorm:"column:code_consumed_at"`
	Question            *string `gorm:"column:question"`
	QuestionOptions     *string `gorm:"column:question_options"`
	QuestionAskedAt     *int64  `gorm:"column:question_asked_at"`
	QuestionDeadline    *int64  `gorm:"column:question_deadline"`
	ClarificationRounds int     `gorm:"column:clarification_rounds"`
	Answers             string  `gorm:"column:answers"`
	ResultStatus        *int    `gorm:"column:result_status"`
	ResultBody          *string `gorm:"column:result_body"`
	ResultReason        string  `gorm:"column:result_reason"`
	ResultDeliveredAt   *int64  `gorm:"column:result_delivered_at"`
	RetryAfter          int     `gorm:"column:retry_after"`
	LastPollMS          *int64  `gorm:"column:last_poll_ms"`
	LongPollUntilMS     *int64  `gorm:"column:long_poll_until_ms"`
	CreatedAt           int64   `gorm:"column:created_at"`
	UpdatedAt           int64   `gorm:"column:updated_at"`
	ExpiresAt           int64   `gorm:"column:expires_at"`
	Version             int64   `gorm:"column:version"`
	ClientNet           *string `gorm:"column:client_net"`
	FirstContact        int     `gorm:"column:first_contact"`
	DeliveredView       *string `gorm:"column:delivered_view"`
}

const pendingColumns = `id, kind, stage, requester_scheme, requester_iss, requester_sub, person_id,
	state, requirement, capabilities, payload, callback, code_hash, code_display, code_attempts, code_consumed_at,
	question, question_options, question_asked_at, question_deadline, clarification_rounds, answers,
	result_status, result_body, result_reason, result_delivered_at, retry_after, last_poll_ms, long_poll_until_ms,
	created_at, updated_at, expires_at, version, client_net, first_contact, delivered_view`

// pendingOpen is the SQL list of non-terminal states.
const pendingOpen = `('pending', 'interacting')`

// pendingDecodeFailed reports a row this package cannot have written.
func pendingDecodeFailed(err error) error { return wrap("decode pending request", err) }

// record decodes a row. JSON columns were written by encodePending; a
// column that does not decode is reported as a database error.
func (w *pendingRow) record() (*pending.Record, error) {
	r := pending.Request{
		ID:             w.ID,
		Kind:           w.Kind,
		Stage:          w.Stage,
		Requester:      pending.Requester{Scheme: w.RequesterScheme, Issuer: w.RequesterIss, Subject: w.RequesterSub},
		PersonID:       w.PersonID,
		State:          pending.State(w.State),
		Requirement:    pending.Requirement(w.Requirement),
		Callback:       w.Callback,
		HasCode:        len(w.CodeHash) > 0,
		CodeAttempts:   w.CodeAttempts,
		CodeConsumedAt: pendingTime(w.CodeConsumedAt),
		Rounds:         w.ClarificationRounds,
		RetryAfter:     w.RetryAfter,
		CreatedAt:      time.Unix(w.CreatedAt, 0).UTC(),
		UpdatedAt:      time.Unix(w.UpdatedAt, 0).UTC(),
		ExpiresAt:      time.Unix(w.ExpiresAt, 0).UTC(),
		Version:        w.Version,
	}
	if !r.State.Valid() || !r.Requirement.Valid() {
		return nil, pendingDecodeFailed(fmt.Errorf("unknown state %q or requirement %q", w.State, w.Requirement))
	}
	if err := json.Unmarshal([]byte(w.Capabilities), &r.Capabilities); err != nil {
		return nil, pendingDecodeFailed(err)
	}
	if w.Payload != nil {
		r.Payload = json.RawMessage(*w.Payload)
	}
	if w.Question != nil {
		q := &pending.Question{Text: *w.Question}
		if w.QuestionOptions != nil {
			if err := json.Unmarshal([]byte(*w.QuestionOptions), &q.Options); err != nil {
				return nil, pendingDecodeFailed(err)
			}
		}
		if w.QuestionAskedAt != nil {
			q.AskedAt = time.Unix(*w.QuestionAskedAt, 0).UTC()
		}
		if w.QuestionDeadline != nil {
			q.Deadline = time.Unix(*w.QuestionDeadline, 0).UTC()
		}
		r.Question = q
	}
	if err := json.Unmarshal([]byte(w.Answers), &r.Answers); err != nil {
		return nil, pendingDecodeFailed(err)
	}
	if w.ResultStatus != nil {
		r.ResultStatus = *w.ResultStatus
	}
	if w.ResultBody != nil {
		r.ResultBody = json.RawMessage(*w.ResultBody)
	}
	r.ResultReason = w.ResultReason
	r.ResultDelivered = w.ResultDeliveredAt != nil
	if w.LastPollMS != nil {
		t := time.UnixMilli(*w.LastPollMS).UTC()
		r.LastPollAt = &t
	}
	return &pending.Record{
		Request:         &r,
		CodeHash:        w.CodeHash,
		CodeDisplay:     pendingDeref(w.CodeDisplay),
		LastPollMS:      w.LastPollMS,
		LongPollUntilMS: w.LongPollUntilMS,
		DeliveredView:   pendingDeref(w.DeliveredView),
		ClientNet:       pendingDeref(w.ClientNet),
		FirstContact:    w.FirstContact == 1,
	}, nil
}

// pendingColumnsOf holds the encoded columns that a state change may write.
type pendingColumnsOf struct {
	capabilities, answers                          string
	payload, question, questionOptions, resultBody *string
	questionAskedAt, questionDeadline              *int64
	codeConsumedAt                                 *int64
	resultStatus                                   *int
}

func encodePending(r *pending.Request) (*pendingColumnsOf, error) {
	caps := r.Capabilities
	if caps == nil {
		caps = []string{}
	}
	capsJSON, err := json.Marshal(caps)
	if err != nil {
		return nil, err
	}
	answers := r.Answers
	if answers == nil {
		answers = []pending.Exchange{}
	}
	answersJSON, err := json.Marshal(answers)
	if err != nil {
		return nil, err
	}
	c := &pendingColumnsOf{capabilities: string(capsJSON), answers: string(answersJSON), codeConsumedAt: pendingUnix(r.CodeConsumedAt)}
	if r.Payload != nil {
		c.payload = pendingPtr(string(r.Payload))
	}
	if q := r.Question; q != nil {
		c.question = pendingPtr(q.Text)
		if q.Options != nil {
			o, err := json.Marshal(q.Options)
			if err != nil {
				return nil, err
			}
			c.questionOptions = pendingPtr(string(o))
		}
		c.questionAskedAt = pendingPtr(q.AskedAt.Unix())
		c.questionDeadline = pendingPtr(q.Deadline.Unix())
	}
	if !r.State.Open() {
		c.resultStatus = pendingPtr(r.ResultStatus)
		c.resultBody = pendingPtr(string(r.ResultBody))
	}
	return c, nil
}

// Advisory-lock classes (pg_advisory_xact_lock(class, key)) that serialise
// admissions per agent provider and per client network on PostgreSQL.
// Locks are always taken provider first, then client, so two admissions
// never wait for each other in a cycle. SQLite needs none: its
// transactions take the database write lock at BEGIN (_txlock=immediate).
const (
	lockClassPendingProvider = 0x5053_0001
	lockClassPendingClient   = 0x5053_0002
)

// InsertPendingRequest implements pending.Store.
func (s *Store) InsertPendingRequest(ctx context.Context, rec *pending.Record, q pending.Quota) error {
	c, err := encodePending(rec.Request)
	if err != nil {
		return fmt.Errorf("store: encode pending request: %w", err)
	}
	r := rec.Request
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.lockPendingAdmission(ctx, r.Requester.Issuer, rec.ClientNet); err != nil {
			return err
		}
		if err := tx.checkPendingQuota(ctx, rec, q); err != nil {
			return err
		}
		return wrap("create pending request", tx.stmt(ctx).Exec(`INSERT INTO pending_requests (id, kind, stage,
			requester_scheme, requester_iss, requester_sub, person_id, state, requirement, capabilities, payload, callback,
			code_hash, code_display, code_attempts, code_consumed_at, question, question_options, question_asked_at,
			question_deadline, clarification_rounds, answers, result_status, result_body, retry_after,
			created_at, updated_at, expires_at, version, client_net, first_contact, delivered_view)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Kind, r.Stage, r.Requester.Scheme, r.Requester.Issuer, r.Requester.Subject, r.PersonID,
			string(r.State), string(r.Requirement), c.capabilities, c.payload, r.Callback,
			rec.CodeHash, pendingNullable(rec.CodeDisplay), r.CodeAttempts, c.codeConsumedAt, c.question, c.questionOptions,
			c.questionAskedAt, c.questionDeadline, r.Rounds, c.answers, c.resultStatus, c.resultBody, r.RetryAfter,
			r.CreatedAt.Unix(), r.UpdatedAt.Unix(), r.ExpiresAt.Unix(), r.Version,
			pendingNullable(rec.ClientNet), pendingFlag(rec.FirstContact), pendingNullable(rec.DeliveredView)).Error)
	})
}

func (s *Store) lockPendingAdmission(ctx context.Context, provider, client string) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	db := s.db.WithContext(ctx)
	if err := db.Exec(`SELECT pg_advisory_xact_lock(?, hashtext(?))`, lockClassPendingProvider, provider).Error; err != nil {
		return wrap("lock pending admission", err)
	}
	if client != "" {
		if err := db.Exec(`SELECT pg_advisory_xact_lock(?, hashtext(?))`, lockClassPendingClient, client).Error; err != nil {
			return wrap("lock pending admission", err)
		}
	}
	return nil
}

// pendingCount is the number of rows a bound counts and the earliest time
// one of them leaves the count.
type pendingCount struct {
	N     int64  `gorm:"column:n"`
	Until *int64 `gorm:"column:until"`
}

// checkPendingQuota counts, inside the admission transaction, what each
// bound of q counts, and refuses with the first bound reached.
func (s *Store) checkPendingQuota(ctx context.Context, rec *pending.Record, q pending.Quota) error {
	now := q.Now.Unix()
	who := rec.Requester
	type check struct {
		bound pending.Bound
		limit int
		sql   string
		args  []any
	}
	open := `SELECT COUNT(*) AS n, MIN(expires_at) AS until FROM pending_requests WHERE state IN ` + pendingOpen +
		` AND expires_at > ? AND `
	checks := []check{
		{pending.BoundPerAgent, q.PerAgent, open + `requester_iss = ? AND requester_sub = ? AND requester_scheme = ?`,
			[]any{now, who.Issuer, who.Subject, who.Scheme}},
		{pending.BoundPerProvider, q.PerProvider, open + `requester_iss = ?`, []any{now, who.Issuer}},
	}
	if rec.ClientNet != "" {
		checks = append(checks, check{pending.BoundPerClient, q.PerClient, open + `client_net = ?`, []any{now, rec.ClientNet}})
	}
	if rec.FirstContact {
		// New agents of the provider in the window: an agent already among
		// them is no new contact (its own requests are bounded per agent).
		window := int64(q.FirstContactWindow / time.Second)
		checks = append(checks, check{pending.BoundFirstContacts, q.FirstContacts,
			`SELECT CASE WHEN SUM(CASE WHEN requester_sub = ? THEN 1 ELSE 0 END) > 0 THEN 0
			        ELSE COUNT(DISTINCT requester_sub) END AS n, MIN(created_at) + ` + fmt.Sprint(window) + ` AS until
			 FROM pending_requests WHERE first_contact = 1 AND requester_iss = ? AND created_at > ?`,
			[]any{who.Subject, who.Issuer, now - window}})
	}
	for _, c := range checks {
		if c.limit <= 0 {
			continue
		}
		var got pendingCount
		if err := s.stmt(ctx).Raw(c.sql, c.args...).Scan(&got).Error; err != nil {
			return wrap("count pending requests", err)
		}
		if got.N >= int64(c.limit) {
			retry := q.Now.Add(time.Second)
			if got.Until != nil && *got.Until > now {
				retry = time.Unix(*got.Until, 0).UTC()
			}
			return &pending.QuotaError{Bound: c.bound, RetryAt: retry}
		}
	}
	return nil
}

// PendingRequest implements pending.Store.
func (s *Store) PendingRequest(ctx context.Context, id string) (*pending.Record, error) {
	recs, err := s.pendingRecords(ctx, "load pending request", `id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, &Error{Op: "load pending request", Kind: ErrNotFound}
	}
	return &recs[0], nil
}

// pendingRecords reads the requests matching a WHERE clause.
func (s *Store) pendingRecords(ctx context.Context, op, where string, args ...any) ([]pending.Record, error) {
	var rows []pendingRow
	if err := s.stmt(ctx).Raw(`SELECT `+pendingColumns+` FROM pending_requests WHERE `+where, args...).Scan(&rows).Error; err != nil {
		return nil, wrap(op, err)
	}
	out := make([]pending.Record, 0, len(rows))
	for i := range rows {
		r, err := rows[i].record()
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// OpenPendingRequestsOfPerson implements pending.Store.
func (s *Store) OpenPendingRequestsOfPerson(ctx context.Context, personID string, now time.Time) ([]pending.Record, error) {
	return s.pendingRecords(ctx, "list pending requests of a person",
		`person_id = ? AND state IN `+pendingOpen+` AND expires_at > ? ORDER BY created_at, id`, personID, now.Unix())
}

// OpenPendingRequestsOf implements pending.Store.
func (s *Store) OpenPendingRequestsOf(ctx context.Context, who pending.Requester) ([]pending.Record, error) {
	return s.pendingRecords(ctx, "list pending requests of a requester",
		`requester_scheme = ? AND requester_iss = ? AND requester_sub = ? AND state IN `+pendingOpen+
			` ORDER BY created_at, id`, who.Scheme, who.Issuer, who.Subject)
}

// OpenPendingRequestsOfKind implements pending.Store.
func (s *Store) OpenPendingRequestsOfKind(ctx context.Context, kind string, limit int) ([]pending.Record, error) {
	return s.pendingRecords(ctx, "list pending requests of a kind",
		`kind = ? AND state IN `+pendingOpen+` ORDER BY created_at, id LIMIT ?`, kind, limit)
}

// DuePendingRequests implements pending.Store.
func (s *Store) DuePendingRequests(ctx context.Context, now time.Time) ([]string, error) {
	var ids []string
	err := s.stmt(ctx).Raw(`SELECT id FROM pending_requests WHERE state IN `+pendingOpen+
		` AND (expires_at <= ? OR question_deadline <= ?) ORDER BY expires_at, id`, now.Unix(), now.Unix()).Scan(&ids).Error
	return ids, wrap("list due pending requests", err)
}

// SavePendingRequest implements pending.Store. The display form of the
// interaction code is kept only while the code is unused and the request
// open.
func (s *Store) SavePendingRequest(ctx context.Context, rec *pending.Record, now time.Time) error {
	r := rec.Request
	c, err := encodePending(r)
	if err != nil {
		return fmt.Errorf("store: encode pending request: %w", err)
	}
	res := s.stmt(ctx).Exec(`UPDATE pending_requests SET stage = ?, person_id = ?, state = ?, requirement = ?,
		capabilities = ?, payload = ?, callback = ?, code_attempts = ?, code_consumed_at = ?,
		code_display = CASE WHEN CAST(? AS BIGINT) IS NULL AND CAST(? AS INTEGER) = 1 THEN code_display ELSE NULL END,
		question = ?, question_options = ?, question_asked_at = ?, question_deadline = ?,
		clarification_rounds = ?, answers = ?, result_status = ?, result_body = ?, result_reason = ?, retry_after = ?,
		updated_at = ?, version = version + 1
		WHERE id = ? AND version = ?`,
		r.Stage, r.PersonID, string(r.State), string(r.Requirement), c.capabilities, c.payload, r.Callback,
		r.CodeAttempts, c.codeConsumedAt, c.codeConsumedAt, pendingFlag(r.State.Open()), c.question, c.questionOptions,
		c.questionAskedAt, c.questionDeadline, r.Rounds, c.answers, c.resultStatus, c.resultBody, r.ResultReason, r.RetryAfter,
		now.Unix(), r.ID, r.Version)
	if res.Error != nil {
		return wrap("update pending request", res.Error)
	}
	if res.RowsAffected != 1 {
		return &Error{Op: "update pending request", Kind: ErrConflict}
	}
	r.Version++
	r.UpdatedAt = time.Unix(now.Unix(), 0).UTC()
	if c.codeConsumedAt != nil || !r.State.Open() {
		rec.CodeDisplay = ""
	}
	return nil
}

// ClaimPendingResult implements pending.Store.
func (s *Store) ClaimPendingResult(ctx context.Context, id string, now time.Time) (bool, error) {
	res := s.stmt(ctx).Exec(`UPDATE pending_requests SET result_delivered_at = ?
		WHERE id = ? AND result_delivered_at IS NULL AND state NOT IN `+pendingOpen, now.Unix(), id)
	if res.Error != nil {
		return false, wrap("deliver pending result", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RecordPendingPoll implements pending.Store.
func (s *Store) RecordPendingPoll(ctx context.Context, id string, at time.Time, view string) error {
	return wrap("record poll", s.stmt(ctx).Exec(
		`UPDATE pending_requests SET last_poll_ms = ?, delivered_view = COALESCE(?, delivered_view) WHERE id = ?`,
		at.UnixMilli(), pendingNullable(view), id).Error)
}

// StartPendingLongPoll implements pending.Store (settled).
func (s *Store) StartPendingLongPoll(ctx context.Context, id string, untilMS int64) error {
	ctx, cancel := settled(ctx)
	defer cancel()
	return wrap("record long-poll", s.stmt(ctx).Exec(
		`UPDATE pending_requests SET long_poll_until_ms = ?
		 WHERE id = ? AND (long_poll_until_ms IS NULL OR long_poll_until_ms < ?)`, untilMS, id, untilMS).Error)
}

// EndPendingLongPoll implements pending.Store (settled).
func (s *Store) EndPendingLongPoll(ctx context.Context, id string, untilMS int64) error {
	ctx, cancel := settled(ctx)
	defer cancel()
	return wrap("record long-poll", s.stmt(ctx).Exec(
		`UPDATE pending_requests SET long_poll_until_ms = NULL WHERE id = ? AND long_poll_until_ms = ?`,
		id, untilMS).Error)
}

// PurgePendingRequests implements pending.Store.
func (s *Store) PurgePendingRequests(ctx context.Context, cutoff time.Time) (int, error) {
	db := s.db.WithContext(ctx)
	if err := db.Exec(`UPDATE pending_requests SET payload = NULL
		WHERE state NOT IN ` + pendingOpen + ` AND person_id = '' AND payload IS NOT NULL`).Error; err != nil {
		return 0, wrap("compact ended pending requests", err)
	}
	res := db.Exec(`DELETE FROM pending_requests WHERE expires_at < ?`, cutoff.Unix())
	if res.Error != nil {
		return 0, wrap("purge pending requests", res.Error)
	}
	return int(res.RowsAffected), nil
}

// PendingFootprint is what the pending requests occupy: rows, and bytes in
// their variable-size columns (payload, answers, result, question,
// capabilities, callback). Operators and the load test read it.
func (s *Store) PendingFootprint(ctx context.Context) (rows, bytes int64, err error) {
	size := func(col string) string {
		if s.dialect == DialectPostgres {
			return "COALESCE(OCTET_LENGTH(" + col + "), 0)"
		}
		return "COALESCE(LENGTH(CAST(" + col + " AS BLOB)), 0)"
	}
	var got struct {
		Rows  int64 `gorm:"column:row_count"`
		Bytes int64 `gorm:"column:byte_count"`
	}
	err = s.stmt(ctx).Raw(`SELECT COUNT(*) AS row_count, COALESCE(SUM(` + size("payload") + ` + ` + size("answers") +
		` + ` + size("result_body") + ` + ` + size("question") + ` + ` + size("question_options") + ` + ` +
		size("capabilities") + ` + ` + size("callback") + `), 0) AS byte_count FROM pending_requests`).Scan(&got).Error
	return got.Rows, got.Bytes, wrap("measure pending requests", err)
}

func pendingUnix(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	return pendingPtr(t.Unix())
}

func pendingTime(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := time.Unix(*v, 0).UTC()
	return &t
}

func pendingPtr[T any](v T) *T { return &v }

func pendingNullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func pendingDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func pendingFlag(b bool) int {
	if b {
		return 1
	}
	return 0
}
