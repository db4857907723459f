package pending

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// Response is an exact wire answer: the handler copies Header, writes
// Status and then Body (which may be empty). Every Response carries
// Cache-Control: no-store.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Detail texts of the fixed answers.
const (
	goneDetail     = "pending request is no longer available"
	notFoundDetail = "no such pending request"
)

func newHeader() http.Header {
	h := http.Header{}
	h.Set(aauth.HeaderCacheControl, "no-store")
	return h
}

// problemBody is the problem+json document in the one shape every error
// answer uses (aauth.Problem.Body).
func problemBody(p *aauth.Problem) json.RawMessage {
	b, _ := json.Marshal(p.Body()) // cannot fail: strings, numbers and the caller's JSON values
	return b
}

// ProblemResponse renders p (for example one returned by
// Options.OnUpdatedRequest) as a Response, the way the server's renderer
// renders every other problem: problem+json, Retry-After when set, and
// p's own header fields.
func ProblemResponse(p *aauth.Problem) Response {
	h := newHeader()
	h.Set(aauth.HeaderContentType, aauth.ProblemContentType)
	if p.RetryAfter > 0 {
		h.Set(aauth.HeaderRetryAfter, strconv.Itoa(p.RetryAfter))
	}
	for k, vs := range p.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return Response{Status: p.Status, Header: h, Body: problemBody(p)}
}

// NotFound is the answer to an unknown id and to a requester other than
// the original one: the same status, headers and body in both cases, so
// the pending URL is no existence oracle (A-08, PS-149).
func NotFound() Response {
	return ProblemResponse(aauth.NewProblem(http.StatusNotFound, aauth.ErrNotFound, notFoundDetail))
}

// Gone is the answer after the terminal answer was delivered, or after a
// cancel (A-08, PS-152, PS-156).
func Gone() Response {
	return ProblemResponse(aauth.NewProblem(http.StatusGone, aauth.ErrInvalidRequest, goneDetail))
}

func badRequest(detail string) Response {
	return ProblemResponse(aauth.BadRequest(detail))
}

// body202 is the body of a pending answer (P§pending-response,
// P§requirement-clarification).
type body202 struct {
	Status        string   `json:"status"`
	Clarification string   `json:"clarification,omitempty"`
	Timeout       *int     `json:"timeout,omitempty"`
	Options       []string `json:"options,omitempty"`
}

// Respond builds the 202 for an open request (PS-146): Location (absolute,
// on the issuer's origin), Retry-After, Cache-Control: no-store,
// Content-Type: application/json and {"status":"pending"|"interacting"},
// plus AAuth-Requirement (an SF Dictionary):
//   - requirement=interaction;url="…/interact/{id}";code="XXXXX-XXXXX" on
//     every 202 until the person uses the code (PS-150); once it is used
//     (the request is then "interacting") the header is omitted, which the
//     202 makes OPTIONAL;
//   - requirement=approval;
//   - requirement=clarification while a question is outstanding, with the
//     body members clarification, timeout (seconds left) and options.
//
// Respond does not look at the database; use it right after Create, or
// when the originating endpoint answers a still-open request.
func (e *Engine) Respond(r *Request) Response {
	h := newHeader()
	h.Set(aauth.HeaderLocation, e.PendingURL(r.ID))
	h.Set(aauth.HeaderRetryAfter, strconv.Itoa(e.retryAfter(r.EffectiveRequirement())))
	h.Set(aauth.HeaderContentType, "application/json")
	b := body202{Status: string(StatePending)}
	if r.State == StateInteracting {
		b.Status = string(StateInteracting)
	}
	var item httpsfv.Item
	if u, c := e.passed(r); u != "" {
		item = httpsfv.NewItem(httpsfv.Token(RequirementInteraction))
		item.Params.Add("url", u)
		item.Params.Add("code", c)
	} else {
		item = e.requirementItem(r, &b)
	}
	if item.Value != nil {
		d := httpsfv.NewDictionary()
		d.Add("requirement", item)
		if v, err := httpsfv.Marshal(d); err == nil {
			h.Set(aauth.HeaderAAuthRequirement, v)
		}
	}
	body, _ := json.Marshal(b) // cannot fail
	if e.o.Members != nil {
		body = withMembers(body, e.o.Members(r))
	}
	return Response{Status: http.StatusAccepted, Header: h, Body: body}
}

// requirementItem is the PS's own requirement for r's 202 (its
// interaction, approval, or a clarification whose members go in b).
func (e *Engine) requirementItem(r *Request, b *body202) httpsfv.Item {
	var item httpsfv.Item
	switch q := r.EffectiveRequirement(); q {
	case RequirementInteraction:
		if r.code != "" {
			item = httpsfv.NewItem(httpsfv.Token(q))
			item.Params.Add("url", e.InteractionURL(r.ID))
			item.Params.Add("code", r.code)
		}
	case RequirementApproval:
		item = httpsfv.NewItem(httpsfv.Token(q))
	case RequirementClarification:
		item = httpsfv.NewItem(httpsfv.Token(q))
		b.Clarification = r.Question.Text
		end := r.Question.Deadline
		if r.ExpiresAt.Before(end) {
			end = r.ExpiresAt
		}
		left := max(int(math.Ceil(end.Sub(e.now()).Seconds())), 0)
		b.Timeout = &left
		b.Options = r.Question.Options
	}
	return item
}

// passed is the interaction of another party passed to the requester
// (Options.PassedInteraction), "" when none.
func (e *Engine) passed(r *Request) (url, code string) {
	if e.o.PassedInteraction == nil || !r.State.Open() {
		return "", ""
	}
	return e.o.PassedInteraction(r)
}

// withMembers adds the extension members extra to the JSON object body,
// never replacing one it has; body unchanged when extra adds nothing or
// does not encode.
func withMembers(body []byte, extra map[string]any) []byte {
	if len(extra) == 0 {
		return body
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	for k, v := range extra {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// resultResponse is the stored terminal answer.
func resultResponse(r *Request) Response {
	h := newHeader()
	if len(r.ResultBody) > 0 {
		ct := "application/json"
		if r.ResultStatus >= 400 {
			ct = aauth.ProblemContentType
		}
		h.Set(aauth.HeaderContentType, ct)
	}
	var body []byte
	if len(r.ResultBody) > 0 {
		body = append(body, r.ResultBody...)
	}
	return Response{Status: r.ResultStatus, Header: h, Body: body}
}

// isDue reports whether an open request has passed its lifetime or its
// question's deadline.
func isDue(r *Request, now time.Time) bool {
	return r.State.Open() && (!now.Before(r.ExpiresAt) || (r.Question != nil && !now.Before(r.Question.Deadline)))
}

// settle answers a request that needs no further waiting: it expires a due
// request, delivers a terminal answer once (PS-151, PS-152), and answers
// 410 after that or after a cancel. done is false for an open request.
func (e *Engine) settle(ctx context.Context, r *Request) (resp Response, done bool, err error) {
	if isDue(r, e.now()) {
		r, err = e.mutate(ctx, r.ID, func(l *Record, now time.Time) error {
			if !expireIfDue(l.Request, now) {
				return errUnchanged
			}
			return nil
		})
		if errors.Is(err, ErrNotFound) {
			return NotFound(), true, nil
		}
		if err != nil {
			return Response{}, true, err
		}
	}
	if r.State.Open() {
		return Response{}, false, nil
	}
	if r.ResultDelivered || r.State == StateCancelled {
		return Gone(), true, nil
	}
	claimed, err := e.st.ClaimPendingResult(ctx, r.ID, e.now())
	if err != nil {
		return Response{}, true, err
	}
	if !claimed {
		return Gone(), true, nil
	}
	return resultResponse(r), true, nil
}

// access loads id for who; nil (and no error) means "answer NotFound".
func (e *Engine) access(ctx context.Context, id string, who Requester) (*Record, error) {
	l, err := e.load(ctx, id)
	if err != nil || l == nil || !l.Requester.Equal(who) {
		return nil, err
	}
	return l, nil
}

// Poll answers a GET on the pending URL by who, the verified requester
// (E10). wait is the Prefer: wait the agent sent (0 for none).
//
//   - unknown id or another requester: NotFound (identical answers, A-08);
//   - terminal: the stored answer the first time (200 + the endpoint's
//     body, 403 denied, 408 expired, 410 invalid_code, …), Gone after;
//   - past its lifetime, or past an outstanding question's deadline: 408
//     expired (PS-155, PS-179), then Gone;
//   - polled more than 1 s sooner than the advised Retry-After after the
//     previous answered poll, without Prefer: wait and with no long-poll of
//     this request outstanding: 429 slow_down whose Retry-After is the
//     advised interval plus 5 s (PS-153, A-45);
//   - with wait > 0 (capped at Options.MaxWait): answered at once when
//     the request differs from what the last answer showed the requester
//     (see view), otherwise held until it does (a Notifier wake-up, then a
//     re-read) or the wait elapses, then answered like an immediate poll;
//     a 202 then carries Preference-Applied: wait=N (PS-154);
//   - otherwise the 202 of Respond.
//
// The error is non-nil only for database failures (answer 500) and for a
// context cancelled while waiting (the client went away).
func (e *Engine) Poll(ctx context.Context, id string, who Requester, wait time.Duration) (Response, error) {
	l, err := e.access(ctx, id, who)
	if err != nil {
		return Response{}, err
	}
	if l == nil {
		return NotFound(), nil
	}
	if resp, done, err := e.settle(ctx, l.Request); done || err != nil {
		return resp, err
	}
	if wait <= 0 && e.tooSoon(l, e.now()) {
		if err := e.st.RecordPendingPoll(ctx, id, e.now(), ""); err != nil { // nothing new shown
			return Response{}, err
		}
		p := aauth.NewProblem(http.StatusTooManyRequests, aauth.ErrSlowDown,
			"polling faster than Retry-After; increase the interval by 5 seconds")
		p.RetryAfter = e.retryAfter(l.EffectiveRequirement()) + 5
		return ProblemResponse(p), nil
	}
	applied := 0
	r := l.Request
	if wait > 0 {
		wait = min(wait, e.o.MaxWait)
		applied = int(math.Ceil(wait.Seconds()))
		shown := l.DeliveredView
		if shown == "" { // a row from before views were recorded
			shown = view(l.Request)
		}
		if r, err = e.waitChange(ctx, l.Request, shown, wait); err != nil {
			return Response{}, err
		}
		if r == nil {
			return NotFound(), nil
		}
		if resp, done, err := e.settle(ctx, r); done || err != nil {
			return resp, err
		}
	}
	if err := e.st.RecordPendingPoll(ctx, id, e.now(), view(r)); err != nil {
		return Response{}, err
	}
	resp := e.Respond(r)
	if applied > 0 {
		resp.Header.Set(aauth.HeaderPreferenceApplied, "wait="+strconv.Itoa(applied))
	}
	return resp, nil
}

// RespondWait is the answer of the originating endpoint honouring the
// agent's Prefer: wait on the initial request (P§initial-request): it
// holds like a long poll and then answers the terminal result (delivered
// once) or the 202 of Respond, keeping the interaction code r carries.
// With wait ≤ 0 it is Respond(r).
func (e *Engine) RespondWait(ctx context.Context, r *Request, wait time.Duration) (Response, error) {
	if wait <= 0 {
		return e.Respond(r), nil
	}
	wait = min(wait, e.o.MaxWait)
	cur, err := e.waitChange(ctx, r, view(r), wait)
	if err != nil {
		return Response{}, err
	}
	if cur == nil {
		return NotFound(), nil
	}
	if resp, done, err := e.settle(ctx, cur); done || err != nil {
		return resp, err
	}
	cur.code = r.code
	resp := e.Respond(cur)
	resp.Header.Set(aauth.HeaderPreferenceApplied, "wait="+strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	return resp, nil
}

// tooSoon is the slow_down rule.
func (e *Engine) tooSoon(l *Record, now time.Time) bool {
	if l.LastPollMS == nil {
		return false
	}
	nowMS := now.UnixMilli()
	if l.LongPollUntilMS != nil && *l.LongPollUntilMS > nowMS {
		return false
	}
	advisedMS := int64(e.retryAfter(l.EffectiveRequirement())) * 1000
	return nowMS-*l.LastPollMS < advisedMS-1000
}

// view is what an answer about r shows its requester, in short: the
// status, the requirement advertised, whether an interaction code is
// shown and which clarification question is asked; for a terminal request
// its state. A long poll answers at once when the view differs from the
// one the requester was last shown (issue 15 item 7), not only when the
// request changes during the wait. Changes the requester cannot see
// (stage, person, payload) leave the view alone.
func view(r *Request) string {
	if !r.State.Open() {
		return string(r.State)
	}
	v := string(r.State) + "/" + string(r.EffectiveRequirement())
	if r.code != "" {
		v += "/code"
	}
	if r.Question != nil {
		v += "/question-" + strconv.Itoa(r.Rounds)
	}
	return v
}

// waitChange holds until the view of r's request differs from shown (what
// the requester was last told), the wait elapses, or the request's
// lifetime or question deadline passes; it never spins: it sleeps on the
// Notifier and re-reads the row after each wake-up and once at the end.
// It returns the latest row, nil if it vanished.
//
// The long-poll mark (StartPendingLongPoll) is written only after the
// first read found nothing new, so an observer that sees the mark knows
// that only a wake-up (or the end of the wait) ends this poll.
func (e *Engine) waitChange(ctx context.Context, r *Request, shown string, wait time.Duration) (*Request, error) {
	ch, unsubscribe := e.n.Subscribe(r.ID)
	defer unsubscribe()

	now := e.now()
	deadline := r.ExpiresAt
	if r.Question != nil && r.Question.Deadline.Before(deadline) {
		deadline = r.Question.Deadline
	}
	untilMS := now.Add(wait).UnixMilli()
	if left := deadline.Sub(now); left < wait {
		wait = max(left, 0)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()

	// Subscribed first, then read: a change made in between is seen here
	// instead of being lost.
	cur, err := e.load(ctx, r.ID)
	if err != nil || cur == nil {
		return nil, err
	}
	if view(cur.Request) != shown {
		return cur.Request, nil
	}
	// The store sees both statements through even if the agent leaves
	// meanwhile (Store.StartPendingLongPoll), so the mark is always ended.
	if err := e.st.StartPendingLongPoll(ctx, r.ID, untilMS); err != nil {
		return nil, err
	}
	defer func() { _ = e.st.EndPendingLongPoll(ctx, r.ID, untilMS) }()
	for {
		select {
		case <-ch:
			if cur, err = e.load(ctx, r.ID); err != nil || cur == nil {
				return nil, err
			}
			if view(cur.Request) != shown {
				return cur.Request, nil
			}
			continue
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		break
	}
	if cur, err = e.load(ctx, r.ID); err != nil || cur == nil {
		return nil, err
	}
	return cur.Request, nil
}

// Post answers a POST on the pending URL by who (E10, A-09) with the raw
// body. The body must be a JSON object (strict: no duplicate members) with
// an `action`:
//   - clarification_response: a string `clarification_response` (Markdown,
//     ≤ 8 KiB) answering the outstanding question; 400 when no question is
//     outstanding (A-38, PS-176). The answer joins Request.Answers, the
//     question is cleared, and polls return to the previous requirement.
//   - updated_request: only on token requests (Kind auth_token or
//     person_token, else 400, A-12); `resource_token` and `presented_token`
//     must be strings (PS-177) and `justification`, if present, a string;
//     then Options.OnUpdatedRequest verifies the pair and returns the new
//     payload, which replaces Payload (an outstanding question counts as
//     answered).
//   - cancel: as Delete.
//
// Both non-cancel actions answer the 202 of Respond. A missing action is
// inferred only when unambiguous: a `clarification_response` member alone
// means clarification_response, a `resource_token` member alone
// updated_request; otherwise, and for an unknown action, 400
// invalid_request (PS-157). A revocation request takes no POST (400).
// Unknown id or requester: NotFound; terminal: as Poll.
func (e *Engine) Post(ctx context.Context, id string, who Requester, body []byte) (Response, error) {
	l, err := e.access(ctx, id, who)
	if err != nil {
		return Response{}, err
	}
	if l == nil {
		return NotFound(), nil
	}
	if resp, done, err := e.settle(ctx, l.Request); done || err != nil {
		return resp, err
	}
	if l.Kind == aauth.PendingRevocation {
		return badRequest("this pending request takes no POST"), nil
	}
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return badRequest("the body must be a JSON object: " + err.Error()), nil
	}
	action, problem := actionOf(m)
	if problem != "" {
		return badRequest(problem), nil
	}
	switch action {
	case aauth.ActionClarificationResponse:
		return e.postClarification(ctx, l.Request, m)
	case aauth.ActionUpdatedRequest:
		return e.postUpdated(ctx, l.Request, m)
	default: // aauth.ActionCancel
		return e.cancel(ctx, l.Request)
	}
}

// actionOf returns the action, or a 400 detail. The action is never
// guessed from the other members: the draft requires it and a POST
// without it is 400 (P§agent-response-to-clarification, PS-157).
func actionOf(m map[string]any) (string, string) {
	v, present := m["action"]
	if !present {
		return "", "the action member is missing"
	}
	s, ok := v.(string)
	if !ok {
		return "", "the action member must be a string"
	}
	switch s {
	case aauth.ActionClarificationResponse, aauth.ActionUpdatedRequest, aauth.ActionCancel:
		return s, ""
	}
	return "", "unknown action"
}

// closedAnswer answers a POST or DELETE that found the request ended
// meanwhile: it settles it like a poll.
func (e *Engine) closedAnswer(ctx context.Context, id string) (Response, error) {
	l, err := e.load(ctx, id)
	if err != nil {
		return Response{}, err
	}
	if l == nil {
		return NotFound(), nil
	}
	resp, _, err := e.settle(ctx, l.Request)
	return resp, err
}

var errNoQuestion = errors.New("no clarification question is outstanding")

func (e *Engine) postClarification(ctx context.Context, r *Request, m map[string]any) (Response, error) {
	answer, ok := m[aauth.ActionClarificationResponse].(string)
	if !ok {
		return badRequest("clarification_response must be a string"), nil
	}
	if err := checkMarkdown("clarification_response", answer); err != nil {
		return badRequest("clarification_response must be a non-empty string of at most 8 KiB without NUL"), nil
	}
	saved, err := e.mutate(ctx, r.ID, func(l *Record, now time.Time) error {
		switch {
		case !l.State.Open() || isDue(l.Request, now):
			return ErrClosed
		case l.Question == nil:
			return errNoQuestion
		}
		answerQuestion(l.Request, now, aauth.ActionClarificationResponse, answer)
		l.RetryAfter = e.retryAfter(l.EffectiveRequirement())
		return nil
	})
	switch {
	case errors.Is(err, errNoQuestion):
		return badRequest("no clarification question is outstanding"), nil
	case errors.Is(err, ErrClosed):
		return e.closedAnswer(ctx, r.ID)
	case errors.Is(err, ErrNotFound):
		return NotFound(), nil
	case err != nil:
		return Response{}, err
	}
	return e.Respond(saved), nil
}

func answerQuestion(r *Request, now time.Time, action, answer string) {
	if r.Question == nil {
		return
	}
	r.Answers = append(r.Answers, Exchange{
		Question: r.Question.Text, Options: r.Question.Options, AskedAt: r.Question.AskedAt,
		Action: action, Answer: answer, AnsweredAt: time.Unix(now.Unix(), 0).UTC(),
	})
	r.Question = nil
}

func (e *Engine) postUpdated(ctx context.Context, r *Request, m map[string]any) (Response, error) {
	if r.Kind != aauth.PendingAuthToken && r.Kind != aauth.PendingPersonToken {
		return badRequest("updated_request applies only to a pending token request"), nil
	}
	for _, k := range []string{"resource_token", "presented_token"} {
		if s, ok := m[k].(string); !ok || s == "" {
			return badRequest(k + " is required and must be a string"), nil
		}
	}
	justification := ""
	if v, present := m["justification"]; present {
		s, ok := v.(string)
		if !ok || len(s) > MaxMarkdown || !storable(s) {
			return badRequest("justification must be a string of at most 8 KiB without NUL"), nil
		}
		justification = s
	}
	if e.o.OnUpdatedRequest == nil {
		return badRequest("updated_request is not supported for this pending request"), nil
	}
	payload, err := e.o.OnUpdatedRequest(ctx, r.clone(), m)
	if err != nil {
		if p, ok := aauth.AsProblem(err); ok {
			return ProblemResponse(p), nil
		}
		return Response{}, err
	}
	if payload != nil && (!json.Valid(payload) || !utf8.Valid(payload)) {
		return Response{}, errors.New("pending: OnUpdatedRequest returned an invalid JSON payload")
	}
	saved, err := e.mutate(ctx, r.ID, func(l *Record, now time.Time) error {
		if !l.State.Open() || isDue(l.Request, now) {
			return ErrClosed
		}
		l.Payload = append(json.RawMessage(nil), payload...)
		answerQuestion(l.Request, now, aauth.ActionUpdatedRequest, justification)
		l.RetryAfter = e.retryAfter(l.EffectiveRequirement())
		return nil
	})
	switch {
	case errors.Is(err, ErrClosed):
		return e.closedAnswer(ctx, r.ID)
	case errors.Is(err, ErrNotFound):
		return NotFound(), nil
	case err != nil:
		return Response{}, err
	}
	return e.Respond(saved), nil
}

// Delete answers a DELETE on the pending URL by who: the agent withdraws
// the request (P§cancel-request, PS-156). An open request becomes
// cancelled (the web UI tells the person) and the answer is 204; later
// requests get Gone. Unknown id or requester: NotFound; terminal: as Poll.
func (e *Engine) Delete(ctx context.Context, id string, who Requester) (Response, error) {
	l, err := e.access(ctx, id, who)
	if err != nil {
		return Response{}, err
	}
	if l == nil {
		return NotFound(), nil
	}
	if resp, done, err := e.settle(ctx, l.Request); done || err != nil {
		return resp, err
	}
	return e.cancel(ctx, l.Request)
}

func (e *Engine) cancel(ctx context.Context, r *Request) (Response, error) {
	_, err := e.mutate(ctx, r.ID, func(l *Record, now time.Time) error {
		if !l.State.Open() || isDue(l.Request, now) {
			return ErrClosed
		}
		finish(l.Request, now, StateCancelled, http.StatusNoContent, json.RawMessage{})
		return nil
	})
	switch {
	case errors.Is(err, ErrClosed):
		return e.closedAnswer(ctx, r.ID)
	case errors.Is(err, ErrNotFound):
		return NotFound(), nil
	case err != nil:
		return Response{}, err
	}
	if _, err := e.st.ClaimPendingResult(ctx, r.ID, e.now()); err != nil {
		return Response{}, err
	}
	return Response{Status: http.StatusNoContent, Header: newHeader()}, nil
}
