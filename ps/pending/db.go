package pending

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// row is one pending_requests row (migrations/*/00003_pending.sql). Times
// are unix seconds, except the two polling marks, which are unix
// milliseconds because the slow_down rule works at sub-second precision.
type row struct {
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
	ResultDeliveredAt   *int64  `gorm:"column:result_delivered_at"`
	RetryAfter          int     `gorm:"column:retry_after"`
	LastPollMS          *int64  `gorm:"column:last_poll_ms"`
	LongPollUntilMS     *int64  `gorm:"column:long_poll_until_ms"`
	CreatedAt           int64   `gorm:"column:created_at"`
	UpdatedAt           int64   `gorm:"column:updated_at"`
	ExpiresAt           int64   `gorm:"column:expires_at"`
	Version             int64   `gorm:"column:version"`
}

const selectColumns = `id, kind, stage, requester_scheme, requester_iss, requester_sub, person_id,
	state, requirement, capabilities, payload, callback, code_hash, code_display, code_attempts, code_consumed_at,
	question, question_options, question_asked_at, question_deadline, clarification_rounds, answers,
	result_status, result_body, result_delivered_at, retry_after, last_poll_ms, long_poll_until_ms,
	created_at, updated_at, expires_at, version`

// openStates is the SQL list of non-terminal states.
const openStates = `('pending', 'interacting')`

// dbErr classifies a database error (store.Wrap: no SQL text or values
// ever reach a client); nil stays nil.
func dbErr(op string, err error) error { return store.Wrap(op, err) }

func unixPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.Unix()
	return &v
}

func timePtr(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := time.Unix(*v, 0).UTC()
	return &t
}

func strPtr(s string) *string { return &s }

// toRequest decodes a row. JSON columns were written by this package; a
// column that does not decode is reported as a database error.
func (w *row) toRequest() (*Request, error) {
	r := &Request{
		ID:             w.ID,
		Kind:           w.Kind,
		Stage:          w.Stage,
		Requester:      Requester{Scheme: w.RequesterScheme, Issuer: w.RequesterIss, Subject: w.RequesterSub},
		PersonID:       w.PersonID,
		State:          State(w.State),
		Requirement:    Requirement(w.Requirement),
		Callback:       w.Callback,
		HasCode:        len(w.CodeHash) > 0,
		code:           derefStr(w.CodeDisplay),
		CodeAttempts:   w.CodeAttempts,
		CodeConsumedAt: timePtr(w.CodeConsumedAt),
		Rounds:         w.ClarificationRounds,
		RetryAfter:     w.RetryAfter,
		CreatedAt:      time.Unix(w.CreatedAt, 0).UTC(),
		UpdatedAt:      time.Unix(w.UpdatedAt, 0).UTC(),
		ExpiresAt:      time.Unix(w.ExpiresAt, 0).UTC(),
		Version:        w.Version,
	}
	if !r.State.valid() || !r.Requirement.valid() {
		return nil, dbErr("decode pending request", fmt.Errorf("unknown state %q or requirement %q", w.State, w.Requirement))
	}
	if err := json.Unmarshal([]byte(w.Capabilities), &r.Capabilities); err != nil {
		return nil, dbErr("decode pending request", err)
	}
	if w.Payload != nil {
		r.Payload = json.RawMessage(*w.Payload)
	}
	if w.Question != nil {
		q := &Question{Text: *w.Question}
		if w.QuestionOptions != nil {
			if err := json.Unmarshal([]byte(*w.QuestionOptions), &q.Options); err != nil {
				return nil, dbErr("decode pending request", err)
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
		return nil, dbErr("decode pending request", err)
	}
	if w.ResultStatus != nil {
		r.ResultStatus = *w.ResultStatus
	}
	if w.ResultBody != nil {
		r.ResultBody = json.RawMessage(*w.ResultBody)
	}
	r.ResultDelivered = w.ResultDeliveredAt != nil
	if w.LastPollMS != nil {
		t := time.UnixMilli(*w.LastPollMS).UTC()
		r.LastPollAt = &t
	}
	return r, nil
}

// loaded is a request together with its bookkeeping columns.
type loaded struct {
	*Request
	codeHash        []byte
	lastPollMS      *int64
	longPollUntilMS *int64
}

func (e *Engine) db(ctx context.Context) *gorm.DB { return e.st.DB().WithContext(ctx) }

// load reads one request; (nil, nil) when there is none.
func (e *Engine) load(ctx context.Context, id string) (*loaded, error) {
	if !wellFormedID(id) {
		return nil, nil // cannot exist; and never send arbitrary bytes to the database
	}
	var rows []row
	if err := e.db(ctx).Raw(`SELECT `+selectColumns+` FROM pending_requests WHERE id = ?`, id).Scan(&rows).Error; err != nil {
		return nil, dbErr("load pending request", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	r, err := rows[0].toRequest()
	if err != nil {
		return nil, err
	}
	return &loaded{Request: r, codeHash: rows[0].CodeHash, lastPollMS: rows[0].LastPollMS, longPollUntilMS: rows[0].LongPollUntilMS}, nil
}

// list reads the requests matching a WHERE clause.
func (e *Engine) list(ctx context.Context, op, where string, args ...any) ([]Request, error) {
	var rows []row
	if err := e.db(ctx).Raw(`SELECT `+selectColumns+` FROM pending_requests WHERE `+where, args...).Scan(&rows).Error; err != nil {
		return nil, dbErr(op, err)
	}
	out := make([]Request, 0, len(rows))
	for i := range rows {
		r, err := rows[i].toRequest()
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// mutable holds the encoded columns that a state change may write.
type mutable struct {
	stage, personID, state, requirement, capabilities, callback, answers string
	payload, question, questionOptions, resultBody                       *string
	questionAskedAt, questionDeadline, codeConsumedAt                    *int64
	codeAttempts, rounds, retryAfter                                     int
	resultStatus                                                         *int
}

func encodeMutable(r *Request) (*mutable, error) {
	caps, err := json.Marshal(nonNil(r.Capabilities))
	if err != nil {
		return nil, err
	}
	answers := r.Answers
	if answers == nil {
		answers = []Exchange{}
	}
	ans, err := json.Marshal(answers)
	if err != nil {
		return nil, err
	}
	m := &mutable{
		stage: r.Stage, personID: r.PersonID, state: string(r.State), requirement: string(r.Requirement),
		capabilities: string(caps), callback: r.Callback, answers: string(ans),
		codeAttempts: r.CodeAttempts, rounds: r.Rounds, retryAfter: r.RetryAfter,
		codeConsumedAt: unixPtr(r.CodeConsumedAt),
	}
	if r.Payload != nil {
		m.payload = strPtr(string(r.Payload))
	}
	if q := r.Question; q != nil {
		m.question = strPtr(q.Text)
		if q.Options != nil {
			o, err := json.Marshal(q.Options)
			if err != nil {
				return nil, err
			}
			m.questionOptions = strPtr(string(o))
		}
		m.questionAskedAt = unixPtr(&q.AskedAt)
		m.questionDeadline = unixPtr(&q.Deadline)
	}
	if !r.State.Open() {
		st := r.ResultStatus
		m.resultStatus = &st
		m.resultBody = strPtr(string(r.ResultBody))
	}
	return m, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// insert writes a new request and the hash of its code (nil for none).
func (e *Engine) insert(ctx context.Context, r *Request, hash []byte) error {
	m, err := encodeMutable(r)
	if err != nil {
		return fmt.Errorf("pending: encode request: %w", err)
	}
	err = e.db(ctx).Exec(`INSERT INTO pending_requests (id, kind, stage, requester_scheme, requester_iss,
		requester_sub, person_id, state, requirement, capabilities, payload, callback, code_hash, code_display,
		code_attempts, answers, retry_after, created_at, updated_at, expires_at, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Kind, m.stage, r.Requester.Scheme, r.Requester.Issuer, r.Requester.Subject, m.personID,
		m.state, m.requirement, m.capabilities, m.payload, m.callback, hash, nullIfEmpty(r.code),
		0, m.answers, m.retryAfter, r.CreatedAt.Unix(), r.UpdatedAt.Unix(), r.ExpiresAt.Unix(), r.Version).Error
	return dbErr("create pending request", err)
}

// errVersion means the row changed (or vanished) since it was read.
var errVersion = errors.New("pending: version conflict")

// save writes the mutable columns of r if the row still has version
// r.Version, and bumps the version. Bookkeeping columns (polling marks,
// delivery) are never written here, so a poll cannot lose a state change
// nor a state change a poll mark.
func (e *Engine) save(ctx context.Context, r *Request, now time.Time) error {
	m, err := encodeMutable(r)
	if err != nil {
		return fmt.Errorf("pending: encode request: %w", err)
	}
	res := e.db(ctx).Exec(`UPDATE pending_requests SET stage = ?, person_id = ?, state = ?, requirement = ?,
		capabilities = ?, payload = ?, callback = ?, code_attempts = ?, code_consumed_at = ?,
		code_display = CASE WHEN CAST(? AS BIGINT) IS NULL AND CAST(? AS INTEGER) = 1 THEN code_display ELSE NULL END,
		question = ?, question_options = ?, question_asked_at = ?, question_deadline = ?,
		clarification_rounds = ?, answers = ?, result_status = ?, result_body = ?, retry_after = ?,
		updated_at = ?, version = version + 1
		WHERE id = ? AND version = ?`,
		m.stage, m.personID, m.state, m.requirement, m.capabilities, m.payload, m.callback,
		m.codeAttempts, m.codeConsumedAt, m.codeConsumedAt, boolInt(r.State.Open()), m.question, m.questionOptions, m.questionAskedAt,
		m.questionDeadline, m.rounds, m.answers, m.resultStatus, m.resultBody, m.retryAfter,
		now.Unix(), r.ID, r.Version)
	if res.Error != nil {
		return dbErr("update pending request", res.Error)
	}
	if res.RowsAffected != 1 {
		return errVersion
	}
	r.Version++
	r.UpdatedAt = time.Unix(now.Unix(), 0).UTC()
	return nil
}

// claimDelivery marks the terminal answer delivered; true for exactly one
// caller across every replica.
func (e *Engine) claimDelivery(ctx context.Context, id string, now time.Time) (bool, error) {
	res := e.db(ctx).Exec(`UPDATE pending_requests SET result_delivered_at = ?
		WHERE id = ? AND result_delivered_at IS NULL AND state NOT IN `+openStates, now.Unix(), id)
	if res.Error != nil {
		return false, dbErr("deliver pending result", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// markPolled records when a poll was answered.
func (e *Engine) markPolled(ctx context.Context, id string, now time.Time) error {
	return dbErr("record poll", e.db(ctx).Exec(
		`UPDATE pending_requests SET last_poll_ms = ? WHERE id = ?`, now.UnixMilli(), id).Error)
}

// startLongPoll records an outstanding long-poll until untilMS (the
// latest of the outstanding ones wins).
func (e *Engine) startLongPoll(ctx context.Context, id string, untilMS int64) error {
	return dbErr("record long-poll", e.db(ctx).Exec(
		`UPDATE pending_requests SET long_poll_until_ms = ?
		 WHERE id = ? AND (long_poll_until_ms IS NULL OR long_poll_until_ms < ?)`, untilMS, id, untilMS).Error)
}

// endLongPoll clears the mark if it is still this long-poll's.
func (e *Engine) endLongPoll(ctx context.Context, id string, untilMS int64) error {
	return dbErr("record long-poll", e.db(ctx).Exec(
		`UPDATE pending_requests SET long_poll_until_ms = NULL WHERE id = ? AND long_poll_until_ms = ?`,
		id, untilMS).Error)
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func derefStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
